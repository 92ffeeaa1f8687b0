"""Ledgers on a real SQLite file and on a real PostgreSQL server (one per test run)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gitmoor.ledger import Ledger
from testenv.postgres import Postgres

BACKENDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the local PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Marked here rather than in the fixture's params: the marker is registered only once this
    # conftest is configured, after its params would have been evaluated.
    here = Path(__file__).parent
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (
            item.path.is_relative_to(here)
            and callspec is not None
            and callspec.params.get("backend") == "postgres"
        ):
            item.add_marker("postgres")


def new_database(postgres: Postgres) -> str:
    return postgres.create_database(f"ledger_{secrets.token_hex(4)}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ledger_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty ledger database of its own for this test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return new_database(request.getfixturevalue("postgres"))


@pytest.fixture
async def ledger(ledger_url: str) -> AsyncIterator[Ledger]:
    book = await Ledger.open(ledger_url)
    try:
        yield book
    finally:
        await book.close()
