"""Migration 0027: run_tag_sets holds every distinct tag set of the runs. The upgrade notes the
sets of the rows written before it; the triggers note each new set the previous release writes
(inserted several at once, or edited), once; the downgrade drops the triggers and leaves a row
that says the sets are not kept, which the next upgrade removes after noting what was written
meanwhile."""

from __future__ import annotations

import asyncio
import json

from expsvc.migrate import downgrade, upgrade
from tests.partition.support import sql

_EXPERIMENT = (
    "INSERT INTO experiments (id, name, created_by) VALUES (gen_random_uuid(), 'e', 'carol')"
)
# Runs with the tag sets $1 (a JSON array of arrays), in one statement, as 0.2.0 writes them.
_RUNS = """
INSERT INTO runs (id, experiment_id, name, created_by, tags)
SELECT gen_random_uuid(), (SELECT id FROM experiments LIMIT 1), 'r', 'carol',
       ARRAY(SELECT jsonb_array_elements_text(value))
FROM jsonb_array_elements($1::jsonb)
"""
_TRIGGERS = (
    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'runs'::regclass"
    " AND tgname LIKE 'trg_runs_tag_sets_%' ORDER BY tgname"
)


def _write(url: str, *tag_sets: list[str]) -> None:
    asyncio.run(sql(url, _RUNS, json.dumps(list(tag_sets))))


def _sets(url: str) -> list[list[str] | None]:
    rows = asyncio.run(sql(url, "SELECT tags FROM run_tag_sets ORDER BY tags NULLS FIRST"))
    return [None if row["tags"] is None else list(row["tags"]) for row in rows]


def _triggers(url: str) -> list[str]:
    return [row["tgname"] for row in asyncio.run(sql(url, _TRIGGERS))]


def test_the_upgrade_notes_the_sets_written_before_it(database_url: str) -> None:
    downgrade(database_url, "0026")
    asyncio.run(sql(database_url, "DROP TABLE run_tag_sets"))  # as before 0027 ever ran
    asyncio.run(sql(database_url, _EXPERIMENT))
    _write(database_url, ["a", "b"], ["a", "b"], [], ["c"])

    upgrade(database_url)
    assert _sets(database_url) == [[], ["a", "b"], ["c"]]
    assert _triggers(database_url) == ["trg_runs_tag_sets_insert", "trg_runs_tag_sets_update"]


def test_the_triggers_note_each_new_set_once(database_url: str) -> None:
    asyncio.run(sql(database_url, _EXPERIMENT))
    _write(database_url, ["a"], ["x", "y"], ["x", "y"], ["a"])
    _write(database_url, ["x", "y"])  # known: nothing added
    assert _sets(database_url) == [["a"], ["x", "y"]]
    # An edit to a new set is noted; one that keeps the tags (a transition) adds nothing.
    asyncio.run(sql(database_url, "UPDATE runs SET tags = ARRAY['z'] WHERE tags = ARRAY['a']"))
    asyncio.run(sql(database_url, "UPDATE runs SET name = 'renamed'"))
    assert _sets(database_url) == [["a"], ["x", "y"], ["z"]]  # a set no run has stays


def test_the_downgrade_says_the_sets_are_not_kept_until_the_next_upgrade(
    database_url: str,
) -> None:
    asyncio.run(sql(database_url, _EXPERIMENT))
    _write(database_url, ["a"])
    downgrade(database_url, "0026")
    assert _triggers(database_url) == []
    assert _sets(database_url) == [None, ["a"]]
    _write(database_url, ["b"])  # not noted: no trigger
    assert _sets(database_url) == [None, ["a"]]

    upgrade(database_url)
    assert _sets(database_url) == [["a"], ["b"]]
    assert len(_triggers(database_url)) == 2
