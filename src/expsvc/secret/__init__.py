"""Secrets at rest: Fernet keys from settings, the sealing box, and their rotation.

See ``docs/adr/0011-secrets-at-rest.md``.
"""
