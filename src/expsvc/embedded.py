"""The embedded default: a private PostgreSQL (from the ``pgserver`` wheel) in the data dir.

Only used when ``EXPSVC_DATABASE_URL`` is unset. The server's files live in
``<data_dir>/postgres`` and survive restarts. ``serve`` also takes an exclusive lock on
``<data_dir>/serve.lock`` so a second ``serve`` on the same data dir fails with a clear message
instead of sharing a directory it does not own.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

DATABASE_NAME = "expsvc"


class DataDirBusy(RuntimeError):
    """Another ``expsvc serve`` already holds the data dir."""


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    url: str
    server: object  # pgserver.PostgresServer; kept referenced so it is not cleaned up early


def start_embedded_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (or join) the data dir's PostgreSQL and make sure our database exists."""
    from pgserver.postgres_server import get_server  # late: only the embedded path needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "postgres", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = server.get_postmaster_info().socket_dir
    url = f"postgresql://postgres@/{DATABASE_NAME}?host={quote(str(socket_dir))}"
    return EmbeddedPostgres(data_dir=data_dir, url=url, server=server)


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
