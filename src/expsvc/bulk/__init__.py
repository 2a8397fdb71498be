"""Bulk operations on runs and experiments: many entities per request, one batch id."""
