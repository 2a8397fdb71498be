"""Migration 0028: a creator's runs in each order but creation, three indexes built concurrently.
The upgrade builds them (and rebuilds one an interrupted build left invalid), the downgrade drops
them; through the API, a creator's lists find the same runs in the same order on 0027 and on
0028, where the head walks them on the creator's index."""

from __future__ import annotations

import asyncio

import httpx

from expsvc.app import create_app
from expsvc.migrate import downgrade, upgrade
from tests.conftest import make_settings
from tests.partition.support import sql

_NEW = {
    "ix_runs_created_by_name_c_id",
    "ix_runs_created_by_started_at_id",
    "ix_runs_created_by_finished_at_id",
}


def _validity(url: str) -> dict[str, bool]:
    rows = asyncio.run(
        sql(
            url,
            "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index AS i"
            " JOIN pg_class AS c ON c.oid = i.indexrelid WHERE c.relname = ANY($1::text[])",
            sorted(_NEW),
        )
    )
    return {row["name"]: row["valid"] for row in rows}


def test_the_upgrade_builds_what_is_missing_or_invalid_and_the_downgrade_drops_them(
    database_url: str,
) -> None:
    assert _validity(database_url) == dict.fromkeys(_NEW, True)
    downgrade(database_url, "0027")
    assert _validity(database_url) == {}
    # An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index of the name.
    asyncio.run(sql(database_url, "CREATE INDEX ix_runs_created_by_name_c_id ON runs (name)"))
    asyncio.run(
        sql(
            database_url,
            "UPDATE pg_index SET indisvalid = false"
            " WHERE indexrelid = 'ix_runs_created_by_name_c_id'::regclass",
        )
    )
    upgrade(database_url)
    assert _validity(database_url) == dict.fromkeys(_NEW, True)
    definition = asyncio.run(
        sql(database_url, "SELECT pg_get_indexdef('ix_runs_created_by_name_c_id'::regclass)")
    )[0][0]
    assert '(created_by, name COLLATE "C", id)' in definition  # rebuilt, not the leftover


async def _lists(database_url: str) -> list[list[str]]:
    """A creator's runs in every order but creation, each as the list of their names."""
    app = create_app(make_settings(database_url))
    found = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for order_by in ("name", "started_at", "finished_at"):
                for order in ("desc", "asc"):
                    params = {"created_by": "carol", "order_by": order_by, "order": order}
                    response = await client.get("/v1/runs", params={**params, "page_size": 2})
                    assert response.status_code == 200, response.text
                    found.append([item["name"] for item in response.json()["items"]])
    return found


def test_a_creators_lists_are_the_same_on_0027_and_on_0028(database_url: str) -> None:
    asyncio.run(
        sql(
            database_url,
            "INSERT INTO experiments (id, name, created_by)"
            " VALUES (gen_random_uuid(), 'e', 'carol')",
        )
    )
    for number, creator in enumerate(["carol", "dave", "carol", "carol", "dave"]):
        asyncio.run(
            sql(
                database_url,
                "INSERT INTO runs (id, experiment_id, name, created_by, status, started_at)"
                " SELECT gen_random_uuid(), id, $1, $2, CASE WHEN $3 THEN 'running' ELSE"
                " 'draft' END, CASE WHEN $3 THEN now() END FROM experiments",
                f"run-{number}",
                creator,
                number % 2 == 0,
            )
        )
    on_0028 = asyncio.run(_lists(database_url))
    assert on_0028[0] == ["run-3", "run-2"]  # by name, descending, carol's only
    downgrade(database_url, "0027")
    assert asyncio.run(_lists(database_url)) == on_0028
