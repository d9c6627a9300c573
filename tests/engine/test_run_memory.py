"""A run remembers how it was started.

`sweepfirst run WORKFLOW --data-dir D --set ...` records its design and its launch (data folder,
artifact store, workers) on the run, so what comes later -- a bare `sweepfirst resume`, `run
--phase X` without a workflow -- acts on that run, the same way, without being told again; and
what cannot go on says so in one sentence. Every test drives the real CLI in subprocesses on real
SQLite files with a tiny real model.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from background_run import BackgroundRun
from conftest import tiny_workflow_dict

from sweepfirst.errors import StateError
from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The design in the file; the runs below override its data budget with --set, so a command that
#: re-read the file instead of the recorded design would train on other data and score differently.
WORKFLOW_CHANGES: dict[str, Any] = {
    "data.max_train_samples": 120,
    "seeds.production": [42, 1337],
    # Enough optimizer steps after a job's first checkpoint (about 30 in all) that a Ctrl-C sent
    # when it appears reaches the job mid-training, not after its last step.
    "methods.full_finetune.sweep.parameters.per_device_train_batch_size": {"value": 4},
    "methods.full_finetune.sweep.parameters.num_train_epochs": {"value": 2},
}
#: How every run in this module is started (besides its state dir).
DESIGN_ARGS = ["--methods", "full_finetune", "--set", "data.max_train_samples=64"]

MetricsByJob = dict[tuple[str, str, str, int | None, int], dict[str, float]]


# ---- helpers ------------------------------------------------------------------------------------


def _environment(**extra: str) -> dict[str, str]:
    """This environment without any SWEEPFIRST_* setting (no SWEEPFIRST_DATA_DIR: the commands
    must find the data folder on the run), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_")}
    env.update(extra)
    return env


