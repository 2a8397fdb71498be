"""Base backups, WAL archiving and point-in-time restore (docs/adr/0024, docs/runbook.md)."""
