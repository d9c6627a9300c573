"""What the training loop hears back from the engine (`training.hooks.TrainingHooks`): each
evaluation's score recorded (and the pruner asked), each step passed on, and whether to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from sweepfirst.engine.pruning import TIE_BREAK_METRIC, Pruner
from sweepfirst.engine.stop_signals import STOP_REQUESTED
from sweepfirst.store import jobs as job_store
from sweepfirst.store.context import Context
from sweepfirst.store.jobs import Lease


class JobHooks:
    """Bridges the training loop to the state database: intermediate scores, stop requests."""

    def __init__(self, ctx: Context, lease: Lease, lease_lost: threading.Event, *, metric: str,
                 pruner: Pruner | None = None, report_step: Callable[[int], None] | None = None) -> None:
        self._ctx = ctx
        self._lease = lease
        self._lease_lost = lease_lost
        self._metric = metric
        self._pruner = pruner
        self._report_step = report_step
        #: The number of the job's latest evaluation (counted across resumes).
        self.evaluations = 0
        #: The job's latest global step (None before its first step).
        self.step: int | None = None

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        self.evaluations = evaluation
        score = metrics.get(self._metric)
        if score is None:
            return True
        loss = metrics.get(TIE_BREAK_METRIC)
        loss = None if loss is None else float(loss)
        with self._ctx.db.session() as session:
            job_store.record_intermediate(session, self._lease, self.evaluations, float(score), loss)
            if self._pruner is None:
                return True
            return bool(self._pruner(session, self._lease.job_id, self.evaluations, float(score), loss))

    def should_stop(self) -> bool:
        return STOP_REQUESTED.is_set() or self._lease_lost.is_set()

    def on_step(self, step: int) -> None:
        self.step = step
        if self._report_step is not None:
            self._report_step(step)
