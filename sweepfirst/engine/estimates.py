"""How long a run still needs: measured throughput times the work left in every phase to come.

The rule, stated once:

1. **Work** of a training job = the examples it trains on x its epochs (``num_train_epochs``).
   The examples per (task, split) come from a job's ``progress.json`` (the training loop writes
   it as soon as a job starts), else from ``data.max_train_samples`` (a cap; a train set smaller
   than the cap trains on fewer), else they are unknown.
2. **Throughput** per (task, method), in examples per second of job wall time (loading and
   evaluation included): from this run's succeeded jobs and the trials early termination paused
   (what such a trial trained before it paused, from its ``progress.json``, in its wall time;
   at most 8 read per task x method), else from earlier runs' succeeded jobs on this database
   with the same model, sequence length, task and method, else unknown. A job whose work is
   unknown is estimated at the mean wall time of the succeeded jobs of its own phase x task x
   method instead. `sweepfirst plan` estimates a workflow that has no run yet by the same rule
   (``engine.forecast``: every recorded run is an earlier run).
3. **Work left**: pending jobs whole; running jobs minus the share of their steps done
   (``progress.json``; without one, minus the time they have run); and the jobs of phases not
   planned yet: the sweep's remaining trials (grid size or ``run_cap``, times the sweep seeds),
   one production job per (task, method, production seed), and as many baselines when
   ``baseline`` is on. A job whose configuration is not chosen yet counts the epochs of the
   sweep's trials (their mean), else the method's default.
4. **Time left** = the seconds of work left / the job slots the run was started with (or the
   running jobs, if more run: other workers). Unknown (None) as soon as one phase with work
   left has no estimate: a partial sum would read as a promise. A completed run has 0 left; a
   failed or cancelled one has None (nothing runs until `resume`).

Analysis, drift and the report take seconds to minutes and are not estimated (no training jobs
to measure): their phases show ``eta_seconds: null, estimated: false`` and leave the total alone.
Standard library only: `status` must stay fast.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

from sweepfirst.job_progress import JobProgress
from sweepfirst.states import (
    PHASE_ORDER,
    STOPPED_PHASES,
    TERMINAL_PHASES,
    TRAINING_JOB_PHASES,
    JobPhase,
    JobState,
    Phase,
)
from sweepfirst.store.snapshot import JobRow, RunRow, RunSnapshot

#: Job phases made of training jobs, in the order a run reaches them.
TRAINING_PHASES: tuple[str, ...] = tuple(p.value for p in TRAINING_JOB_PHASES)
# Plain strings: an enum's .value costs a call, and the 10,000-job case reads it per job.
_PENDING, _RUNNING, _SUCCEEDED, _CANCELLED = (JobState.PENDING.value, JobState.RUNNING.value,
                                              JobState.SUCCEEDED.value, JobState.CANCELLED.value)
_PRUNED = JobState.PRUNED.value

#: Paused (pruned) trials of this run read for a throughput, per (task, method): each costs a
#: progress file read, and a few measure a rate as well as a thousand.
_PRUNED_JOBS_MEASURED = 8
_SWEEP = JobPhase.SWEEP.value
_LEFT_STATES = frozenset({_PENDING, _RUNNING})
_STOPPED = frozenset(p.value for p in STOPPED_PHASES)
_TERMINAL = frozenset(p.value for p in TERMINAL_PHASES)
_BEFORE_PRODUCTION = frozenset(p.value for p in PHASE_ORDER[:PHASE_ORDER.index(Phase.PRODUCTION)])
#: ``data.max_seq_length`` when a spec does not say (the workflow's default).
_DEFAULT_SEQ_LENGTH = 128
#: Where a throughput was measured: the run itself wins over earlier runs of the same setup.
THIS_RUN, EARLIER_RUNS = "this run", "earlier runs"

#: Reads a job's progress.json (None when it has none).
ProgressReader = Callable[[JobRow], JobProgress | None]


@dataclass
class CellEstimate:
    """One phase x task x method: jobs left (planned or not) and their seconds of work."""

    phase: str
    task: str
    method: str
    jobs_left: int = 0
    #: Jobs of this cell that no planner has created yet.
    unplanned: int = 0
    seconds: float | None = 0.0
    #: Examples per second used, and where it was measured ("this run", "earlier runs").
    throughput: float | None = None
    source: str | None = None

    def add(self, seconds: float | None) -> None:
        self.seconds = None if seconds is None or self.seconds is None else self.seconds + seconds


@dataclass
class RunEstimate:
    """The time left of a run, per cell, per phase and in total (seconds of wall time)."""

    cells: dict[tuple[str, str, str], CellEstimate] = field(default_factory=dict)
    slots: int = 1
    eta_seconds: float | None = None
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed_seconds: float = 0.0


def epochs_of(hyperparameters: Mapping[str, Any]) -> float | None:
    value = hyperparameters.get("num_train_epochs")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def trained_split(phase: str) -> str:
    """What a job trains on: sweeps on train minus the selection split, the rest on all of train."""
    return "selection" if phase == _SWEEP else "dev"


def planned_trials(sweep: Mapping[str, Any]) -> int | None:
    """How many trials a W&B sweep config runs: ``SweepConfig.total_trials``'s rule (grid size,
    capped by ``run_cap``; ``run_cap`` for a space with a continuous parameter), read off the raw
    config so that `status` need not import the search package (it pulls in scipy)."""
    run_cap = sweep.get("run_cap")
    cap = int(run_cap) if isinstance(run_cap, int) and run_cap > 0 else None
    sizes: list[int | None] = []
    for param in (sweep.get("parameters") or {}).values():
        if not isinstance(param, Mapping) or "value" in param:
            sizes.append(1)
        elif isinstance(param.get("values"), list):
            sizes.append(len(param["values"]))
        elif param.get("distribution") == "int_uniform" and isinstance(param.get("min"), int) \
                and isinstance(param.get("max"), int):
            sizes.append(param["max"] - param["min"] + 1)
        else:
            sizes.append(None)
    size = None if any(s is None for s in sizes) else prod(s for s in sizes if s is not None)
    if size is None:
        return cap
    return size if cap is None else min(size, cap)


def _spec_epochs(sweep: Mapping[str, Any], fixed: Mapping[str, Any], method: str) -> float | None:
    """The epochs a trial not planned yet will train: the sweep's value(s), else the fixed value,
    else the method's default."""
    param = (sweep.get("parameters") or {}).get("num_train_epochs")
    if isinstance(param, Mapping):
        if isinstance(param.get("value"), (int, float)):
            return float(param["value"])
        values = [v for v in param.get("values") or [] if isinstance(v, (int, float))]
        if values:
            return sum(values) / len(values)
    if epochs_of(fixed) is not None:
        return epochs_of(fixed)
    return _default_epochs(method)


