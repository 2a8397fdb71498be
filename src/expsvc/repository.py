"""The base of every entity repository: the only place (with its subclasses) that builds SQL."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
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
        result = await self.session.execute(_by_id(self.table, None), {"id": entity_id})
        row: Row[Any] | None = result.one_or_none()
        return row

    async def lock(self, entity_id: uuid.UUID, *, shared: bool = False) -> Row[Any] | None:
        """Read the row and lock it until the transaction ends (``FOR SHARE`` when ``shared``)."""
        query = _by_id(self.table, "share" if shared else "no key update")
        row: Row[Any] | None = (await self.session.execute(query, {"id": entity_id})).one_or_none()
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

    async def lock_many(
        self, ids: Sequence[uuid.UUID], columns: Sequence[str] = ()
    ) -> dict[uuid.UUID, Row[Any]]:
        """Lock the rows of ``ids`` that exist, in id order, and read ``columns`` (all if none).

        Every bulk operation takes its row locks in id order, so two of them never deadlock,
        and a single-entity action (one row) waits for a bulk one or the other way round.
        """
        table = self.table
        selected = [table.c[name] for name in ("id", *columns)] if columns else [table]
        query = (
            select(*selected)
            .where(table.c.id == any_(id_array(ids)))
            .order_by(table.c.id)
            .with_for_update(key_share=True)
        )
        return {row.id: row for row in (await self.session.execute(query)).all()}

    async def update_many(self, ids: Sequence[uuid.UUID], values: dict[str, Any]) -> list[Row[Any]]:
        """Apply ``values`` to the (already locked) rows of ``ids``; the new rows in id order."""
        table = self.table
        query = (
            update(table)
            .where(table.c.id == any_(id_array(ids)))
            .values(**values, version=table.c.version + 1, updated_at=func.now())
            .returning(table)
        )
        rows = (await self.session.execute(query)).all()
        return sorted(rows, key=lambda row: row.id)

    async def set_tags(self, tags: dict[uuid.UUID, list[str]]) -> list[Row[Any]]:
        """Give each (already locked) row its own new tag list; the new rows in id order."""
        table = self.table
        source = (
            func.unnest(
                id_array(list(tags)), text_array([orjson.dumps(t).decode() for t in tags.values()])
            )
            .table_valued("id", "tags")
            .render_derived()
        )
        elements = (
            func.jsonb_array_elements_text(cast(source.c.tags, JSONB))
            .table_valued("tag", with_ordinality="n")
            .render_derived()
        )
        new_tags = func.array(
            select(elements.c.tag).order_by(elements.c.n).correlate(source).scalar_subquery()
        )
        query = (
            update(table)
            .where(table.c.id == source.c.id)
            .values(tags=new_tags, version=table.c.version + 1, updated_at=func.now())
            .returning(table)
        )
        rows = (await self.session.execute(query)).all()
        return sorted(rows, key=lambda row: row.id)

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


@functools.cache
def _by_id(table: Table, lock: str | None) -> Select[Any]:
    """``SELECT * … WHERE id = :id`` [FOR SHARE | FOR NO KEY UPDATE], built once per table:
    a statement object reused across requests also reuses its cache key."""
    query = select(table).where(table.c.id == bindparam("id"))
    if lock is not None:
        query = query.with_for_update(read=lock == "share", key_share=lock != "share")
    return query


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


def id_array(ids: Sequence[uuid.UUID]) -> Any:
    """``ids`` as one ``uuid[]`` parameter (``= ANY(...)``), not one parameter per id."""
    return bindparam("ids", list(ids), type_=_PlainArray(UUID(as_uuid=True)), unique=True)


def text_array(values: Sequence[str | None]) -> Any:
    return bindparam("texts", list(values), type_=_PlainArray(Text()), unique=True)


class _PlainArray(ARRAY[Any]):
    """An array parameter handed to asyncpg as the list it is: ARRAY's own bind processing
    visits every element in Python, a tenth of a second per 10,000-row insert."""

    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def json_text(value: Any) -> str:
    """JSON text for a JSONB value: orjson, or the stdlib for what orjson cannot encode."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which JSONB can hold
        return json.dumps(value, default=str)
