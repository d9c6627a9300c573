"""Early termination of sweep trials (W&B `early_terminate: hyperband`, as asynchronous halving)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from sweepfirst.spec import Workflow
from sweepfirst.store.models import Job

#: (session, job_id, evaluation number, score) -> continue?
Pruner = Callable[[Session, int, int, float], bool]


def make_pruner(workflow: Workflow, job: Job) -> Pruner | None:
    """None when the method's sweep has no early termination."""
    return None