def _default_epochs(method: str) -> float | None:
    from sweepfirst.errors import SweepfirstError
    from sweepfirst.methods import get_method

    try:
        return epochs_of(get_method(method).baseline)
    except SweepfirstError:
        return None


class _Examples:
    """Training examples per (run, task, split): progress files first, then the spec's cap."""

    def __init__(self, runs: Mapping[int, RunRow], jobs: Iterable[JobRow], read: ProgressReader) -> None:
        self._runs = runs
        self._read = read
        self._known: dict[tuple[int, str, str], int | None] = {}
        self._candidates: dict[tuple[int, str, str], list[JobRow]] = defaultdict(list)
        for job in jobs:
            if job.phase in TRAINING_PHASES and job.state != _PENDING:
                self._candidates[(job.run_id, job.task, trained_split(job.phase))].append(job)

    def of(self, run_id: int, task: str, split: str) -> int | None:
        key = (run_id, task, split)
        try:
            return self._known[key]
        except KeyError:
            self._known[key] = found = self._look_up(key)
            return found

    def _look_up(self, key: tuple[int, str, str]) -> int | None:
        # A few files at most: every job of a (run, task, split) trains on the same examples.
        for job in sorted(self._candidates.get(key, []), key=lambda j: j.state != _RUNNING)[:3]:
            progress = self._read(job)
            if progress is not None and progress.num_train_examples > 0:
                return progress.num_train_examples
        run = self._runs.get(key[0])
        cap = ((run.spec.get("data") or {}).get("max_train_samples")) if run is not None else None
        return int(cap) if isinstance(cap, int) and cap > 0 else None


