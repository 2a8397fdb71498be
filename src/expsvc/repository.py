"""The base of every entity repository: the only place (with its subclasses) that builds SQL."""

from __future__ import annotations

import functools
import json
import uuid
from collections import namedtuple
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    TextualSelect,
    Uuid,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncResult, AsyncSession
from sqlalchemy.types import NullType

from expsvc.auth.access import Role, access_parameters, may, may_sql
from expsvc.auth.principal import Principal
from expsvc.driver import fetch_rows
from expsvc.lifecycle import Status, timestamp_column
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

    async def get_readable(self, entity_id: uuid.UUID, principal: Principal) -> Row[Any] | None:
        """The row if it exists and ``principal`` may read it (one statement: the grant check
        rides in it); None either way otherwise, which callers answer as 404."""
        parameters = {"id": entity_id, **access_parameters(principal)}
        rows = await fetch_rows(self.session, _readable_by_id(type(self)), parameters)
        row: Row[Any] | None = rows[0] if rows else None
        return row

    async def experiment_id_of(self, entity_id: uuid.UUID) -> uuid.UUID | None:
        """The experiment the row belongs to, or None if there is no such row (unchecked: for
        telling a refused caller 404 from 403)."""
        query = select(type(self).experiment_of()).where(self.table.c.id == entity_id)
        experiment_id: uuid.UUID | None = (await self.session.execute(query)).scalar_one_or_none()
        return experiment_id

    @classmethod
    def experiment_of(cls) -> ColumnElement[Any]:
        """The id of the experiment a row belongs to: roles are granted per experiment."""
        column: ColumnElement[Any] = cls.table.c.experiment_id
        return column

    async def lock(self, entity_id: uuid.UUID, *, shared: bool = False) -> Row[Any] | None:
        """Read the row and lock it until the transaction ends (``FOR SHARE`` when ``shared``)."""
        query = _by_id(self.table, "share" if shared else "no key update")
        row: Row[Any] | None = (await self.session.execute(query, {"id": entity_id})).one_or_none()
        return row

    async def lock_for_change(
        self, entity_id: uuid.UUID, principal: Principal, needed: Role, *, shared: bool = False
    ) -> Row[Any] | None:
        """:meth:`lock` the row if ``principal`` holds ``needed`` on it (one statement); None
        when it does not or the row does not exist (``GrantService.refuse`` tells which)."""
        parameters = {"id": entity_id, **access_parameters(principal, needed)}
        rows = await fetch_rows(self.session, _changeable_by_id(type(self), shared), parameters)
        row: Row[Any] | None = rows[0] if rows else None
        return row

    async def update(
        self,
        entity_id: uuid.UUID,
        values: dict[str, Any],
        versions: frozenset[int] | None = None,
    ) -> Row[Any] | None:
        """Apply ``values`` and bump the version, if the row is at one of ``versions`` (any
        when None); the new row or None."""
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

    async def transition_one(
        self, entity_id: uuid.UUID, change: TransitionChange
    ) -> TransitionOutcome:
        """Lock the entity and apply ``change`` if it allows it, in one statement.

        The row is locked (``FOR NO KEY UPDATE``) whether or not it changes, after its parent
        (``FOR SHARE``, when the change has a parent guard): the order every path takes them.
        """
        statement = _transition_statement(self.table, change.target, change.parent)
        parameters: dict[str, Any] = {
            "id": entity_id,
            "target": change.target.value,
            "sources": [status.value for status in change.sources],
            "any_version": change.versions is None,
            "versions": sorted(change.versions or ()),
        }
        parameters.update(change.access)
        if change.target is Status.failed:
            parameters["reason"] = change.reason
        if change.parent is not None:
            parameters["parent_statuses"] = [status.value for status in change.parent.statuses]
        rows = await fetch_rows(self.session, statement, parameters)
        if not rows:
            return TransitionOutcome(None, None, None, None, None)
        row = rows[0]
        changed = _NAMED_ROWS[self.table.name](*row[_OUTCOME_COLUMNS:]) if row.id else None
        return TransitionOutcome(
            Status(row.previous_status),
            row.previous_version,
            row.parent_id,
            row.parent_status,
            changed,
        )

    async def lock_many(
        self,
        ids: Sequence[uuid.UUID],
        columns: Sequence[str] = (),
        *,
        skip_locked: bool = False,
        access: Mapping[str, Any] | None = None,
    ) -> dict[uuid.UUID, Row[Any]]:
        """Lock the rows of ``ids`` that exist, in id order, and read ``columns`` (all if none).

        Every bulk operation takes its row locks in id order, so two of them never deadlock,
        and a single-entity action (one row) waits for a bulk one or the other way round.
        ``skip_locked``: rows another transaction holds are left out instead of waited for.
        ``access`` (:func:`expsvc.auth.access.access_parameters`): rows the caller does not
        hold that role on are left out too, as if they did not exist.
        """
        table = self.table
        selected = [table.c[name] for name in ("id", *columns)] if columns else [table]
        query = select(*selected).where(table.c.id == any_(id_array(ids)))
        if access is not None:
            query = query.where(may(type(self).experiment_of()))
        query = query.order_by(table.c.id).with_for_update(key_share=True, skip_locked=skip_locked)
        result = await self.session.execute(query, dict(access or {}))
        return {row.id: row for row in result.all()}

    async def parent_ids(self, ids: Sequence[uuid.UUID], foreign_key: str) -> list[uuid.UUID]:
        """The parents (through ``foreign_key``) of the rows of ``ids``, in id order; unlocked:
        an entity never changes its parent."""
        parent = self.table.c[foreign_key]
        query = (
            select(parent)
            .where(self.table.c.id == any_(id_array(ids)))
            .group_by(parent)
            .order_by(parent)
        )
        return list((await self.session.execute(query)).scalars())

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

    @classmethod
    def sort_column(cls, name: str) -> ColumnElement[Any]:
        column: ColumnElement[Any] = cls.table.c[name]
        return column

    @classmethod
    def page_statement(
        cls, query: Select[Any], ordering: Ordering, after_null: bool | None
    ) -> Select[Any]:
        """``query`` in ``ordering`` (then id), past a keyset and up to a limit that are bound
        at execution (:meth:`fetch_built_page`): one statement for every page of a query's
        shape, so a hot list can build it once. ``after_null``: None on the first page, else
        whether the last row served had no sort value."""
        column = cls.sort_column(ordering.column)
        id_column = cls.table.c.id
        if after_null is not None:
            nullable = bool(cls.table.c[ordering.column].nullable)
            query = query.where(_keyset_after(column, id_column, after_null, ordering, nullable))
        if ordering.descending:
            query = query.order_by(column.desc(), id_column.desc())
        else:
            query = query.order_by(column.asc(), id_column.asc())
        return query.limit(bindparam(_PAGE_LIMIT))

    async def fetch_page(
        self,
        query: Select[Any],
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        after_null = None if after is None else after[0] is None
        statement = self.page_statement(query, ordering, after_null)
        return await self.fetch_built_page(statement, after, limit)

    async def fetch_built_page(
        self,
        statement: Select[Any],
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
        parameters: dict[str, Any] | None = None,
    ) -> Sequence[Row[Any]]:
        """Execute a :meth:`page_statement` with its filters' ``parameters``."""
        values = page_values(dict(parameters or {}), after, limit)
        rows: Sequence[Row[Any]] = (await self.session.execute(statement, values)).all()
        return rows

    def export_statement(
        self, query: Select[Any], columns: Sequence[str], after: uuid.UUID | None
    ) -> Select[Any]:
        """``query`` (its filters, the grant check) as an export: ``columns`` of the rows past
        ``after`` in id order, as the driver decodes them (UUIDs as text)."""
        table = self.table
        query = query.with_only_columns(*(_exported(table.c[name]) for name in columns))
        if after is not None:
            query = query.where(table.c.id > bindparam(_EXPORT_AFTER, after))
        return query.order_by(table.c.id)

    async def stream_batches(
        self, statement: Select[Any], parameters: dict[str, Any], batch_size: int
    ) -> AsyncGenerator[Sequence[Row[Any]]]:
        """The rows of ``statement`` from a server-side cursor, ``batch_size`` at a time.

        The statement runs now (a failure is the caller's, before anything is streamed); the
        rows are fetched as the batches are read. In a transaction, which the cursor needs.
        """
        result = await self.session.stream(
            statement, parameters, execution_options={"yield_per": batch_size}
        )
        return _batches(result)


@dataclass(frozen=True)
class ParentGuard:
    """A transition allowed only while the entity's parent (``table``, through ``foreign_key``)
    is in one of ``statuses``; the parent is locked ``FOR SHARE`` meanwhile."""

    table: Table
    foreign_key: str
    statuses: frozenset[Status]


@dataclass(frozen=True)
class TransitionChange:
    target: Status
    sources: frozenset[Status]
    versions: frozenset[int] | None  # None: any version
    reason: str | None = None
    parent: ParentGuard | None = None
    # The caller's access values (expsvc.auth.access.access_parameters): the row is found
    # only where the caller holds the role they name.
    access: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransitionOutcome:
    """What :meth:`EntityRepository.transition_one` found and did.

    ``previous_status`` is None when the entity does not exist; ``row`` (the entity after the
    change) is None when the change did not apply.
    """

    previous_status: Status | None
    previous_version: int | None
    parent_id: uuid.UUID | None
    parent_status: str | None
    row: Any


_OUTCOME_COLUMNS = 4  # previous_status, previous_version, parent_id, parent_status
# A named tuple per table: rows of text statements, shaped like the table's own rows.
_NAMED_ROWS: dict[str, Any] = {}


def named_row_type(table: Table) -> Any:
    """The named tuple of ``table``'s columns (what event snapshots and read models take)."""
    if table.name not in _NAMED_ROWS:
        _NAMED_ROWS[table.name] = namedtuple(
            f"{table.name}_row", [column.name for column in table.c]
        )
    return _NAMED_ROWS[table.name]


@functools.cache
def _transition_statement(
    table: Table, target: Status, parent: ParentGuard | None
) -> TextualSelect:
    """The statement of :meth:`EntityRepository.transition_one`, built once per shape."""
    named_row_type(table)
    name = table.name
    assignments = ["status = :target", f"{timestamp_column(target)} = now()"]
    if target is Status.failed:
        assignments.append("failure_reason = :reason")
    assignments += ["version = t.version + 1", "updated_at = now()"]
    parent_cte, parent_first, parent_allows = "", "", ""
    parent_id, parent_status = "CAST(NULL AS uuid)", "NULL"
    if parent is not None:
        parent_cte = (
            f"parent AS (SELECT p.id, p.status FROM {parent.table.name} p WHERE p.id = "  # noqa: S608
            f"(SELECT {parent.foreign_key} FROM {name} WHERE id = :id) FOR SHARE), "
        )
        # A sub-select in the WHERE clause runs before the scan: the parent is locked first.
        parent_first = " AND (SELECT count(*) FROM parent) >= 0"
        parent_allows = " AND EXISTS (SELECT FROM parent WHERE status = ANY(:parent_statuses))"
        parent_id, parent_status = "(SELECT id FROM parent)", "(SELECT status FROM parent)"
    returned = ", ".join(f"updated.{column.name}" for column in table.c)
    sql = f"""
        WITH {parent_cte}locked AS (
            SELECT id, status, version FROM {name}
            WHERE id = :id{parent_first} AND ({may_sql(name, name)})
            FOR NO KEY UPDATE
        ), updated AS (
            UPDATE {name} AS t SET {", ".join(assignments)}
            FROM locked
            WHERE t.id = locked.id AND locked.status = ANY(:sources)
              AND (:any_version OR locked.version = ANY(:versions)){parent_allows}
            RETURNING t.*
        )
        SELECT locked.status AS previous_status, locked.version AS previous_version,
               {parent_id} AS parent_id, {parent_status} AS parent_status, {returned}
        FROM locked LEFT JOIN updated ON true
    """  # noqa: S608 (built from table and column names, never from values)
    statement = text(sql).bindparams(
        bindparam("sources", type_=PlainArray(Text())),
        bindparam("versions", type_=PlainArray(Integer())),
    )
    if parent is not None:
        statement = statement.bindparams(bindparam("parent_statuses", type_=PlainArray(Text())))
    return statement.columns(
        column("previous_status", String()),
        column("previous_version", Integer()),
        column("parent_id", UUID(as_uuid=True)),
        column("parent_status", String()),
        *table.c,
    )


_READABLE_BY_ID: dict[type[EntityRepository], Select[Any]] = {}


def _readable_by_id(repository: type[EntityRepository]) -> Select[Any]:
    """``SELECT * … WHERE id = :id AND`` the caller may read it, built once per repository."""
    if repository not in _READABLE_BY_ID:
        table = repository.table
        _READABLE_BY_ID[repository] = select(table).where(
            table.c.id == bindparam("id"), may(repository.experiment_of())
        )
    return _READABLE_BY_ID[repository]


def _changeable_by_id(repository: type[EntityRepository], shared: bool) -> Select[Any]:
    """``SELECT * … WHERE id = :id AND`` the caller holds the bound role, ``FOR NO KEY
    UPDATE`` (``FOR SHARE`` when ``shared``), built once per repository and lock."""
    key = (repository, shared)
    if key not in _READABLE_BY_ID_LOCKED:
        locked = _readable_by_id(repository).with_for_update(read=shared, key_share=not shared)
        _READABLE_BY_ID_LOCKED[key] = locked
    return _READABLE_BY_ID_LOCKED[key]


_READABLE_BY_ID_LOCKED: dict[tuple[type[EntityRepository], bool], Select[Any]] = {}


@functools.cache
def _by_id(table: Table, lock: str | None) -> Select[Any]:
    """``SELECT * … WHERE id = :id`` [FOR SHARE | FOR NO KEY UPDATE], built once per table:
    a statement object reused across requests also reuses its cache key."""
    query = select(table).where(table.c.id == bindparam("id"))
    if lock is not None:
        query = query.with_for_update(read=lock == "share", key_share=lock != "share")
    return query


_PAGE_LIMIT, _AFTER_VALUE, _AFTER_ID = "page_limit", "page_after_value", "page_after_id"
PAGE_LIMIT_PARAMETER = _PAGE_LIMIT  # the bound limit of a page_statement


def page_values(
    values: dict[str, Any], after: tuple[Any, uuid.UUID] | None, limit: int
) -> dict[str, Any]:
    """``values`` plus what a :meth:`EntityRepository.page_statement` binds: the limit and the
    keyset it starts after."""
    values[_PAGE_LIMIT] = limit
    if after is not None:
        values[_AFTER_VALUE], values[_AFTER_ID] = after
    return values


_EXPORT_AFTER = "export_after_id"


def _exported(column: ColumnElement[Any]) -> ColumnElement[Any]:
    # The driver's values as they are: SQLAlchemy's result processors (its ARRAY type walks
    # every list) were a quarter of an export's CPU. UUIDs as text, made by PostgreSQL.
    if isinstance(column.type, Uuid):
        return cast(column, Text).label(column.name)
    return type_coerce(column, NullType()).label(column.name)


async def _batches(result: AsyncResult[Any]) -> AsyncGenerator[Sequence[Row[Any]]]:
    try:
        async for batch in result.partitions():
            yield batch
    finally:
        await result.close()


def _keyset_after(
    column: Any, id_column: Any, after_null: bool, ordering: Ordering, nullable: bool
) -> ColumnElement[bool]:
    """Rows strictly after the bound (sort value, id) in ORDER BY column, id (NULL counts as
    the largest); ``after_null``: the bound sort value is NULL."""
    value: Any = bindparam(_AFTER_VALUE)
    last_id: Any = bindparam(_AFTER_ID)
    if ordering.descending:
        if after_null:  # NULLs came first; then come the rest of the NULLs and every value
            return or_(and_(column.is_(None), id_column < last_id), column.is_not(None))
        return or_(column < value, and_(column == value, id_column < last_id))
    if after_null:  # ascending: NULLs are last
        return and_(column.is_(None), id_column > last_id)
    condition = or_(column > value, and_(column == value, id_column > last_id))
    return or_(condition, column.is_(None)) if nullable else condition


def id_array(ids: Sequence[uuid.UUID]) -> Any:
    """``ids`` as one ``uuid[]`` parameter (``= ANY(...)``), not one parameter per id."""
    return bindparam("ids", list(ids), type_=PlainArray(UUID(as_uuid=True)), unique=True)


def text_array(values: Sequence[str | None]) -> Any:
    return bindparam("texts", list(values), type_=PlainArray(Text()), unique=True)


class PlainArray(ARRAY[Any]):
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
