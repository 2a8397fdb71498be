"""Why commits do not NOTIFY (migration 0008): concurrent commits with and without a NOTIFY trigger.

A transaction that NOTIFYs holds PostgreSQL's notification-queue lock from just before its
commit until its commit record is flushed, so notifying commits flush one at a time instead of
sharing flushes. This measures commits per second of ``--writers`` connections, each committing
one-row inserts, against a scratch database, alternating a table with the statement trigger the
outbox had until migration 0008 and one without::

    python bench/notify_commits.py [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

_TRIGGER_FUNCTION = """
CREATE FUNCTION notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notify_commits', '');
    RETURN NULL;
END $$
"""


async def _commits_per_second(url: str, writers: int, seconds: float) -> float:
    connections = [await asyncpg.connect(url) for _ in range(writers)]
    stop = time.monotonic() + seconds
    counts = [0] * writers

    async def write(index: int) -> None:
        while time.monotonic() < stop:
            await connections[index].execute("INSERT INTO rows_written (v) VALUES ('x')")
            counts[index] += 1

    try:
        await asyncio.gather(*(write(index) for index in range(writers)))
    finally:
        for connection in connections:
            await connection.close()
    return sum(counts) / seconds


async def main(server_url: str, writers: int, seconds: float, rounds: int) -> None:
    admin = await asyncpg.connect(server_url)
    scratch = "expsvc_notify_commits"
    await admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {scratch}")
    url = server_url.rsplit("/", 1)[0] + f"/{scratch}"
    try:
        setup = await asyncpg.connect(url)
        await setup.execute("CREATE TABLE rows_written (id bigserial PRIMARY KEY, v text)")
        await setup.execute(_TRIGGER_FUNCTION)
        for _ in range(rounds):
            for notify in (True, False):
                await setup.execute("DROP TRIGGER IF EXISTS notify ON rows_written")
                if notify:
                    await setup.execute(
                        "CREATE TRIGGER notify AFTER INSERT ON rows_written"
                        " FOR EACH STATEMENT EXECUTE FUNCTION notify_insert()"
                    )
                rate = await _commits_per_second(url, writers, seconds)
                label = "with NOTIFY trigger" if notify else "without"
                print(f"{writers} writers, {label:<20} {rate:8.0f} commits/s")
        await setup.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.server_url, arguments.writers, arguments.seconds, arguments.rounds))