def _work(examples: _Examples, run_id: int, task: str, phase: str, epochs: float | None) -> float | None:
    n = examples.of(run_id, task, trained_split(phase))
    return n * epochs if n is not None and epochs is not None else None


def setup_of(spec: Mapping[str, Any]) -> tuple[Any, Any]:
    """What makes throughputs comparable between runs: the model and the sequence length."""
    return spec.get("model"), (spec.get("data") or {}).get("max_seq_length", _DEFAULT_SEQ_LENGTH)


def measured_throughputs(snapshot: RunSnapshot, read_progress: ProgressReader,
                         setup: tuple[Any, Any] | None = None) -> dict[tuple[str, str], tuple[float, str]]:
    """Examples per second per (task, method), and where measured: the snapshot run's succeeded
    training jobs, else earlier runs' -- only runs of the same ``setup`` (model, sequence length;
    the snapshot run's own by default). What `status` and `plan` both estimate from."""
    runs = {snapshot.run.id: snapshot.run, **snapshot.earlier_runs}
    examples = _Examples(runs, [*snapshot.jobs, *snapshot.earlier_jobs], read_progress)
    return _throughputs(snapshot, examples, setup or setup_of(snapshot.run.spec), read_progress)


def _throughputs(snapshot: RunSnapshot, examples: _Examples, setup: tuple[Any, Any],
                 read_progress: ProgressReader) -> dict[tuple[str, str], tuple[float, str]]:
    runs = {snapshot.run.id: snapshot.run, **snapshot.earlier_runs}
    measured: dict[str, dict[tuple[str, str], list[float]]] = {THIS_RUN: defaultdict(lambda: [0.0, 0.0]),
                                                             EARLIER_RUNS: defaultdict(lambda: [0.0, 0.0])}
    pruned_read: dict[tuple[str, str], int] = defaultdict(int)
    for source, jobs in ((THIS_RUN, snapshot.jobs), (EARLIER_RUNS, snapshot.earlier_jobs)):
        for job in jobs:
            if job.phase not in TRAINING_PHASES or job.runtime_s <= 0:
                continue
            run = runs.get(job.run_id)
            if run is None or setup_of(run.spec) != setup:
                continue
            if job.state == _SUCCEEDED:
                work = _work(examples, job.run_id, job.task, job.phase, job.epochs)
            elif (job.state == _PRUNED and source == THIS_RUN
                  and pruned_read[(job.task, job.method)] < _PRUNED_JOBS_MEASURED):
                # Under ASHA most trials pause after their first rung, and for minutes no trial
                # of a sweep succeeds: what a paused one trained, in its time, is a rate too.
                pruned_read[(job.task, job.method)] += 1
                work = _trained_before_pausing(read_progress(job))
            else:
                continue
            if work is None:
                continue
            total = measured[source][(job.task, job.method)]
            total[0] += work
            total[1] += job.runtime_s
    rates: dict[tuple[str, str], tuple[float, str]] = {}
    for source in (EARLIER_RUNS, THIS_RUN):  # this run's measurement wins
        for key, (work, seconds) in measured[source].items():
            if seconds > 0 and work > 0:
                rates[key] = (work / seconds, source)
    return rates


