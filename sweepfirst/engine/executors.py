"""Where a claimed job runs: in this process, or in a worker subprocess of its own.

A subprocess is the default: a training crash, an OOM kill or a segfault takes down that process
only; the orchestrator sees the exit, returns the job to the queue and carries on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sweepfirst.engine.context import Context
from sweepfirst.states import JobEvent, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store.jobs import Lease


@dataclass(frozen=True)
class Finished:
    """A job whose executor is done with it (its outcome is in the database)."""

    job_id: int
    #: Why the process ended, when it ended without recording an outcome.
    crash_reason: str | None = None


class Executor(Protocol):
    def free_slots(self) -> int: ...
    def submit(self, lease: Lease) -> None: ...
    def poll(self) -> list[Finished]: ...
    def busy(self) -> bool: ...
    def stop(self) -> None: ...


class InProcessExecutor:
    """Runs each job to the end inside this process (tests, debugging)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._done: deque[Finished] = deque()

    def free_slots(self) -> int:
        return 1

    def submit(self, lease: Lease) -> None:
        from sweepfirst.engine.execute import execute_job

        execute_job(self._ctx, lease)
        self._done.append(Finished(lease.job_id))

    def poll(self) -> list[Finished]:
        finished = list(self._done)
        self._done.clear()
        return finished

    def busy(self) -> bool:
        return False

    def stop(self) -> None:
        return None


@dataclass
class _Slot:
    gpu: str | None
    process: subprocess.Popen[bytes] | None = None
    lease: Lease | None = None


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"worker process killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"worker process killed by signal {-returncode}"
    return f"worker process exited with code {returncode} without recording an outcome"


class SubprocessExecutor:
    """N worker processes at once; with GPUs, one job per GPU via CUDA_VISIBLE_DEVICES."""

    def __init__(self, ctx: Context, *, workers: int, gpus: Sequence[str] | None = None) -> None:
        self._ctx = ctx
        if gpus:
            self._slots = [_Slot(gpu=g) for g in gpus]
        else:
            self._slots = [_Slot(gpu=None) for _ in range(max(workers, 1))]

    def free_slots(self) -> int:
        return sum(1 for s in self._slots if s.process is None)

    def busy(self) -> bool:
        return any(s.process is not None for s in self._slots)

    def submit(self, lease: Lease) -> None:
        slot = next(s for s in self._slots if s.process is None)
        env = dict(os.environ)
        env["SWEEPFIRST_DB_URL"] = self._ctx.db.url
        env["SWEEPFIRST_ARTIFACTS"] = str(self._ctx.artifacts.resolve())
        env["SWEEPFIRST_STATE_DIR"] = str(self._ctx.state_dir.resolve())
        if self._ctx.data_dir is not None:
            env["SWEEPFIRST_DATA_DIR"] = str(self._ctx.data_dir.resolve())
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        with self._ctx.db.session() as session:
            job = job_store.get_job(session, lease.job_id)
            log_dir = self._ctx.job_dir(job.output_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sweepfirst.engine.worker_process",
                 "--job-id", str(lease.job_id), "--lease-token", lease.token],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        slot.process, slot.lease = process, lease
        # From now on the reaper watches the worker's pid, not ours.
        with self._ctx.db.session() as session:
            try:
                slot.lease = job_store.set_lease_owner(session, lease, f"{socket.gethostname()}:{process.pid}")
            except Exception:  # noqa: BLE001 -- the worker may already have finished; poll() decides
                pass

    def poll(self) -> list[Finished]:
        finished = []
        for slot in self._slots:
            if slot.process is None or slot.process.poll() is None:
                continue
            assert slot.lease is not None
            reason = self._take_back_if_unrecorded(slot.lease, slot.process.returncode)
            finished.append(Finished(slot.lease.job_id, reason))
            slot.process, slot.lease = None, None
        return finished

    def _take_back_if_unrecorded(self, lease: Lease, returncode: int) -> str | None:
        """A worker that died before recording an outcome: its job crashed (not failed)."""
        with self._ctx.db.session() as session:
            job = job_store.get_job(session, lease.job_id)
            if job.state != JobState.RUNNING.value or job.lease_token != lease.token:
                return None
            reason = _describe_exit(returncode)
            job_store.crash_job(session, job, reason)
            return reason

    def stop(self) -> None:
        """Ask every worker to checkpoint and hand its job back, then wait for them."""
        for slot in self._slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signal.SIGTERM)
        for slot in self._slots:
            if slot.process is not None:
                try:
                    slot.process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    slot.process.kill()
                    slot.process.wait()
        self.poll()


def make_executor(ctx: Context, *, workers: int, gpus: Sequence[str] | None, in_process: bool) -> Executor:
    if in_process:
        return InProcessExecutor(ctx)
    return SubprocessExecutor(ctx, workers=workers, gpus=gpus)


__all__ = ["Executor", "Finished", "InProcessExecutor", "JobEvent", "SubprocessExecutor", "make_executor"]
