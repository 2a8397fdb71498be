"""The base of every entity repository: the only place (with its subclasses) that builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Row, Select, Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Ordering:
    """ORDER BY ``column`` (then ``id``), ascending or descending.

    NULLs sort as PostgreSQL's defaults do (after everything ascending, before everything
    descending), i.e. a NULL is larger than any value; keyset conditions follow the same rule.
    """

    column: str
    descending: bool = True

    @property
    def token_name(self) -> str:
        return f"{self.column}:{'desc' if self.descending else 'asc'}"


class EntityRepository:
    table: ClassVar[Table]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> Row[Any]:
        result = await self.session.execute(
            insert(self.table).values(**values).returning(self.table)
        )
        row: Row[Any] = result.one()
        return row

    async def get(self, entity_id: uuid.UUID) -> Row[Any] | None:
        result = await self.session.execute(select(self.table).where(self.table.c.id == entity_id))
        row: Row[Any] | None = result.one_or_none()
        return row

    async def lock(self, entity_id: uuid.UUID, *, shared: bool = False) -> Row[Any] | None:
        """Read the row and lock it until the transaction ends (``FOR SHARE`` when ``shared``)."""
        query = select(self.table).where(self.table.c.id == entity_id)
        query = query.with_for_update(read=shared, key_share=not shared)
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def update(
        self,
        entity_id: uuid.UUID,
        values: dict[str, Any],
        versions: frozenset[int] | None = None,
    ) -> Row[Any] | None:
        """Apply ``values``, bump the version; only if the row is at one of ``versions``."""
        table = self.table
        query = (
            update(table)
            .where(table.c.id == entity_id)
            .values(**values, version=table.c.version + 1, updated_at=func.now())
            .returning(table)
        )
        if versions is not None:
            query = query.where(table.c.version.in_(versions))
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def fetch_page(
        self,
        query: Select[Any],
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        column = self.table.c[ordering.column]
        id_column = self.table.c.id
        if after is not None:
            query = query.where(_keyset_after(column, id_column, after, ordering, self.table))
        if ordering.descending:
            query = query.order_by(column.desc(), id_column.desc())
        else:
            query = query.order_by(column.asc(), id_column.asc())
        result = await self.session.execute(query.limit(limit))
        return result.all()


def _keyset_after(
    column: Any, id_column: Any, after: tuple[Any, uuid.UUID], ordering: Ordering, table: Table
) -> ColumnElement[bool]:
    value, last_id = after
    nullable = table.c[ordering.column].nullable
    if ordering.descending:
        if value is None:  # NULLs came first; then come the rest of the NULLs and every value
            return or_(and_(column.is_(None), id_column < last_id), column.is_not(None))
        return or_(column < value, and_(column == value, id_column < last_id))
    if value is None:  # ascending: NULLs are last
        return and_(column.is_(None), id_column > last_id)
    condition = or_(column > value, and_(column == value, id_column > last_id))
    return or_(condition, column.is_(None)) if nullable else condition