def _trained_before_pausing(progress: JobProgress | None) -> float | None:
    """Examples a paused trial trained (its epochs across resumes x its examples), if recorded."""
    if progress is None or progress.num_train_examples <= 0 or progress.epoch <= 0:
        return None
    return progress.num_train_examples * progress.epoch


def _mean_job_seconds(jobs: Sequence[JobRow]) -> dict[tuple[str, str, str], float]:
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for job in jobs:
        if job.state == _SUCCEEDED and job.runtime_s > 0:
            sums[(job.phase, job.task, job.method)].append(job.runtime_s)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def _slots(run: RunRow, running: int) -> int:
    launch = run.launch or {}
    gpus = launch.get("gpus") or []
    planned = len(gpus) * int(launch.get("jobs_per_gpu") or 1) if gpus else int(launch.get("workers") or 1)
    return max(planned, running, 1)


def elapsed_seconds(run: RunRow, now: dt.datetime) -> float:
    """Wall time since the run was created; it stops when the run completes, fails or is
    cancelled (its last phase change)."""
    end = run.updated_at if run.phase in _TERMINAL else now
    return max((end - run.created_at).total_seconds(), 0.0)


def estimate(snapshot: RunSnapshot, read_progress: ProgressReader, now: dt.datetime,
             *, worker_gone: Callable[[JobRow], bool] = lambda _job: False) -> RunEstimate:
    """The time left of ``snapshot``'s run (see the module's docstring for the rule)."""
    run = snapshot.run
    runs = {run.id: run, **snapshot.earlier_runs}
    examples = _Examples(runs, [*snapshot.jobs, *snapshot.earlier_jobs], read_progress)
    rates = _throughputs(snapshot, examples, setup_of(run.spec), read_progress)
    mean_seconds = _mean_job_seconds(snapshot.jobs)
    result = RunEstimate(elapsed_seconds=elapsed_seconds(run, now))
    cells = result.cells

    def cell(phase: str, task: str, method: str) -> CellEstimate:
        key = (phase, task, method)
        if key not in cells:
            rate = rates.get((task, method))
            cells[key] = CellEstimate(phase, task, method, throughput=rate[0] if rate else None,
                                      source=rate[1] if rate else None)
        return cells[key]

    def seconds_for(phase: str, task: str, method: str, epochs: float | None, done: float = 0.0) -> float | None:
        """Seconds of one job with ``done`` (a share) of it behind it."""
        work = _work(examples, run.id, task, phase, epochs)
        rate = rates.get((task, method))
        if work is not None and rate is not None:
            return work * (1.0 - done) / rate[0]
        mean = mean_seconds.get((phase, task, method))
        return None if mean is None else mean * (1.0 - done)

    running = 0
    for job in snapshot.jobs:
        target = cell(job.phase, job.task, job.method)
        if job.state not in _LEFT_STATES:
            continue
        target.jobs_left += 1
        if job.phase not in TRAINING_PHASES:
            target.add(None)  # not a training job: nothing measures it
            continue
        done = 0.0
        if job.state == _RUNNING:
            running += 1
            progress = read_progress(job)
            if progress is not None and progress.max_steps > 0:
                done = progress.fraction  # a job whose worker is gone resumes from its checkpoint
            elif not worker_gone(job):  # a gone worker's time is spent on nothing: it does not count
                whole = seconds_for(job.phase, job.task, job.method, job.epochs)
                ran = (now - job.started_at).total_seconds() if job.started_at else 0.0
                done = min(max(ran / whole, 0.0), 1.0) if whole else 0.0
        target.add(seconds_for(job.phase, job.task, job.method, job.epochs, done))

    if run.kind == "workflow" and run.phase not in _TERMINAL:
        _add_unplanned(snapshot, cell, seconds_for)

    result.slots = _slots(run, running)
    per_phase: dict[str, list[CellEstimate]] = defaultdict(list)
    for estimate_cell in cells.values():
        per_phase[estimate_cell.phase].append(estimate_cell)
    total: float | None = 0.0
    for phase, phase_cells in per_phase.items():
        left = sum(c.jobs_left for c in phase_cells)
        seconds: float | None = 0.0
        for c in phase_cells:
            if c.jobs_left and c.seconds is None:
                seconds = None
            elif seconds is not None and c.seconds is not None:
                seconds += c.seconds
        eta = None if seconds is None else (seconds / result.slots if left else 0.0)
        estimated = phase in TRAINING_PHASES
        result.phases[phase] = {"jobs_left": left, "unplanned_jobs": sum(c.unplanned for c in phase_cells),
                                "eta_seconds": eta, "estimated": estimated}
        if estimated:  # drift's short jobs are not measured; they do not make the total unknown
            total = None if total is None or eta is None else total + eta
    if run.phase in _STOPPED:
        total = None
    elif run.phase == Phase.COMPLETED.value:
        total = 0.0
    result.eta_seconds = total
    return result