def _sweepfirst(*args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real CLI to the end; stdout and stderr together in ``.stdout``."""
    return subprocess.run([sys.executable, "-m", "sweepfirst.cli.app", *args], check=False, cwd=cwd,
                          env=env or _environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def _start(*args: str, log: Path, cwd: Path = REPO_ROOT) -> subprocess.Popen[bytes]:
    """Start the real CLI in its own process group (as a terminal would), output to ``log``."""
    with log.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "sweepfirst.cli.app", *args], cwd=cwd,
                                env=_environment(), stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _killpg(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass


def _open(state: Path) -> Context | None:
    """The state dir's context once its database holds sweepfirst's schema, else None."""
    if not (state / "sweepfirst.db").exists():
        return None
    try:
        return Context.open(state_dir=state, create=False)
    except StateError:  # the run is still creating its schema
        return None


def _wait_for_running_sweep_job(process: subprocess.Popen[bytes], state: Path, log: Path,
                                *, with_checkpoint: bool, timeout: float = 180) -> tuple[Context, int]:
    """Poll the state database until a sweep job runs (and, if asked, has written a checkpoint)."""
    deadline = time.monotonic() + timeout
    ctx: Context | None = None
    while time.monotonic() < deadline and process.poll() is None:
        ctx = ctx or _open(state)
        if ctx is not None:
            with ctx.db.session(readonly=True) as session:
                for job in job_store.list_jobs(session, None):
                    if job.phase != JobPhase.SWEEP.value or job.state != "running":
                        continue
                    folder = ctx.job_dir(job.output_dir)
                    if not with_checkpoint or (folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())):
                        return ctx, job.id
        time.sleep(0.05)
    _killpg(process)
    process.wait(timeout=60)
    raise AssertionError(f"never saw a running sweep job; exit {process.returncode}:\n{log.read_text()[-3000:]}")


def _finished(process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> str:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(process)
        process.wait(timeout=60)
        raise AssertionError(f"did not exit within {timeout} s:\n{log.read_text()[-3000:]}") from None
    return log.read_text(errors="replace")


def _selections(ctx: Context) -> dict[tuple[str, str], dict[str, Any]]:
    with ctx.db.session(readonly=True) as session:
        run = run_store.find_run(session)
        return {k: s.hyperparameters for k, s in run_store.selections(session, run.id).items()}


#: Metrics that measure the machine's speed, not the model (eval_runtime, eval_samples_per_second).
_TIMING_SUFFIXES = ("_runtime", "_per_second")


def _job_metrics(ctx: Context, phase: str) -> MetricsByJob:
    """The recorded metrics (``job.metrics``, less wall-clock timings) of every job of ``phase``,
    by (phase, task, method, trial, seed)."""
    with ctx.db.session(readonly=True) as session:
        jobs = [j for j in job_store.list_jobs(session, None) if j.phase == phase]
    return {(j.phase, j.task, j.method, j.trial_index, j.seed):
            {k: v for k, v in j.metrics.items() if not k.endswith(_TIMING_SUFFIXES)} for j in jobs}


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _json(output: str) -> Any:
    """The JSON document in a command's output (console messages go to stderr, merged here)."""
    start = min(i for i in (output.find("{"), output.find("[")) if i >= 0)
    return json.JSONDecoder().raw_decode(output[start:])[0]


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_dict(tiny_bert_dir: Path) -> dict[str, Any]:
    return tiny_workflow_dict(tiny_bert_dir, **WORKFLOW_CHANGES)


@pytest.fixture
def workflow(tmp_path: Path, workflow_dict: dict[str, Any]) -> Path:
    """This test's own copy of the workflow file (a test may delete it)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(workflow_dict))
    return path


#: The uninterrupted run's state, waited for on the first call.
ReferenceRun = Callable[[], Context]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, workflow_dict: dict[str, Any],
              tiny_glue_dir: Path) -> Iterator[ReferenceRun]:
    """The same design run once, uninterrupted: what an interrupted run must end with. Started
    here and left training in the background while test a stops its own run (see
    background_run); awaited where it is compared."""
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(workflow_dict))
    state, log = folder / "state", folder / "run.log"
    started = _start("run", str(path), *DESIGN_ARGS, "--data-dir", str(tiny_glue_dir), "--state-dir", str(state), log=log)
    run = BackgroundRun(started, log, timeout=300)

    @functools.cache
    def finished() -> Context:
        run.wait()
        ctx = Context.open(state_dir=state, create=False)
        with ctx.db.session(readonly=True) as session:
            assert run_store.find_run(session).phase == "completed"
        return ctx

    yield finished
    run.stop()


# ---- a. a bare `resume` continues the run as it was started ---------------------------------------


def test_a_bare_resume_continues_the_run_as_it_was_started(
    tmp_path: Path, workflow: Path, reference: ReferenceRun, tiny_glue_dir: Path
) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while a sweep job runs:
    exit 130 and a pointer to `sweepfirst resume`; the job is handed back with one interrupt
    counted. Then a bare `sweepfirst resume --state-dir S` -- no --data-dir, no SWEEPFIRST_DATA_DIR,
    the workflow file deleted, run from another folder -- finishes the run with the recorded
    design (the --methods and --set it was started with) and data folder: its selections and
    every production job's metrics equal those of the uninterrupted run, exactly."""
    state = tmp_path / "state"
    log = tmp_path / "run.log"
    process = _start("run", str(workflow), *DESIGN_ARGS, "--data-dir", str(tiny_glue_dir), "--state-dir", str(state), log=log)
    ctx, victim = _wait_for_running_sweep_job(process, state, log, with_checkpoint=True)
    _killpg(process, signal.SIGINT)
    out = _finished(process, log)
    assert process.returncode == 130, out[-3000:]
    assert "sweepfirst resume" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    with ctx.db.session(readonly=True) as session:
        job = job_store.get_job(session, victim)
        assert (job.state, job.interrupts, job.failures, job.losses) == ("pending", 1, 0, 0)
        launch = run_store.find_run(session).launch
    assert launch["data_dir"] == str(tiny_glue_dir.resolve())

    workflow.unlink()  # resume must not need the file: the design is on the run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = _sweepfirst("resume", "--state-dir", str(state.resolve()), cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "warning" not in resumed.stdout, resumed.stdout[-3000:]

    with ctx.db.session(readonly=True) as session:
        runs = run_store.list_runs(session)
        victim_events = [e.event for e in job_store.job_events(session, victim)]
    assert [r.phase for r in runs] == ["completed"]
    assert victim_events.count("claimed") == 2 and "interrupted" in victim_events, victim_events
    with ctx.db.session(readonly=True) as session:
        victim_dir = ctx.job_dir(job_store.get_job(session, victim).output_dir)
    assert json.loads((victim_dir / "job.json").read_text())["resumed_from"], "the job did not continue from its checkpoint"
    expected = reference()
    assert _selections(ctx) == _selections(expected)
    production = _job_metrics(ctx, JobPhase.PRODUCTION.value)
    assert sorted(seed for (*_, seed) in production) == [42, 1337]
    assert all("eval_loss" in metrics for metrics in production.values()), production
    assert production == _job_metrics(expected, JobPhase.PRODUCTION.value)
    assert _job_metrics(ctx, JobPhase.SWEEP.value) == _job_metrics(expected, JobPhase.SWEEP.value)


# ---- b. resuming with another data folder says so --------------------------------------------------


def test_b_resume_with_another_data_dir_warns_naming_both_folders(
    tmp_path: Path, workflow: Path, tiny_glue_dir: Path
) -> None:
    """`sweepfirst resume --data-dir OTHER` on a run started with --data-dir D (and killed while
    a job ran) prints a warning that names OTHER and D before it continues."""
    state = tmp_path / "state"
    log = tmp_path / "run.log"
    process = _start("run", str(workflow), *DESIGN_ARGS, "--data-dir", str(tiny_glue_dir), "--state-dir", str(state), log=log)
    _wait_for_running_sweep_job(process, state, log, with_checkpoint=False)
    _killpg(process)
    process.wait(timeout=60)

    other = shutil.copytree(tiny_glue_dir, tmp_path / "moved-glue")
    resume_log = tmp_path / "resume.log"
    resumed = _start("resume", "--state-dir", str(state), "--data-dir", str(other), log=resume_log)
    try:
        deadline = time.monotonic() + 120
        warning: str | None = None
        while warning is None and time.monotonic() < deadline:
            warning = next((line for line in resume_log.read_text(errors="replace").splitlines()
                            if line.startswith("warning:")), None)
            if warning is None and resumed.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        _killpg(resumed)
        resumed.wait(timeout=60)
    assert warning is not None, resume_log.read_text()[-3000:]
    assert str(other) in warning and str(tiny_glue_dir.resolve()) in warning, warning
    assert "--data-dir" in warning, warning


# ---- c. `run --phase X` without a workflow acts on the current run ---------------------------------


def test_c_run_phase_without_a_workflow_acts_on_the_current_run(
    tmp_path: Path, workflow: Path, tiny_glue_dir: Path
) -> None:
    """After `run WF --phase sweep` (with --methods and --set), `run --phase analysis` and then
    `run --phase production` with no workflow argument and no data folder act on that run with
    its recorded design -- not on workflows/default.yaml, which is there in the working folder and
    would be refused as "a different design" -- and complete it, without a second run. A design
    option without a workflow (`--phase analysis --tasks mrpc`) is refused in one sentence."""
    state = tmp_path / "state"
    assert (REPO_ROOT / "workflows" / "default.yaml").is_file()  # what a wrong default would load
    # Smaller than the file says (one trial, one epoch, one production seed): only the recorded
    # design gives the jobs checked below.
    smaller = ["--set", "methods.full_finetune.sweep.run_cap=1", "--set", "seeds.production=[42]",
               "--set", "methods.full_finetune.sweep.parameters.num_train_epochs.value=1"]
    sweep = _sweepfirst("run", str(workflow), *DESIGN_ARGS, *smaller, "--phase", "sweep",
                        "--data-dir", str(tiny_glue_dir), "--state-dir", str(state))
    assert sweep.returncode == 0, sweep.stdout[-3000:]
    ctx = Context.open(state_dir=state, create=False)
    with ctx.db.session(readonly=True) as session:
        run = run_store.find_run(session)
        assert run.phase == "analysis"
        assert not run_store.selections(session, run.id)
        assert len(job_store.list_jobs(session, run.id, phase=JobPhase.SWEEP)) == 1

    refused = _sweepfirst("run", "--phase", "analysis", "--tasks", "mrpc", "--state-dir", str(state))
    assert refused.returncode == 2, refused.stdout
    assert "Traceback" not in refused.stdout
    assert len(_error_lines(refused.stdout)) == 1 and "workflow" in _error_lines(refused.stdout)[0], refused.stdout

    analysis = _sweepfirst("run", "--phase", "analysis", "--state-dir", str(state))
    assert analysis.returncode == 0, analysis.stdout[-3000:]
    assert "different design" not in analysis.stdout
    with ctx.db.session(readonly=True) as session:
        assert run_store.find_run(session).phase == "production"
        assert set(run_store.selections(session, run.id)) == {("mrpc", "full_finetune")}

    production = _sweepfirst("run", "--phase", "production", "--state-dir", str(state))
    assert production.returncode == 0, production.stdout[-3000:]
    assert "different design" not in production.stdout
    with ctx.db.session(readonly=True) as session:
        runs = run_store.list_runs(session)
        jobs = job_store.list_jobs(session, run.id, phase=JobPhase.PRODUCTION)
    assert [(r.id, r.phase) for r in runs] == [(run.id, "completed")]
    assert [(j.method, j.seed, j.state) for j in jobs] == [("full_finetune", 42, "succeeded")]
    # It trained on the recorded budget (--set data.max_train_samples=64), not the file's 120,
    # for the recorded one epoch.
    record = json.loads((ctx.job_dir(jobs[0].output_dir) / "job.json").read_text())
    assert record["num_train_examples"] <= 64, record["num_train_examples"]
    assert jobs[0].hyperparameters["num_train_epochs"] == 1


# ---- d. `train` without a design asks for one, at once ---------------------------------------------


class _CountingServer:
    """A TCP server on localhost that only counts connections: HF_ENDPOINT points here, so any
    attempt to reach the Hub shows up as a connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def fake_hub() -> Iterator[_CountingServer]:
    server = _CountingServer()
    yield server
    server.close()


def test_d_train_without_a_workflow_on_an_empty_state_dir_asks_for_one(
    tmp_path: Path, fake_hub: _CountingServer
) -> None:
    """`sweepfirst train --task mrpc --method lora` with no --workflow and no run to take a design
    from: exit 2 within seconds, one sentence saying to pass --workflow, no traceback, and no
    attempt to reach the Hub (online mode, the Hub endpoint pointed at a local counter)."""
    env = {k: v for k, v in _environment(HF_ENDPOINT=fake_hub.url).items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    started = time.monotonic()
    result = _sweepfirst("train", "--task", "mrpc", "--method", "lora", "--state-dir", str(tmp_path / "empty"),
                         cwd=tmp_path, env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout[-3000:]
    assert "Traceback" not in result.stdout
    errors = _error_lines(result.stdout)
    assert len(errors) == 1 and "--workflow" in errors[0], result.stdout
    assert elapsed < 20, f"took {elapsed:.1f} s to refuse"
    assert fake_hub.connections == 0


# ---- e, f. a job that fails for good says so; the counters are shown --------------------------------


@pytest.fixture(scope="module")
def failed_train(tmp_path_factory: pytest.TempPathFactory, workflow_dict: dict[str, Any],
                 tiny_glue_dir: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`sweepfirst train` of a model folder that does not exist (the data is fine), with three
    attempts allowed: the output and the state dir."""
    folder = tmp_path_factory.mktemp("failed-train")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(workflow_dict))
    state = folder / "state"
    result = _sweepfirst("train", "--workflow", str(path), "--task", "mrpc", "--method", "full_finetune",
                         "--model", "/nonexistent/model", "--set", "training.max_attempts=3",
                         "--data-dir", str(tiny_glue_dir), "--state-dir", str(state), timeout=180)
    return result, state


