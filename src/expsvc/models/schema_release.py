from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import String, Table, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base


class SchemaRelease(Base):
    """A schema head a release migrated the database to, and the oldest release whose code still
    runs on it: how older code learns whether a newer schema supports it (docs/adr/0017)."""

    __tablename__ = "schema_releases"

    # Alembic's own alembic_version.version_num is varchar(32).
    revision: Mapped[str] = mapped_column(String(32), primary_key=True)
    release: Mapped[str] = mapped_column(String(64))
    oldest_compatible_release: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


schema_releases = cast(Table, SchemaRelease.__table__)
