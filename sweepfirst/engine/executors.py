"""Where a claimed job runs: in this process, or in a job process (a subprocess) of its own.

A subprocess is the default: a training crash, an OOM kill or a segfault takes down that process
only; the orchestrator sees the exit, returns the job to the queue and carries on.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from sweepfirst.attempts import Ending
from sweepfirst.errors import IllegalTransition, LeaseLost
from sweepfirst.store import jobs as job_store
from sweepfirst.store.context import Context
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
        # The slot frees when its finished job is collected: the scheduler plans (and promotes)
        # between jobs, as it does with job processes, instead of running the queue in one go.
        return 0 if self._done else 1

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
    """One job process (started on first use, restarted after it dies) and its current job."""

    index: int
    gpu: str | None
    process: subprocess.Popen[str] | None = None
    lease: Lease | None = None
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    #: The training step the current job last reported (None: none yet).
    step: int | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"job process killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"job process killed by signal {-returncode}"
    return f"job process exited with code {returncode} without recording an outcome"


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)  # the process closed its stdout: it is gone


def gpu_slots(gpus: Sequence[str], jobs_per_gpu: int) -> list[str]:
    """The GPU of each job process: every GPU ``jobs_per_gpu`` times, spread round-robin
    (``0,1`` x 2 -> 0, 1, 0, 1), so the first free slots land on different GPUs."""
    return [gpu for _ in range(max(jobs_per_gpu, 1)) for gpu in gpus]


class SubprocessExecutor:
    """N job processes; with GPUs, ``jobs_per_gpu`` per GPU, each with CUDA_VISIBLE_DEVICES
    set to its GPU alone.

    Each job process serves jobs one at a time (see `engine.job_process`), so the heavy imports
    happen once per process while a crash still costs only the job it was running. Processes that
    share a GPU share its memory: one that runs out gets torch's OutOfMemoryError, which ends its
    attempt as an infrastructure loss (`job_endings.classify_error`), not a code failure.
    """

    def __init__(self, ctx: Context, *, workers: int, gpus: Sequence[str] | None = None,
                 jobs_per_gpu: int = 1) -> None:
        self._ctx = ctx
        if gpus:
            self._slots = [_Slot(index=i, gpu=g) for i, g in enumerate(gpu_slots(gpus, jobs_per_gpu))]
        else:
            self._slots = [_Slot(index=i, gpu=None) for i in range(max(workers, 1))]
        #: Set by stop(): a job process that dies from then on was stopped by us, not by its job.
        self._stopping = False

    def free_slots(self) -> int:
        return sum(1 for s in self._slots if s.lease is None)

    def busy(self) -> bool:
        return any(s.lease is not None for s in self._slots)

    def _environment(self, slot: _Slot) -> dict[str, str]:
        env = dict(os.environ)
        env["SWEEPFIRST_DB_URL"] = self._ctx.db.url
        env["SWEEPFIRST_ARTIFACTS"] = str(self._ctx.artifacts.resolve())
        env["SWEEPFIRST_STATE_DIR"] = str(self._ctx.state_dir.resolve())
        if self._ctx.data_dir is not None:
            env["SWEEPFIRST_DATA_DIR"] = str(self._ctx.data_dir.resolve())
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        # Workers sharing the CPU each get their share of its cores (oversubscribed torch threads
        # spin and slow everyone down), unless the user decided already.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(self._slots))))
        return env

    def _start(self, slot: _Slot) -> subprocess.Popen[str]:
        # The folder keeps its name from before job processes were told apart from workers.
        log_dir = self._ctx.state_dir / "workers"
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"worker-{socket.gethostname()}-{os.getpid()}-{slot.index}.log").open("a") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sweepfirst.engine.job_process"],
                env=self._environment(slot),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        slot.lines = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=_pump, args=(process.stdout, slot.lines), daemon=True).start()
        slot.process = process
        return process

    def submit(self, lease: Lease) -> None:
        slot = next(s for s in self._slots if s.lease is None)
        process = slot.process if slot.alive() else self._start(slot)
        assert process is not None and process.stdin is not None
        slot.lease, slot.step = lease, None
        # From now on the reaper watches the job process's pid, not ours.
        with self._ctx.db.session() as session:
            slot.lease = job_store.set_lease_owner(session, lease, f"{socket.gethostname()}:{process.pid}")
        try:
            process.stdin.write(f"{lease.job_id} {lease.token}\n")
            process.stdin.flush()
        except BrokenPipeError:
            pass  # it died just now; poll() sees the exit and takes the job back

    def poll(self) -> list[Finished]:
        finished = []
        for slot in self._slots:
            if slot.lease is None:
                continue
            done = self._drain(slot)
            if done:
                finished.append(Finished(slot.lease.job_id))
                slot.lease = None
            elif not slot.alive():
                assert slot.process is not None
                # Its last lines may still be in the pipe: the step it died at is among them.
                if self._drain(slot, until_closed=True):
                    finished.append(Finished(slot.lease.job_id))
                    slot.lease, slot.process = None, None
                    continue
                reason = self._take_back_if_unrecorded(slot, slot.process.wait())
                finished.append(Finished(slot.lease.job_id, reason))
                slot.lease, slot.process = None, None
        return finished

    @staticmethod
    def _drain(slot: _Slot, *, until_closed: bool = False) -> bool:
        """True when the job process reported its current job done; notes the steps it reported.

        ``until_closed``: the process is dead; read on until its stdout is closed (a few seconds
        at most), so no line it wrote before dying is missed.
        """
        assert slot.lease is not None
        while True:
            try:
                line = slot.lines.get(timeout=5) if until_closed else slot.lines.get_nowait()
            except queue.Empty:
                return False
            if line is None:
                slot.lines.put(None)  # stays closed for a later look
                return False
            kind, _, rest = line.partition(" ")
            job_id, _, value = rest.partition(" ")
            if job_id != str(slot.lease.job_id):
                continue
            if kind == "step" and value.isdigit():
                slot.step = int(value)
            elif kind == "done":
                return True

    def _take_back_if_unrecorded(self, slot: _Slot, returncode: int) -> str | None:
        """A job process that died before recording an outcome: its attempt was lost (not failed), at
        the step it last reported -- or, while we were stopping it, interrupted."""
        assert slot.lease is not None
        lease = slot.lease
        point = slot.step or 0
        where = f" at step {point}" if point else " before its first training step"
        reason = _describe_exit(returncode) + where
        with self._ctx.db.session() as session:
            try:
                if self._stopping:
                    job_store.end_attempt(session, lease.job_id, Ending.INTERRUPTED, token=lease.token,
                                          reason=f"stopped: {reason}")
                else:
                    job_store.end_attempt(session, lease.job_id, Ending.LOST, token=lease.token,
                                          reason=reason, point=point)
            except (LeaseLost, IllegalTransition):
                return None  # it recorded its own ending, or a reaper took it back first
            return reason

    def stop(self) -> None:
        """Ask every job process to checkpoint and hand its job back, then wait for them."""
        self._stopping = True
        for slot in self._slots:
            if slot.alive():
                assert slot.process is not None and slot.process.stdin is not None
                if slot.lease is not None:
                    slot.process.send_signal(signal.SIGTERM)
                try:
                    slot.process.stdin.close()  # an idle job process ends at end of input
                except BrokenPipeError:
                    pass
        for slot in self._slots:
            if slot.process is not None:
                try:
                    slot.process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    slot.process.kill()
                    slot.process.wait()
        self.poll()


def make_executor(ctx: Context, *, workers: int, gpus: Sequence[str] | None, in_process: bool,
                  jobs_per_gpu: int = 1) -> Executor:
    if in_process:
        return InProcessExecutor(ctx)
    return SubprocessExecutor(ctx, workers=workers, gpus=gpus, jobs_per_gpu=jobs_per_gpu)


__all__ = ["Executor", "Finished", "InProcessExecutor", "SubprocessExecutor", "gpu_slots", "make_executor"]
