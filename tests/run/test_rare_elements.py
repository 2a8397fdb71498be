"""A rare array condition is read alone, then filtered (ADR 0035): by ANALYZE's statistics of
the runs' array columns, the list's matches come from that condition's runs (a subquery behind
OFFSET 0), not from the AND of every condition's bitmap. The pages are the same, in every
order, page after page."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from expsvc.run import rare_elements
from expsvc.run.rare_elements import ColumnElements, ElementStatistics
from tests.capture.support import make_capture
from tests.helpers import act, create_experiment, create_run
from tests.run.test_head_walk import listed, reference
from tests.statements import sent_statements

# pg_stats' frequencies: one per element, then the least, the greatest, NULL elements' share.
_ROWS = [
    ("sensors", ["imu-1", "cam-1"], [0.001, 0.3, 0.001, 0.3, 0.0], 1_000_000.0),
    ("tags", ["gpu", "sweep"], [0.5, 0.2, 0.2, 0.5, 0.0], 1_000_000.0),
]


def test_the_statistics_estimate_each_condition() -> None:
    statistics = ElementStatistics.from_rows(_ROWS)
    assert statistics.estimated_rows("sensors", "has_any", ["imu-1"]) == 1_000
    assert statistics.estimated_rows("sensors", "has_any", ["imu-1", "cam-1"]) == 301_000
    assert statistics.estimated_rows("tags", "has_all", ["gpu", "sweep"]) == 200_000
    # Not among the most common: fewer than the least common of them.
    assert statistics.estimated_rows("sensors", "has_any", ["lidar-9"]) == 1_000
    assert statistics.estimated_rows("participants", "has_any", ["ann"]) is None
    never_analyzed = ElementStatistics.from_rows([(None, None, None, -1.0)])
    assert never_analyzed.estimated_rows("sensors", "has_any", ["imu-1"]) is None


@pytest.mark.parametrize(
    ("shape", "values", "rare"),
    [
        # the sensor is rare, the tag is not: the sensor, wherever it stands in the AND
        (("and", (("cmp", "tags", "has_all", "", "t"), ("cmp", "sensors", "has_any", "", "s"))),
         {"t": ["gpu"], "s": ["imu-1"]}, 1),
        (("cmp", "sensors", "has_any", "", "s"), {"s": ["imu-1"]}, 0),
        # no condition is rare enough
        (("and", (("cmp", "tags", "has_all", "", "t"), ("cmp", "sensors", "has_any", "", "s"))),
         {"t": ["gpu"], "s": ["cam-1"]}, None),
        # a negated condition is never read alone; nor one without statistics
        (("and", (("not", ("cmp", "sensors", "has_any", "", "s")),
                  ("cmp", "participants", "has_any", "", "p"))),
         {"s": ["imu-1"], "p": ["ann"]}, None),
        (("cmp", "status", "in", "one", "x"), {"x": "running"}, None),
        # one experiment, a branch, a name: the planner's btree beats any rare element
        (("and", (("cmp", "sensors", "has_any", "", "s"),
                  ("cmp", "experiment_id", "in", "one", "e"))),
         {"s": ["imu-1"], "e": "0193"}, None),
        (("and", (("cmp", "git_branch", "in", "one", "b"),
                  ("cmp", "sensors", "has_any", "", "s"))),
         {"s": ["imu-1"], "b": "main"}, None),
        # a status, a creator, a time range do not single runs out
        (("and", (("cmp", "status", "in", "one", "x"), ("cmp", "created_by", "in", "one", "c"),
                  ("cmp", "created_at", ">=", "", "t"), ("cmp", "sensors", "has_any", "", "s"))),
         {"s": ["imu-1"], "x": "running", "c": "ann", "t": "2026-01-01"}, 3),
    ],
)  # fmt: skip
def test_the_rarest_array_condition_is_read_alone_below_the_bound(
    shape: Any, values: dict[str, Any], rare: int | None
) -> None:
    statistics = ElementStatistics.from_rows(_ROWS)
    assert rare_elements.rare_part(shape, values, statistics) == rare


def test_a_rare_condition_is_at_most_the_bound() -> None:
    statistics = ElementStatistics(
        200_000.0, {"sensors": ColumnElements({"imu-1": 0.05, "imu-2": 0.06}, 0.05)}
    )
    shape = ("cmp", "sensors", "has_any", "", "s")
    assert rare_elements.rare_part(shape, {"s": ["imu-1"]}, statistics) == 0  # 10,000 runs
    assert rare_elements.rare_part(shape, {"s": ["imu-2"]}, statistics) is None  # 12,000


@pytest.fixture
async def runs_with_sensors(client: httpx.AsyncClient, database_url: str) -> list[dict[str, Any]]:
    """24 runs in every status, tagged gpu or cpu; every sixth has imu-1, every other cam-1;
    then ANALYZE, so the statistics know imu-1 is rare."""
    experiment = await create_experiment(client)
    for index in range(24):
        run = await create_run(
            client, experiment["id"], name=f"run-{index:02d}",
            tags=["gpu" if index % 3 else "cpu", *(["sweep"] if index % 4 == 0 else [])],
        )  # fmt: skip
        for action in (["start"], ["start", "finish"], [], ["start", "fail"])[index % 4]:
            body = {"reason": "exit 1"} if action == "fail" else {}
            await act(client, f"/v1/runs/{run['id']}", action, **body)
        sensors = (["imu-1"] if index % 6 == 0 else []) + (["cam-1"] if index % 2 == 0 else [])
        if sensors:
            await make_capture(client, run["id"], sensors=sensors)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("ANALYZE runs")
    finally:
        await connection.close()
    response = await client.get("/v1/runs", params={"page_size": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    assert len(items) == 24
    return items


@pytest.mark.parametrize(
    "where",
    [
        {"sensor": ["imu-1"]},
        {"sensor": ["imu-1"], "tag": ["gpu"]},
        {"sensor": ["cam-1"], "tag": ["sweep"]},
        {"sensor": ["imu-1", "cam-1"], "tag_none": ["cpu"]},
    ],
)
@pytest.mark.parametrize("order_by", ["created_at", "started_at", "finished_at", "name"])
@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_pages_read_from_the_rare_condition_hold_the_matches_in_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    runs_with_sensors: list[dict[str, Any]],
    where: dict[str, Any],
    order_by: str,
    order: str,
) -> None:
    sensors = set(where["sensor"])
    items = [item for item in runs_with_sensors if sensors & set(item["sensors"])]
    others = {key: value for key, value in where.items() if key != "sensor"}
    expected = reference(items, order_by, order == "desc", **others)
    with sent_statements(app.state.database.engine) as sent:
        for page_size in (1, 2, 50):
            got = await listed(client, page_size, order_by=order_by, order=order, **where)
            assert got == expected, (page_size, where, order_by, order)
    # On this small table every sensor is rare: the matches come from its runs alone.
    rare_reads = [statement for statement in sent if "AS rare_runs" in statement]
    assert rare_reads, sent
    assert all("OFFSET 0" in statement for statement in rare_reads)


async def test_the_statistics_are_read_once_per_process_for_a_while(
    app: FastAPI, client: httpx.AsyncClient, runs_with_sensors: list[dict[str, Any]]
) -> None:
    with sent_statements(app.state.database.engine) as sent:
        for tag in ("gpu", "cpu", "sweep"):
            response = await client.get("/v1/runs", params={"sensor": "imu-1", "tag": tag})
            assert response.status_code == 200, response.text
    assert sum("pg_stats" in statement for statement in sent) <= 1
    # Without an array condition they are not read at all.
    with sent_statements(app.state.database.engine) as sent:
        response = await client.get("/v1/runs", params={"status": "running"})
        assert response.status_code == 200, response.text
    assert not any("pg_stats" in statement for statement in sent)
