"""The store behaviour suite runs against every backend: SQLite always, PostgreSQL when reachable
(a schema of its own per test: the suite-wide ``pg_url`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepfirst.store.database import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" \
        else request.getfixturevalue("pg_url")
    database = Database(url)
    database.create_schema()
    yield database
    database.dispose()
