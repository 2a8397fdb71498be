"""The embedded default: a private PostgreSQL (from the ``pgserver`` wheel) in the data dir.

Only used when ``EXPSVC_DATABASE_URL`` is unset. The server's files live in
``<data_dir>/postgres`` and survive restarts. Three roles (docs/adr/0019): the server's
superuser (``postgres``) only makes the other two and the database; ``expsvc_owner`` owns the
database and its tables and runs the migrations; the service runs as
``EXPSVC_DATABASE_RUNTIME_ROLE`` (``expsvc_runtime``), which owns nothing and may not rewrite
``audit_log``. ``serve`` also takes an exclusive lock on ``<data_dir>/serve.lock`` so a second
``serve`` on the same data dir fails with a clear message instead of sharing a directory it
does not own.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

DATABASE_NAME = "expsvc"
OWNER_ROLE = "expsvc_owner"


class DataDirBusy(RuntimeError):
    """Another ``expsvc serve`` already holds the data dir."""


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    url: str  # the service's: the runtime role
    owner_url: str  # the migrations'
    superuser_url: str
    server: object  # pgserver.PostgresServer; kept referenced so it is not cleaned up early


# Run by the superuser through psql (trust authentication on the server's private socket). The
# roles are made once; a data dir from before them has its database and its objects handed from
# the superuser to the owner, so that the owner can migrate them.
_ROLES = """
\\set ON_ERROR_STOP on
DO $roles$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN
        CREATE ROLE {owner} LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{runtime}') THEN
        CREATE ROLE {runtime} LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another process of this data dir made them at the same moment
END $roles$;
"""
_HAND_OVER = """
\\set ON_ERROR_STOP on
\\connect {database}
ALTER DATABASE {database} OWNER TO {owner};
DO $hand_over$ DECLARE item record; BEGIN
    -- Tables first: a table takes its identity and serial sequences with it; then whatever is
    -- left (a standalone sequence, a view).
    FOR item IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
              AND c.relowner <> '{owner}'::regrole LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO {owner}', item.name);
    END LOOP;
    FOR item IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('S', 'v', 'm')
              AND c.relowner <> '{owner}'::regrole LOOP
        EXECUTE format('ALTER %s %s OWNER TO {owner}', CASE item.relkind
            WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END, item.name);
    END LOOP;
    FOR item IN SELECT t.oid::regtype AS name FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r')
              AND t.typowner <> '{owner}'::regrole LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO {owner}', item.name);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proowner <> '{owner}'::regrole LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO {owner}', item.name);
    END LOOP;
END $hand_over$;
"""


def start_embedded_postgres(
    data_dir: Path, runtime_role: str = "expsvc_runtime"
) -> EmbeddedPostgres:
    """Start (or join) the data dir's PostgreSQL; make sure our roles and database exist."""
    from pgserver.postgres_server import get_server  # late: only the embedded path needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "postgres", cleanup_mode="stop")
    server.psql(_ROLES.format(owner=OWNER_ROLE, runtime=runtime_role))
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME} OWNER {OWNER_ROLE};")
    server.psql(_HAND_OVER.format(database=DATABASE_NAME, owner=OWNER_ROLE))
    host = quote(str(server.get_postmaster_info().socket_dir))

    def url(role: str) -> str:
        return f"postgresql://{role}@/{DATABASE_NAME}?host={host}"

    return EmbeddedPostgres(
        data_dir=data_dir,
        url=url(runtime_role),
        owner_url=url(OWNER_ROLE),
        superuser_url=url("postgres"),
        server=server,
    )


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold ``serve.lock`` for the life of the process; raise :class:`DataDirBusy` if taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_file = (data_dir / "serve.lock").open("a+")
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip() or "unknown"
        lock_file.close()
        raise DataDirBusy(
            f"data dir {data_dir} is in use by another 'expsvc serve' (pid {holder}); "
            "stop it or choose another EXPSVC_DATA_DIR"
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(str(os.getpid()))
    lock_file.flush()
    return lock_file
