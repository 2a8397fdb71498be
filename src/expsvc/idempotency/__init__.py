"""Idempotent POSTs (``Idempotency-Key``): claim, replay and purge of stored responses.

See ``docs/adr/0005-idempotency-keys.md`` for the semantics and why they were chosen.
"""
