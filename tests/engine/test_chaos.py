"""Chaos: kill a real run with SIGKILL again and again, anywhere, and it concludes exactly what an
uninterrupted run concludes.

A tiny two-method run is killed at (seeded) random moments in every phase: the whole process
group (orchestrator and worker together, as a lost machine), then a bare `sweepfirst resume`; or
only the worker child (as the OOM killer would), which the orchestrator survives. Afterwards every
job has succeeded, none failed, no succeeded job ran again, and the chosen configurations and
every production metric equal the uninterrupted run's, to the last bit. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from background_run import BackgroundRun
from conftest import tiny_workflow_dict

from sweepfirst.errors import NotFound
from sweepfirst.states import PHASE_ORDER, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

CHANGES = {
    "data.max_train_samples": 120,
    "training.evaluations_per_epoch": 4,
}

#: (what is killed, the phase the kill waits for). Kills aimed at a phase land in it or, when the
#: run was quicker (analysis takes a second), in the next one; where each landed is recorded.
KILL_PLAN = [
    ("group", Phase.SWEEP), ("worker", Phase.SWEEP), ("group", Phase.SWEEP), ("worker", Phase.SWEEP),
    ("group", Phase.SWEEP), ("group", Phase.ANALYSIS), ("group", Phase.PRODUCTION),
    ("worker", Phase.PRODUCTION), ("group", Phase.PRODUCTION), ("worker", Phase.PRODUCTION),
    ("group", Phase.REPORT), ("group", Phase.REPORT),
]
MIN_KILLS = 10


def _environment() -> dict[str, str]:
    # A bare `resume` must find the data folder in the run's record, not in the environment.
    return {k: v for k, v in os.environ.items() if k not in ("SWEEPFIRST_DATA_DIR", "SWEEPFIRST_STATE_DIR")}


def _start(args: list[str], state: Path, db_url: str | None, log: Path) -> subprocess.Popen[bytes]:
    db = ["--db-url", db_url] if db_url else []
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "sweepfirst.cli.app", *args, "--state-dir", str(state), *db],
                                env=_environment(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


#: Metric names that are wall-clock measurements, not results.
_TIMINGS = ("_runtime", "_samples_per_second", "_steps_per_second")


def _results(metrics: dict[str, Any]) -> dict[str, Any]:
    results = {k: v for k, v in metrics.items() if not k.endswith(_TIMINGS)}
    if isinstance(results.get("model"), dict):
        # Where the measured model lies names the run's folder, which differs between the two runs;
        # its hash says it is the same model.
        results["model"] = {k: v for k, v in results["model"].items() if k != "path"}
    return results


def _outcome(ctx: Context) -> dict[str, Any]:
    """What a run concluded: its choices and every production metric (timings left out)."""
    with ctx.db.session(readonly=True) as session:
        run = run_store.find_run(session)
        return {
            "phase": run.phase,
            "chosen": {k: s.hyperparameters for k, s in run_store.selections(session, run.id).items()},
            "metrics": {(j.phase, j.task, j.method, j.seed): _results(j.metrics)
                        for j in job_store.list_jobs(session, run.id) if j.phase != "sweep"},
        }


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    path = tmp_path_factory.mktemp("chaos-wf") / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_workflow_dict(tiny_bert_dir, **CHANGES)))
    return path


#: The uninterrupted run's outcome, waited for on the first call.
ReferenceOutcome = Callable[[], dict[str, Any]]


@pytest.fixture(scope="module")
def reference(workflow: Path, tiny_glue_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceOutcome]:
    """The same run, uninterrupted: started here and left training in the background while the
    first test kills its own run (see background_run); awaited where a test compares with it."""
    root = tmp_path_factory.mktemp("chaos-reference")
    run = BackgroundRun(_start(["run", str(workflow), "--data-dir", str(tiny_glue_dir)], root / "state", None,
                               root / "log"), root / "log")

    @functools.cache
    def outcome() -> dict[str, Any]:
        run.wait()
        return _outcome(Context.open(state_dir=root / "state"))

    yield outcome
    run.stop()


def _phase(ctx: Context) -> Phase:
    try:
        with ctx.db.session(readonly=True) as session:
            return Phase(run_store.find_run(session).phase)
    except NotFound:
        return Phase.PLANNED


def _reached(phase: Phase, target: Phase) -> bool:
    if phase in (Phase.FAILED, Phase.CANCELLED):
        return True  # a run that fails must fail the test below, not hang it
    return PHASE_ORDER.index(phase) >= PHASE_ORDER.index(target)


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def _training_worker(ctx: Context, orchestrator_pid: int) -> tuple[int, int] | None:
    """(job id, worker pid) of a job training in a worker process that has saved a checkpoint."""
    with ctx.db.session(readonly=True) as session:
        for job in job_store.list_jobs(session, None):
            owner = (job.lease_owner or "").rpartition(":")[2]
            folder = ctx.job_dir(job.output_dir)
            if (job.state == "running" and owner.isdigit() and int(owner) != orchestrator_pid
                    and folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())):
                return job.id, int(owner)
    return None


def _find_training_worker(ctx: Context, process: subprocess.Popen[bytes], *,
                          timeout: float) -> tuple[int, int] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = _training_worker(ctx, process.pid)
        if found is not None:
            return found
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkills_anywhere_never_change_what_the_run_concludes(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path, workflow: Path, tiny_glue_dir: Path,
        reference: ReferenceOutcome) -> None:
    db_url = str(request.getfixturevalue("pg_url")) if backend == "postgresql" else None
    state, log = tmp_path / "state", tmp_path / "log"
    ctx = Context.open(state_dir=state, db_url=db_url)
    rng = random.Random(14)
    process = _start(["run", str(workflow), "--data-dir", str(tiny_glue_dir)], state, db_url, log)
    landed: list[tuple[str, str]] = []
    for kind, target in KILL_PLAN:
        _wait(lambda t=target, p=process: p.poll() is not None or _reached(_phase(ctx), t), 600)
        if process.poll() is not None:
            break
        if kind == "group":
            # Analysis lasts a fraction of a second: strike the moment it is seen.
            delay = {Phase.ANALYSIS: 0.0, Phase.REPORT: 0.5}.get(target, 2.5)
            time.sleep(rng.uniform(0.0, delay))
            if process.poll() is not None:
                break
            where = _phase(ctx).value
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            landed.append(("group", where))
            process = _start(["resume"], state, db_url, log)
            continue
        victim = _find_training_worker(ctx, process, timeout=300)
        if victim is None:
            continue
        time.sleep(rng.uniform(0.0, 0.5))
        job_id, pid = victim
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue  # it finished its job and left first
        landed.append(("worker", f"{_phase(ctx).value} (job {job_id})"))
    assert process.wait(timeout=900) == 0, log.read_text()[-4000:]
    if _phase(ctx) is not Phase.COMPLETED:  # the last kill may have stopped it before its report
        assert _start(["resume"], state, db_url, log).wait(timeout=600) == 0, log.read_text()[-4000:]

    print(f"\nchaos ({backend}): {len(landed)} kills: {landed}")
    assert len(landed) >= MIN_KILLS, landed
    assert {"group"} <= {k for k, _ in landed} and {"worker"} <= {k for k, _ in landed}
    assert {w.split()[0] for _, w in landed} >= {"sweep", "production"}, landed
    with ctx.db.session(readonly=True) as session:
        jobs = job_store.list_jobs(session, None)
        events = {j.id: [e.event for e in job_store.job_events(session, j.id)] for j in jobs}
    assert jobs and all(j.state == "succeeded" for j in jobs), [(j.id, j.state, j.error) for j in jobs]
    for job_id, history in events.items():  # a job that succeeded never ran again
        assert history.count("succeeded") == 1 and history[-1] == "succeeded", (job_id, history)
    lost = sum(h.count("crashed") for h in events.values())
    print(f"chaos ({backend}): {lost} attempts lost and resumed, 0 jobs lost")
    # Results, not only timings: every production job's scores, and the drift phase's numbers.
    expected = reference()
    trained = [m for (phase, *_), m in expected["metrics"].items() if phase in ("production", "baseline")]
    assert trained and all("eval_loss" in m for m in trained)
    assert any("layers" in m or "cka" in str(m) for (phase, *_), m in expected["metrics"].items()
               if phase == "drift"), sorted(expected["metrics"])
    assert _outcome(ctx) == expected
    assert "Traceback" not in log.read_text()
