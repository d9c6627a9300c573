"""Workers as Slurm jobs (submitit), requeued when preempted or out of time.

Each Slurm job runs one `Worker` (engine.worker) with ``jobs_per_gpu`` slots per GPU it was given. Preemption:
Slurm signals the job (``--signal=USR2@delay``, submitit's default; set SUBMITIT_PREEMPT_SIGNAL=USR1
to use USR1), submitit calls `SlurmWorker.checkpoint`, which stops the worker's jobs -- each saves a
checkpoint and goes back to pending -- and returns the same worker to requeue. Any worker (the
requeued one or another) resumes those jobs from their checkpoints. SIGTERM (scancel, end of grace
time) stops the jobs the same way, without a requeue.

The database URL is never pickled into submitit's folder: the launcher exports SWEEPFIRST_DB_URL to
the submission's environment (Slurm copies it into the job), so a password in it stays out of files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission

from sweepfirst.engine.executors import Executor
from sweepfirst.engine.worker import Worker, WorkerOptions
from sweepfirst.errors import SweepfirstError
from sweepfirst.store.context import Context

log = logging.getLogger(__name__)

#: The worker running in this process (and its thread), so a preemption signal can stop its jobs.
_RUNNING: list[tuple[Worker, threading.Thread]] = []

ExecutorFactory = Callable[[Context, WorkerOptions], Executor]


@dataclass(frozen=True)
class SlurmWorkerSettings:
    """What a worker job needs besides the database URL (which travels in the environment)."""

    state_dir: str | None = None
    artifacts: str | None = None
    data_dir: str | None = None
    run: str | None = None
    wait: bool = False
    poll_seconds: float = 5.0
    gpus_per_worker: int = 1
    #: Worker processes sharing each GPU.
    jobs_per_gpu: int = 1
    #: Job slots when the worker has no GPU.
    cpu_slots: int = 1
    #: How long a preempted worker waits for its jobs to checkpoint (less than the signal delay).
    stop_timeout_s: float = 100.0


def _log_to_stderr() -> None:
    """Our lines in the job's log (submitit logs its own through its own handler)."""
    logger = logging.getLogger("sweepfirst")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def visible_gpus(gpus_per_worker: int) -> tuple[str, ...] | None:
    """The GPU ids this job may use: Slurm's CUDA_VISIBLE_DEVICES, else 0..n-1; None without GPUs."""
    if gpus_per_worker <= 0:
        return None
    given = tuple(g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip())
    return given or tuple(str(i) for i in range(gpus_per_worker))


class SlurmWorker(Checkpointable):
    """The callable submitit runs in each Slurm job (and pickles again to requeue it).

    The worker loop runs in a thread of its own while the main thread only waits: signal handlers
    run in the main thread, and this way one never interrupts the loop in the middle of a database
    transaction (whose locks the jobs it stops would then wait for).
    """

    def __init__(self, settings: SlurmWorkerSettings, executor_factory: ExecutorFactory | None = None) -> None:
        self.settings = settings
        #: Tests run no-op jobs; None: real jobs in subprocesses.
        self.executor_factory = executor_factory

    def __call__(self) -> dict[str, object]:
        from sweepfirst.engine.stop_signals import STOP_REQUESTED, request_stop_on_signals

        _log_to_stderr()
        # After submitit's own handlers: SIGTERM/SIGINT now stop jobs gracefully; USR2 stays submitit's.
        request_stop_on_signals()
        s = self.settings
        ctx = Context.open(
            state_dir=Path(s.state_dir) if s.state_dir else None,
            artifacts=Path(s.artifacts) if s.artifacts else None,
            data_dir=Path(s.data_dir) if s.data_dir else None,
        )
        options = WorkerOptions(workers=s.cpu_slots, gpus=visible_gpus(s.gpus_per_worker), run=s.run,
                                wait=s.wait, poll_seconds=s.poll_seconds, jobs_per_gpu=s.jobs_per_gpu)
        executor = self.executor_factory(ctx, options) if self.executor_factory else None
        worker = Worker(ctx, options, executor=executor, notify=log.info, should_stop=STOP_REQUESTED.is_set)
        outcome: dict[str, Any] = {}

        def _serve() -> None:
            try:
                outcome["summary"] = worker.serve().to_dict()
            except BaseException as error:  # noqa: BLE001 -- re-raised in the main thread below
                outcome["error"] = error

        thread = threading.Thread(target=_serve, name="sweepfirst-worker")
        _RUNNING.append((worker, thread))
        thread.start()
        try:
            while thread.is_alive():
                thread.join(timeout=0.5)  # short joins let signal handlers run promptly
        finally:
            _RUNNING.remove((worker, thread))
            ctx.db.dispose()
        if "error" in outcome:
            raise outcome["error"]
        log.info("worker done: %s", outcome["summary"])
        return dict(outcome["summary"])

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        """Preempted or out of time: hand the jobs back (checkpointed), then requeue this worker."""
        log.info("preempted: stopping jobs, then requeueing this worker")
        for worker, thread in _RUNNING:
            worker.request_stop()
            thread.join(timeout=max(self.settings.stop_timeout_s, 1.0))
        return super().checkpoint(*args, **kwargs)


