"""Every drill, in the order the runner runs them."""

from __future__ import annotations

import importlib

from bench.drills.harness import Drill

MODULES = (
    "database_down",
    "failover",
    "replica_down",
    "replica_lagging",
    "restore",
    "migration_rollback",
    "outbox_lag",
    "redis_down",
    "webhook_failing",
    "long_transaction",
)


def drills() -> dict[str, Drill]:
    found: dict[str, Drill] = {}
    for module in MODULES:
        drill: Drill = importlib.import_module(f"bench.drills.{module}").DRILL
        found[drill.name] = drill
    return found
