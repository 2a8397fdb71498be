"""Database URLs with several hosts (a primary and its replicas), in every spelling."""

from __future__ import annotations

import pytest

from expsvc.db import async_database_url, plain_database_url

SQLALCHEMY = "postgresql+asyncpg://u:pw@/db?host=a%3A1&host=b%3A2&target_session_attrs=read-write"
ASYNCPG = "postgresql://u:pw@a:1,b:2/db?target_session_attrs=read-write"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@a:1,b:2/db?target_session_attrs=read-write",
        "postgresql://u:pw@/db?host=a,b&port=1,2&target_session_attrs=read-write",
        "postgresql://u:pw@/db?host=a:1&host=b:2&target_session_attrs=read-write",
    ],
)
def test_every_spelling_of_several_hosts_means_the_same(url: str) -> None:
    assert async_database_url(url) == SQLALCHEMY
    assert plain_database_url(url) == ASYNCPG


def test_one_port_for_every_host() -> None:
    url = "postgresql://u@/db?host=a,b&port=5433"
    assert plain_database_url(url) == "postgresql://u@a:5433,b:5433/db"


@pytest.mark.parametrize(
    "url", ["postgresql://u@h:5/db", "postgresql://postgres@/x?host=%2Ftmp%2Fd"]
)
def test_one_host_is_left_alone(url: str) -> None:
    assert plain_database_url(url) == url
    assert async_database_url(url) == url.replace("postgresql://", "postgresql+asyncpg://")
