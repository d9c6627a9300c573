"""Fixtures for the method tests: the tiny GLUE folder and tiny workflows of the engine tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# Loaded by path under its own name: `from conftest import` would find whichever conftest
# module pytest imported first.
_spec = importlib.util.spec_from_file_location(
    "engine_fixtures_methods", Path(__file__).resolve().parent.parent / "engine" / "conftest.py")
assert _spec is not None and _spec.loader is not None
engine_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_fixtures)
tiny_workflow_dict = engine_fixtures.tiny_workflow_dict


@pytest.fixture(scope="session")
def tiny_glue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return engine_fixtures.write_tiny_glue(tmp_path_factory.mktemp("glue"))


@pytest.fixture
def engine_workflow_dict() -> object:
    """``tiny_workflow_dict`` of the engine tests (a test module cannot import a conftest)."""
    return tiny_workflow_dict
