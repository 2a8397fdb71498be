"""``name_contains`` with a word most names hold: the trigram index reads the other words
(expsvc.run.name_words), and the list selects exactly the runs holding the substring."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from expsvc.db import Database
from expsvc.run.name_words import NameSample
from expsvc.run.repository import RunRepository
from expsvc.seed import SeedPlan, seed_demo_data
from tests.conftest import make_settings
from tests.helpers import create_experiment, create_run

# Names as ``expsvc seed`` makes them: every one holds "run", one topic in eight.
_TOPICS = ("resnet", "bert", "gpt", "vit", "xgboost", "lstm", "diffusion", "whisper")
SAMPLE = NameSample.of(f"{_TOPICS[index % 8]}-run-{index}" for index in range(0, 100_000, 997))


@pytest.mark.parametrize(
    ("pattern", "indexed"),
    [
        ("%run-4242%", "%4242%"),  # "run" is in every name: the index reads 4242 alone
        ("%RUN-4242%", "%4242%"),  # the sample is compared without case
        ("%resnet-run-4242%", "%resnet%4242%"),  # the other words, in their order
        ("%run\\_4242\\%%", "%4242%"),  # escaped wildcards are no words
        ("%resnet-4242%", None),  # no common word
        ("%run-42%", None),  # 42 has no trigram between wildcards: the index would read all
        ("%resnet-run%", None),  # "resnet" alone does not single runs out
        ("%run%", None),  # nothing left
    ],
)
def test_the_index_reads_the_words_fewer_names_hold(pattern: str, indexed: str | None) -> None:
    assert SAMPLE.indexed_words(pattern) == indexed


def test_without_a_sample_the_index_reads_the_substring() -> None:
    assert NameSample.of(None).indexed_words("%run-4242%") is None
    shape = ("cmp", "name", ":", "", "filter_0")
    values = {"filter_0": "%run-4242%"}
    assert NameSample.of([]).narrowed(shape, values) == shape
    assert values == {"filter_0": "%run-4242%"}


def test_narrowing_reaches_name_substrings_anywhere_in_the_filters() -> None:
    shape = (
        "or",
        (
            ("not", ("cmp", "name", ":", "", "filter_0")),
            ("cmp", "name", "=", "", "filter_1"),
            ("cmp", "git_branch", ":", "", "filter_2"),
        ),
    )
    values = {"filter_0": "%run-4242%", "filter_1": "run-4242", "filter_2": "%run-4242%"}
    assert SAMPLE.narrowed(shape, values) == (
        "or",
        (
            ("not", ("cmp", "name", ":", "words", "filter_0")),
            ("cmp", "name", "=", "", "filter_1"),
            ("cmp", "git_branch", ":", "", "filter_2"),
        ),
    )
    assert values["filter_0_words"] == "%4242%"


@pytest.fixture
async def seeded(client: httpx.AsyncClient, database_url: str, database: Database) -> list[str]:
    """600 seeded runs, a few odd names among them, analysed: every name in the list."""
    plan = SeedPlan(experiments=4, runs=600, capture_ratio=0.0)
    await seed_demo_data(make_settings(database_url), database_url, plan)
    experiment = await create_experiment(client, name="odd names")
    for name in ("odd-RUN-4242%x", "odd-run-4242x", "odd-run_4242", "odd-run-14242"):
        await create_run(client, experiment["id"], name=name)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("ANALYZE runs")
        names: list[str] = [row[0] for row in await connection.fetch("SELECT name FROM runs")]
    finally:
        await connection.close()
    async with database.read_sessionmaker() as session:
        facts = await RunRepository(session).table_facts()
    assert facts.names.indexed_words("%run-42%") is None  # 42 is too short to read
    assert facts.names.indexed_words("%run-4242%") == "%4242%"  # "run" is common: dropped
    return names


async def _names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    found: list[str] = []
    query: dict[str, Any] = {"order_by": "name", "order": "asc", "page_size": 1000, **params}
    while True:
        response = await client.get("/v1/runs", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [item["name"] for item in body["items"]]
        if not body.get("next_page_token"):
            return found
        query["page_token"] = body["next_page_token"]


# Read by their other words ("run" is common) and by the substring (no other word to read).
TEXTS = ("run-4242", "RUN-4242", "run-4242%", "run_4242", "resnet-run-42", "Run-1424", "run-5")


async def test_a_substring_with_a_common_word_selects_what_holds_it(
    client: httpx.AsyncClient, seeded: list[str]
) -> None:
    for text in TEXTS:
        expected = sorted((n for n in seeded if text.casefold() in n.casefold()), key=str.encode)
        for order_by in ("name", "created_at", "started_at"):
            case = (text, order_by)
            found = await _names(client, name_contains=text, order_by=order_by)
            assert sorted(found, key=str.encode) == expected, case
            language = await _names(client, filter=f'name:"{text}"', order_by=order_by)
            assert sorted(language, key=str.encode) == expected, case
            negated = await _names(client, filter=f'NOT name:"{text}"', order_by=order_by)
            assert len(negated) + len(expected) == len(seeded), case
            assert not set(negated) & set(expected), case
