"""Demo data: set-based inserts, so large data sets take seconds, not hours."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from expsvc.db import create_engine
from expsvc.ids import new_id
from expsvc.lifecycle import Status
from expsvc.models import experiments as experiments_table
from expsvc.settings import Settings

_TOPICS = ("resnet", "bert", "gpt", "vit", "xgboost", "lstm", "diffusion", "whisper")
_TAGS = ("baseline", "ablation", "prod", "nightly", "gpu", "cpu", "sweep", "v2")
_PEOPLE = ("alice", "bob", "carol", "dave", "erin")


def experiment_rows(count: int, rng: random.Random) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for index in range(count):
        status = rng.choice(list(Status))
        created = now - timedelta(minutes=rng.randint(60, 60 * 24 * 90))
        started = created + timedelta(minutes=5) if status != Status.draft else None
        ended = status in (Status.finished, Status.failed, Status.archived)
        rows.append(
            {
                "id": new_id(),
                "name": f"{rng.choice(_TOPICS)}-{index:05d}",
                "description": "seeded demo experiment",
                "status": status.value,
                "tags": sorted(rng.sample(_TAGS, rng.randint(0, 3))),
                "params": {"lr": round(rng.uniform(1e-5, 1e-2), 6), "batch": rng.choice([32, 64])},
                "participants": sorted(rng.sample(_PEOPLE, rng.randint(1, 3))),
                "created_by": rng.choice(_PEOPLE),
                "created_at": created,
                "updated_at": created,
                "started_at": started,
                "finished_at": created + timedelta(hours=2) if ended else None,
                "archived_at": created + timedelta(days=1) if status == Status.archived else None,
            }
        )
    return rows


async def seed_demo_data(settings: Settings, url: str, experiments: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    engine = create_engine(settings, url)
    try:
        async with engine.begin() as connection:
            rows = experiment_rows(experiments, rng)
            if rows:
                await connection.execute(insert(experiments_table), rows)
    finally:
        await engine.dispose()
    return experiments