def _add_unplanned(snapshot: RunSnapshot, cell: Callable[[str, str, str], CellEstimate],
                   seconds_for: Callable[..., float | None]) -> None:
    """The jobs no planner has created yet: the sweep's remaining trials, production, baselines."""
    spec = snapshot.run.spec
    methods: Mapping[str, Any] = spec.get("methods") or {}
    tasks: Sequence[str] = spec.get("tasks") or []
    seeds = spec.get("seeds") or {}
    sweep_seeds = len(seeds.get("sweep") or [0])
    production_seeds = len(seeds.get("production") or [42, 1337, 2024])
    by_cell: dict[tuple[str, str, str], list[JobRow]] = defaultdict(list)
    for job in snapshot.jobs:
        if job.state != _CANCELLED:
            by_cell[(job.phase, job.task, job.method)].append(job)
    chosen = {(s.task, s.method): s for s in snapshot.selections}
    before_production = snapshot.run.phase in _BEFORE_PRODUCTION
    for task in tasks:
        for method, method_spec in methods.items():
            sweep = (method_spec or {}).get("sweep") or {}
            fixed = (method_spec or {}).get("fixed") or {}
            sweep_jobs = by_cell[(JobPhase.SWEEP.value, task, method)]
            trial_epochs = [j.epochs for j in sweep_jobs if j.epochs is not None]
            mean_epochs = sum(trial_epochs) / len(trial_epochs) if trial_epochs else _spec_epochs(sweep, fixed, method)
            if snapshot.run.phase in (Phase.PLANNED.value, Phase.SWEEP.value):
                trials = planned_trials(sweep)
                target = cell(JobPhase.SWEEP.value, task, method)
                if trials is None:
                    if not sweep_jobs:
                        target.add(None)  # a sweep of unknown length: nothing to go on
                else:
                    missing = max(trials * sweep_seeds - len(sweep_jobs), 0)
                    target.jobs_left += missing
                    target.unplanned += missing
                    for _ in range(missing):
                        target.add(seconds_for(JobPhase.SWEEP.value, task, method, _spec_epochs(sweep, fixed, method)))
            if not before_production:
                continue
            selection = chosen.get((task, method))
            epochs = epochs_of(selection.hyperparameters) if selection is not None else mean_epochs
            plans = [(JobPhase.PRODUCTION.value, epochs)]
            if spec.get("baseline"):
                plans.append((JobPhase.BASELINE.value, epochs_of(fixed) or _default_epochs(method)))
            for phase, phase_epochs in plans:
                missing = max(production_seeds - len(by_cell[(phase, task, method)]), 0)
                target = cell(phase, task, method)
                target.jobs_left += missing
                target.unplanned += missing
                for _ in range(missing):
                    target.add(seconds_for(phase, task, method, phase_epochs))
