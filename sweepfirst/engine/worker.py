"""A worker: runs the jobs of every active run in a shared state database, from any machine.

`sweepfirst worker` (by hand, or as a Slurm job through `sweepfirst launch slurm`) opens the state
database, finds the *active* runs (those in a working phase) and serves them through the same
coordinator loop as `sweepfirst run` (`engine.loop`), with a `SubprocessExecutor`: one slot per
GPU (``jobs_per_gpu`` per GPU), or N CPU slots.

Phase advancement. The loop also moves runs forward (plans sweep trials, advances phases,
analyses, writes reports), so a fleet of workers needs no orchestrator process that must stay
alive. Executing jobs needs no coordination (claims are guarded UPDATEs), but planning does (two
workers could each add "the next bayes trial"), so only the run's *coordinator* -- whichever
process holds the run's lock (`store.coordinator_locks`), released the moment its process or
connection dies -- plans and advances; every other worker only claims and runs jobs.

When to leave (without ``wait``): when no more work can come. A worker stays while an active run is
in its sweep or analysis, or in production before its jobs are planned (production jobs will
follow), or has a pending or running job (a running job's worker may die, and its lease then needs
reaping and the job a new worker). It leaves once every active run is in production or report with
nothing pending or running -- the run's coordinator writes the report -- or when no run is active.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sweepfirst.engine.executors import Executor, Finished, SubprocessExecutor
from sweepfirst.engine.loop import CoordinatorLoop, LoopOptions
from sweepfirst.engine.phase_steps import JOB_PHASES
from sweepfirst.errors import StateError
from sweepfirst.states import JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.jobs import Lease
from sweepfirst.store.models import Run

log = logging.getLogger(__name__)

Notify = Callable[[str], None]

#: Phases after which a run still plans jobs (production's).
_PHASES_BEFORE_PRODUCTION = frozenset({Phase.SWEEP, Phase.ANALYSIS})
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


def check_artifact_root(path: Path | str) -> None:
    """Artifacts must be a path every worker sees (local disk, NFS, Lustre, a mounted bucket)."""
    if _URL_SCHEME.match(str(path)):
        raise StateError(
            f"The artifact store {str(path)!r} is a URL, and fsspec URLs are not supported yet; mount "
            "the store (NFS, Lustre, s3fs/gcsfuse) and pass its local path with --artifacts."
        )


@dataclass(frozen=True)
class WorkerOptions:
    #: Jobs at once when no GPUs are given.
    workers: int = 1
    #: GPU ids; each worker process gets CUDA_VISIBLE_DEVICES set to one of them.
    gpus: tuple[str, ...] | None = None
    #: Worker processes (jobs at once) on each GPU.
    jobs_per_gpu: int = 1
    #: Only this run (name or id); None: every active run.
    run: str | None = None
    #: Keep polling for work forever instead of leaving when none is left.
    wait: bool = False
    poll_seconds: float = 2.0

    @property
    def slots(self) -> int:
        return len(self.gpus) * max(self.jobs_per_gpu, 1) if self.gpus else max(self.workers, 1)


@dataclass
class WorkerSummary:
    """What a worker did, for its last line of output (and submitit's result pickle)."""

    jobs_started: int = 0
    runs: set[str] = field(default_factory=set)
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"jobs_started": self.jobs_started, "runs": sorted(self.runs), "reason": self.reason}


class _CountingExecutor:
    """Counts the jobs this worker started; otherwise the executor it wraps."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.started = 0

    def free_slots(self) -> int:
        return self.inner.free_slots()

    def submit(self, lease: Lease) -> None:
        self.started += 1
        self.inner.submit(lease)

    def poll(self) -> list[Finished]:
        return self.inner.poll()

    def busy(self) -> bool:
        return self.inner.busy()

    def stop(self) -> None:
        self.inner.stop()


class Worker:
    """Serves jobs of the active runs of one state database until none are left (or forever)."""

    def __init__(
        self,
        ctx: Context,
        options: WorkerOptions,
        *,
        executor: Executor | None = None,
        notify: Notify = lambda _line: None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        check_artifact_root(ctx.artifacts)
        self.ctx = ctx
        self.options = options
        inner = executor or SubprocessExecutor(ctx, workers=options.workers, gpus=options.gpus,
                                               jobs_per_gpu=options.jobs_per_gpu)
        self.executor = _CountingExecutor(inner)
        self._stop = threading.Event()
        self._external_stop = should_stop or (lambda: False)
        loop_options = LoopOptions(poll_seconds=options.poll_seconds, parallel_trials=options.slots,
                                   should_stop=self.should_stop)
        self._loop = CoordinatorLoop(ctx, self.executor, loop_options, notify, prefix_runs=True)

    def should_stop(self) -> bool:
        return self._stop.is_set() or self._external_stop()

    def request_stop(self) -> None:
        """Claim nothing more; `serve` then stops its running jobs (they checkpoint and go back to
        pending) and returns. Only sets a flag, so a signal handler may call it."""
        self._stop.set()

    def serve(self) -> WorkerSummary:
        summary = WorkerSummary()
        run_filter = self._resolve_run_filter()

        def select_runs() -> list[Run]:
            runs = self._active_runs(run_filter)
            summary.runs.update(r.name for r in runs)
            return runs

        def keep_going(runs: list[Run], progressed: bool) -> bool:
            """Checked after each round, so the round that finds a phase done has advanced it."""
            if self.options.wait or progressed or self.executor.busy():
                return True
            if run_filter is not None and not runs:
                summary.reason = self._filtered_run_is_done(run_filter)
            elif not runs:
                summary.reason = "no active run is left in this database"
            elif not self._more_jobs_may_come({r.id for r in runs}):
                summary.reason = "no job is left to run in any active run"
            else:
                return True
            return False

        try:
            self._loop.serve(select_runs, after=keep_going)
            if self.should_stop():
                summary.reason = "stop requested; running jobs were checkpointed and handed back"
        finally:
            self._loop.close()
            summary.jobs_started = self.executor.started
        return summary

    def _resolve_run_filter(self) -> int | None:
        if self.options.run is None:
            return None
        with self.ctx.db.session() as session:
            return run_store.find_run(session, self.options.run).id

    def _filtered_run_is_done(self, run_id: int) -> str:
        with self.ctx.db.session() as session:
            run = run_store.find_run(session, run_id)
        if run.phase == Phase.PLANNED.value:
            return f"run {run.name} has not started; start it with `sweepfirst run` or `sweepfirst launch`"
        return f"run {run.name} is {run.phase}"

    def _active_runs(self, run_filter: int | None) -> list[Run]:
        with self.ctx.db.session(readonly=True) as session:
            runs = [r for r in run_store.list_runs(session) if Phase(r.phase).is_working()]
        return [r for r in runs if run_filter is None or r.id == run_filter]

    def _more_jobs_may_come(self, run_ids: set[int]) -> bool:
        """True while an active run is before production, has not planned its production jobs
        yet (the moment after analysis), or has a pending or running job."""
        open_states = (JobState.PENDING.value, JobState.RUNNING.value)
        production_phases = {p.value for p in JOB_PHASES[Phase.PRODUCTION]}
        with self.ctx.db.session(readonly=True) as session:
            for run_id in run_ids:
                phase = Phase(run_store.find_run(session, run_id).phase)
                if phase in _PHASES_BEFORE_PRODUCTION:
                    return True
                counts = job_store.count_by_state(session, run_id)
                if phase is Phase.PRODUCTION and not any(p in production_phases for p, _t, _m, _s in counts):
                    return True
                if any(n for (_p, _t, _m, state), n in counts.items() if state in open_states):
                    return True
        return False
