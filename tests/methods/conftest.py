"""Fixtures for the method tests: the tiny GLUE folder (``tests/conftest.py``) and tiny workflows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tiny_runs import tiny_workflow_dict


@pytest.fixture
def engine_workflow_dict() -> Callable[..., dict[str, Any]]:
    """``tiny_runs.tiny_workflow_dict``, as a fixture the method tests already take."""
    return tiny_workflow_dict
