from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base
from expsvc.models.experiment import STATUS_CHECK


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("experiments.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    participants: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # The sorted union of its capture sessions' sensors, kept by triggers on capture_sessions
    # (migration 0023, docs/adr/0032): no code writes it.
    sensors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    git_sha: Mapped[str | None] = mapped_column(String(64))
    git_branch: Mapped[str | None] = mapped_column(String(256))
    git_repository: Mapped[str | None] = mapped_column(String(1024))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # Liveness limits of this run (None: its experiment's, else the service-wide settings).
    heartbeat_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    max_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        # The lifecycle's times (migration 0022): a started run has started_at, an ended one
        # finished_at (an archived run may never have started). The run list relies on them.
        CheckConstraint(
            "status NOT IN ('running', 'finished', 'failed') OR started_at IS NOT NULL",
            name="started",
        ),
        CheckConstraint(
            "status NOT IN ('finished', 'failed') OR finished_at IS NOT NULL", name="finished"
        ),
        # The times in order (migration 0026, whose trigger puts a late write in order): a run
        # starts no earlier than it was created, ends no earlier than it started. The run list
        # relies on them too (docs/adr/0034).
        CheckConstraint("started_at >= created_at", name="started_in_order"),
        CheckConstraint(
            "finished_at >= coalesce(started_at, created_at)", name="finished_in_order"
        ),
        Index("ix_runs_created_at_id", "created_at", "id"),
        Index("ix_runs_experiment_id_created_at_id", "experiment_id", "created_at", "id"),
        Index("ix_runs_status_created_at_id", "status", "created_at", "id"),
        Index("ix_runs_started_at_id", "started_at", "id"),
        Index("ix_runs_finished_at_id", "finished_at", "id"),
        # Byte-order collation: serves both ORDER BY name and the name-prefix filter (LIKE 'x%').
        Index("ix_runs_name_c_id", text('name COLLATE "C"'), "id"),
        # The head walk's (migration 0024, docs/adr/0033): each admitted status's runs by start
        # or end, one experiment's runs in every order.
        Index("ix_runs_status_started_at_id", "status", "started_at", "id"),
        Index("ix_runs_status_finished_at_id", "status", "finished_at", "id"),
        Index("ix_runs_experiment_id_started_at_id", "experiment_id", "started_at", "id"),
        Index("ix_runs_experiment_id_finished_at_id", "experiment_id", "finished_at", "id"),
        Index("ix_runs_experiment_id_name_c_id", "experiment_id", text('name COLLATE "C"'), "id"),
        Index("ix_runs_tags", "tags", postgresql_using="gin"),
        # The filters' indexes (migration 0014, docs/adr/0018).
        Index("ix_runs_git_sha_c", text('git_sha COLLATE "C"')),
        Index("ix_runs_git_branch_created_at_id", "git_branch", "created_at", "id"),
        Index("ix_runs_created_by_created_at_id", "created_by", "created_at", "id"),
        # A creator's runs in the other orders (migration 0028): the head's equality walk.
        Index("ix_runs_created_by_name_c_id", "created_by", text('name COLLATE "C"'), "id"),
        Index("ix_runs_created_by_started_at_id", "created_by", "started_at", "id"),
        Index("ix_runs_created_by_finished_at_id", "created_by", "finished_at", "id"),
        Index("ix_runs_participants", "participants", postgresql_using="gin"),
        Index("ix_runs_sensors", "sensors", postgresql_using="gin"),  # migration 0023
        Index("ix_runs_params", "params", postgresql_using="gin"),
        Index(
            "ix_runs_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        # The reaper's scan of running runs; not on last_heartbeat_at, so heartbeats stay HOT.
        Index(
            "ix_runs_running_started_at",
            "started_at",
            postgresql_where=text("status = 'running'"),
        ),
    )


runs = cast(Table, Run.__table__)


# Every distinct set of tags a run has had, each at least once, kept by triggers on runs
# (migration 0027, docs/adr/0036): no code writes it. A list whose tag conditions no set meets
# selects no run. A row of NULL tags: the sets are not kept (0027 rolled back), any set may be.
# Hash-indexed: a btree entry could not hold a run's 64 tags of 64 characters.
run_tag_sets = Table(
    "run_tag_sets",
    Base.metadata,
    Column("tags", ARRAY(Text)),
    Index("ix_run_tag_sets_tags", "tags", postgresql_using="hash"),
)