_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_slurm_time(text: str) -> int:
    """Slurm's --time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) -> whole minutes (at least 1)."""
    match = _SLURM_TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Slurm time; write minutes (90), H:M:S (4:00:00) or D-H:M:S.")
    days, first, second, third = match.groups()
    if days is not None:  # D-H, D-H:M, D-H:M:S
        seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is not None:  # H:M:S
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:  # M:S
        seconds = int(first) * 60 + int(second)
    else:  # M
        seconds = int(first) * 60
    return max(1, -(-seconds // 60))


@dataclass(frozen=True)
class SlurmResources:
    """What each worker job asks the cluster for."""

    gpus_per_worker: int = 1
    timeout_min: int = 240
    partition: str | None = None
    account: str | None = None
    cpus_per_worker: int | None = None
    mem_gb: int | None = None
    #: Seconds between the preemption/timeout signal and the kill: time to checkpoint.
    signal_delay_s: int = 120


def make_submitter(folder: Path, resources: SlurmResources, *, cluster: str | None = "slurm") -> submitit.AutoExecutor:
    """What submits worker jobs to Slurm: submitit's executor (named a submitter here, since an
    `Executor` of ours runs claimed jobs). ``cluster="local"`` runs them here, for tests and trials."""
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    except RuntimeError as error:  # submitit: 'Could not detect "srun"...'
        raise SweepfirstError(
            f"Cannot submit to {cluster or 'a cluster'} from here ({error}); run `sweepfirst launch slurm` "
            "on a login node of the cluster, or start `sweepfirst worker` by hand."
        ) from None
    parameters: dict[str, Any] = {
        "name": "sweepfirst-worker",
        "timeout_min": resources.timeout_min,
        "gpus_per_node": resources.gpus_per_worker,
        "nodes": 1,
        "tasks_per_node": 1,
        "slurm_signal_delay_s": resources.signal_delay_s,
    }
    if resources.partition:
        parameters["slurm_partition"] = resources.partition
    if resources.account:
        parameters["slurm_account"] = resources.account
    if resources.cpus_per_worker:
        parameters["cpus_per_task"] = resources.cpus_per_worker
    if resources.mem_gb:
        parameters["mem_gb"] = resources.mem_gb
    executor.update_parameters(**parameters)
    return executor


@contextlib.contextmanager
def _database_in_environment(db_url: str | None) -> Iterator[None]:
    """Export the URL for the submission only: jobs inherit it, submitit's pickles never see it."""
    previous = os.environ.get("SWEEPFIRST_DB_URL")
    if db_url is not None:
        os.environ["SWEEPFIRST_DB_URL"] = db_url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SWEEPFIRST_DB_URL", None)
        else:
            os.environ["SWEEPFIRST_DB_URL"] = previous


def submit_workers(
    submitter: submitit.Executor,
    settings: SlurmWorkerSettings,
    count: int,
    *,
    db_url: str | None,
    executor_factory: ExecutorFactory | None = None,
) -> list[submitit.Job[Any]]:
    """Submit ``count`` worker jobs; they share the state database and the artifact store."""
    with _database_in_environment(db_url):
        return [submitter.submit(SlurmWorker(settings, executor_factory)) for _ in range(count)]
