"""Statuses shared by Experiments, Runs and CaptureSessions."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    draft = "draft"
    running = "running"
    finished = "finished"
    failed = "failed"
    archived = "archived"
