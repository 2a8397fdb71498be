"""Releases: the releases file, the schema_releases records and the schema compatibility that
readiness and ``expsvc db current`` report (docs/adr/0017)."""
