"""Fixtures for the report tests: a run recorded by hand (no training) in a temporary state dir."""

from __future__ import annotations

import pytest
from recorded_run import RecordedRun, record_run


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    """The completed hand-made run; shared, so tests must not change it."""
    return record_run(tmp_path_factory.mktemp("recorded") / "state")


@pytest.fixture(scope="session")
def recorded_failed(tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    """The same run, but LoRA's production seed 2 failed, so the run failed in production."""
    return record_run(tmp_path_factory.mktemp("recorded-failed") / "state", failed_production_seed=2)
