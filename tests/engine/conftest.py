"""Fixtures for pipeline tests: tiny workflows written as YAML files (see ``tests/tiny_runs.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# Re-exported: the engine tests import it as `from conftest import tiny_workflow_dict`.
from tiny_runs import tiny_workflow_dict

__all__ = ["tiny_workflow_dict"]

WorkflowFactory = Callable[..., Path]


@pytest.fixture
def tiny_workflow(tmp_path: Path, tiny_bert_dir: Path) -> WorkflowFactory:
    """Write a tiny workflow YAML (dotted keys override fields) and return its path."""

    def write(name: str = "tiny.yaml", **changes: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_workflow_dict(tiny_bert_dir, **changes)))
        return path

    return write
