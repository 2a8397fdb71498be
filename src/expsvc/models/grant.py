from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Table, func
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base

GRANT_ROLES = ("owner", "editor", "viewer")


class ExperimentGrant(Base):
    """A role on one experiment (and its runs and captures) for a principal or a group.

    ``grantee`` is ``principal:<id>`` or ``group:<name>`` in one column, so "may the caller
    read this" is one ``grantee = ANY(:the caller's grantees)`` probe of the primary key, and
    "which experiments may the caller read" one range of ``ix_experiment_grants_grantee``.
    """

    __tablename__ = "experiment_grants"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    grantee: Mapped[str] = mapped_column(String(300), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(256))
    granted_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("role IN ('owner', 'editor', 'viewer')", name="role"),
        CheckConstraint("grantee LIKE 'principal:%' OR grantee LIKE 'group:%'", name="grantee"),
        Index("ix_experiment_grants_grantee", "grantee", "experiment_id"),
    )


experiment_grants = cast(Table, ExperimentGrant.__table__)
