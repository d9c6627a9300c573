"""Fixtures for the drift tests: the tiny GLUE folder (``tests/conftest.py``) and tiny workflows."""

from __future__ import annotations

# Re-exported: the drift tests import it as `from conftest import tiny_workflow_dict`.
from tiny_runs import tiny_workflow_dict

__all__ = ["tiny_workflow_dict"]
