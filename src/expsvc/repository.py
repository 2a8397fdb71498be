"""The base of every entity repository: the only place (with its subclasses) that builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Row, Select, Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.pagination import Ordering


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
        only_in: Collection[str] | None = None,
    ) -> Row[Any] | None:
        """Apply ``values`` and bump the version, if the row is at one of ``versions`` and in
        one of the statuses ``only_in`` (either unchecked when None); the new row or None."""
        table = self.table
        query = (
            update(table)
            .where(table.c.id == entity_id)
            .values(**values, version=table.c.version + 1, updated_at=func.now())
            .returning(table)
        )
        if versions is not None:
            query = query.where(table.c.version.in_(versions))
        if only_in is not None:
            query = query.where(table.c.status.in_(list(only_in)))
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    def sort_column(self, name: str) -> ColumnElement[Any]:
        column: ColumnElement[Any] = self.table.c[name]
        return column

    async def fetch_page(
        self,
        query: Select[Any],
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        column = self.sort_column(ordering.column)
        id_column = self.table.c.id
        if after is not None:
            nullable = bool(self.table.c[ordering.column].nullable)
            query = query.where(_keyset_after(column, id_column, after, ordering, nullable))
        if ordering.descending:
            query = query.order_by(column.desc(), id_column.desc())
        else:
            query = query.order_by(column.asc(), id_column.asc())
        result = await self.session.execute(query.limit(limit))
        rows: Sequence[Row[Any]] = result.all()
        return rows


def _keyset_after(
    column: Any, id_column: Any, after: tuple[Any, uuid.UUID], ordering: Ordering, nullable: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``after`` in ORDER BY column, id (NULL counts as the largest)."""
    value, last_id = after
    if ordering.descending:
        if value is None:  # NULLs came first; then come the rest of the NULLs and every value
            return or_(and_(column.is_(None), id_column < last_id), column.is_not(None))
        return or_(column < value, and_(column == value, id_column < last_id))
    if value is None:  # ascending: NULLs are last
        return and_(column.is_(None), id_column > last_id)
    condition = or_(column > value, and_(column == value, id_column > last_id))
    return or_(condition, column.is_(None)) if nullable else condition