def test_e_a_train_job_that_fails_for_good_says_so_and_is_not_retried(
    failed_train: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """A missing model is an error no retry can fix: the job fails on its first attempt (claimed
    once, failures 1 of 3), the command exits non-zero, and its last word is "The training job
    ... failed", naming the model -- not "run failed in production" (a `train` has no phases)."""
    result, state = failed_train
    out = result.stdout
    assert result.returncode not in (0, 130), out[-3000:]
    assert "Traceback" not in out, out[-3000:]

    shown = _sweepfirst("jobs", "show", "1", "--json", "--state-dir", str(state))
    assert shown.returncode == 0, shown.stdout
    job = _json(shown.stdout)
    assert (job["phase"], job["state"], job["failures"], job["max_attempts"]) == ("train", "failed", 1, 3)
    assert [e["event"] for e in job["events"]] == ["claimed", "failed"]
    assert "no retry can fix" in job["events"][-1]["detail"]

    errors = _error_lines(out)
    assert len(errors) == 1, out[-3000:]
    assert errors[0].startswith("error: The training job") and " failed" in errors[0], errors[0]
    assert "/nonexistent/model" in errors[0], errors[0]
    assert "run failed in production" not in out, out[-3000:]


def test_f_jobs_show_and_status_show_the_attempt_counters(
    failed_train: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """`jobs show ID --json` has failures, losses, interrupts and max_attempts; every cell of
    `status --json` has an "attempts" mapping of failures, losses and interrupts (here: the one
    code failure of the failed train job)."""
    _result, state = failed_train
    shown = _sweepfirst("jobs", "show", "1", "--json", "--state-dir", str(state))
    assert shown.returncode == 0, shown.stdout
    job = _json(shown.stdout)
    assert {k: job[k] for k in ("failures", "losses", "interrupts", "max_attempts")} == {
        "failures": 1, "losses": 0, "interrupts": 0, "max_attempts": 3}

    status = _sweepfirst("status", "--json", "--state-dir", str(state))
    assert status.returncode == 0, status.stdout
    cells = _json(status.stdout)["cells"]
    assert [(c["phase"], c["task"], c["method"]) for c in cells] == [("train", "mrpc", "full_finetune")]
    assert cells[0]["attempts"] == {"failures": 1, "losses": 0, "interrupts": 0}
