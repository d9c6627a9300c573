"""The time left of a recorded run equals the known remaining work, worked out by hand below.

The rule (``sweepfirst.engine.estimates``): a job's work is its training examples x its epochs;
throughput is examples per second of succeeded jobs' wall time, per (task, method), from this run,
else from earlier runs with the same model; the work left includes the running job's unfinished
share and every job of the phases not planned yet; the sum is divided by the run's job slots.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.job_progress import JobProgress, write_progress
from sweepfirst.spec import validate_workflow
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job, Run, utcnow

runner = CliRunner()
MODEL = "an/encoder"


def design(cap: int) -> dict[str, Any]:
    """MRPC x full fine-tuning (a grid of 3 learning rates, 2 epochs) and LoRA (a grid of 2, 3
    epochs), one sweep seed, production seeds 1 and 2, baselines on, at most ``cap`` examples."""
    raw = {
        "name": "eta", "model": MODEL, "tasks": ["mrpc"],
        "methods": {
            "full_finetune": {"sweep": {"method": "grid", "parameters": {
                "learning_rate": {"values": [1.0e-5, 2.0e-5, 3.0e-5]}, "num_train_epochs": {"value": 2}}}},
            "lora": {"sweep": {"method": "grid", "parameters": {
                "learning_rate": {"values": [1.0e-4, 2.0e-4]}, "num_train_epochs": {"value": 3}}}},
        },
        "seeds": {"sweep": [0], "production": [1, 2]},
        "baseline": True,
        "data": {"max_train_samples": cap},
    }
    return validate_workflow(raw, source="test").model_dump(mode="json")


def _jobs(ctx: Context, run_id: int, rows: list[tuple[str, int, int, str]]) -> list[Job]:
    """(method, trial, epochs, state) sweep jobs; returns them in order."""
    with ctx.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        job_store.ensure_jobs(session, run_id, [
            job_store.JobSpec(JobPhase.SWEEP, "mrpc", method, {"learning_rate": 1e-5 * (trial + 1),
                                                               "num_train_epochs": epochs},
                              0, f"runs/{run.name}/jobs/sweep/mrpc/{method}/trial{trial}", trial_index=trial)
            for method, trial, epochs, _ in rows
        ])
        jobs = job_store.list_jobs(session, run_id)
        session.expunge_all()
    return jobs


def _set(ctx: Context, job_id: int, **values: Any) -> None:
    with ctx.db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def record(state: Path, *, workers: int = 1, db_url: str | None = None) -> Context:
    ctx = Context.open(state_dir=state, db_url=db_url)
    with ctx.db.session() as session:
        # An earlier run of the same model measured LoRA on MRPC: 500 examples x 1 epoch in 50 s.
        earlier = run_store.create_run(session, name="earlier", workflow_name="eta", spec=design(500),
                                       spec_hash="e", launch={"workers": 1})
        earlier_id = earlier.id
        now = run_store.create_run(session, name="now", workflow_name="eta", spec=design(1000),
                                   spec_hash="n", launch={"workers": workers})
        now_id = now.id
        run_store.transition_run(session, now_id, Phase.SWEEP, detail="test")
    (old,) = _jobs(ctx, earlier_id, [("lora", 0, 1, "succeeded")])
    _set(ctx, old.id, state="succeeded", runtime_s=50.0, score=0.7)
    ff0, ff1, _ff2, _lora0 = _jobs(ctx, now_id, [("full_finetune", 0, 2, ""), ("full_finetune", 1, 2, ""),
                                               ("full_finetune", 2, 2, ""), ("lora", 0, 3, "")])
    # Full fine-tuning trial 0 succeeded in 100 s; trial 1 runs on another machine, 30% done.
    _set(ctx, ff0.id, state="succeeded", runtime_s=100.0, score=0.8)
    _set(ctx, ff1.id, state="running", lease_owner="elsewhere:1", started_at=utcnow(),
         lease_expires_at=utcnow() + dt.timedelta(hours=1))
    # Its progress file says the sweep split has 900 examples (the cap is 1000: the file wins).
    write_progress(ctx.job_dir(ff1.output_dir), JobProgress(
        step=30, max_steps=100, epoch=0.6, num_train_examples=900, eval_split="selection",
        examples_per_second=20.0, updated_at=time.time()))
    ctx.db.dispose()
    return ctx


# Worked out by hand from the rule:
# full fine-tuning: 900 x 2 examples in 100 s = 18 ex/s (this run).  LoRA: 500 x 1 in 50 s = 10 ex/s
# (the earlier run; this run has no finished LoRA job).
SWEEP = (900 * 2 * 0.7 / 18      # full fine-tuning trial 1, 70% left: 70 s
         + 900 * 2 / 18          # full fine-tuning trial 2, pending: 100 s
         + 900 * 3 / 10          # LoRA trial 0, pending: 270 s
         + 900 * 3 / 10)         # LoRA trial 1, not planned yet (grid of 2): 270 s
# Production trains on all of train: no progress file for it yet, so the cap, 1000 examples; the
# configuration is not chosen yet, so the epochs of the cell's sweep trials.
PRODUCTION = 2 * (1000 * 2 / 18) + 2 * (1000 * 3 / 10)
# Baselines: the methods' default epochs (3), on the production seeds.
BASELINE = 2 * (1000 * 3 / 18) + 2 * (1000 * 3 / 10)


def _json(state: Path, *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--json", "--state-dir", str(state), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_estimate_is_the_known_remaining_work(tmp_path: Path) -> None:
    record(tmp_path / "state")
    data = _json(tmp_path / "state")
    phases = data["phases"]
    assert phases["sweep"]["eta_seconds"] == pytest.approx(SWEEP, abs=0.01)
    assert phases["production"]["eta_seconds"] == pytest.approx(PRODUCTION, abs=0.01)
    assert phases["baseline"]["eta_seconds"] == pytest.approx(BASELINE, abs=0.01)
    assert data["eta_seconds"] == pytest.approx(SWEEP + PRODUCTION + BASELINE, abs=0.01)
    assert phases["sweep"]["jobs_left"] == 4 and phases["sweep"]["unplanned_jobs"] == 1
    assert phases["production"]["unplanned_jobs"] == 4 and phases["baseline"]["unplanned_jobs"] == 4
    sources = {(c["phase"], c["method"]): c["throughput_source"] for c in data["cells"]}
    assert sources[("sweep", "full_finetune")] == "this run" and sources[("sweep", "lora")] == "earlier runs"
    (running,) = data["running_jobs"]
    assert (running["step"], running["max_steps"]) == (30, 100) and not running["worker_gone"]


def test_the_estimate_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    record(tmp_path / "state", db_url=pg_url)
    data = _json(tmp_path / "state", "--db-url", pg_url)
    assert data["eta_seconds"] == pytest.approx(SWEEP + PRODUCTION + BASELINE, abs=0.01)
    assert data["phases"]["sweep"]["eta_seconds"] == pytest.approx(SWEEP, abs=0.01)


def test_more_job_slots_divide_the_time(tmp_path: Path) -> None:
    record(tmp_path / "state", workers=2)
    data = _json(tmp_path / "state")
    assert data["job_slots"] == 2
    assert data["eta_seconds"] == pytest.approx((SWEEP + PRODUCTION + BASELINE) / 2, abs=0.01)


def test_the_fast_path_gives_the_same_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sweepfirst.cli.status_view import fast_status

    record(tmp_path / "state")
    assert fast_status(["--json", "--state-dir", str(tmp_path / "state")])
    data = json.loads(capsys.readouterr().out)
    assert data["eta_seconds"] == pytest.approx(SWEEP + PRODUCTION + BASELINE, abs=0.01)
    assert not fast_status(["--watch", "--state-dir", str(tmp_path / "state")])  # left to the command
    assert not fast_status(["--state-dir", str(tmp_path / "nowhere")])  # its error is the command's


def _run_in_its_sweep(state: Path, name: str) -> tuple[Context, int]:
    """A new run of ``design(1000)`` that has just entered its sweep phase."""
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.create_run(session, name=name, workflow_name="eta", spec=design(1000), spec_hash=name)
        run_id = run.id
        run_store.transition_run(session, run_id, Phase.SWEEP, detail="test")
    return ctx, run_id


def test_nothing_to_go_on_is_unknown_and_elapsed_stops_at_completion(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx, run_id = _run_in_its_sweep(state, "fresh")
    ctx.db.dispose()
    data = _json(state)
    assert data["eta_seconds"] is None  # no job finished here, no earlier run: unknown, never 0
    assert data["phases"]["sweep"]["eta_seconds"] is None and data["phases"]["sweep"]["unplanned_jobs"] == 5
    with ctx.db.session() as session:
        for phase in (Phase.ANALYSIS, Phase.PRODUCTION, Phase.REPORT, Phase.COMPLETED):
            run_store.transition_run(session, run_id, phase, detail="test")
        start = utcnow() - dt.timedelta(hours=3)
        session.execute(update(Run).where(Run.id == run_id).values(
            created_at=start, updated_at=start + dt.timedelta(seconds=4260)))
    ctx.db.dispose()
    data = _json(state)
    assert data["elapsed_seconds"] == pytest.approx(4260.0)  # not the 3 h since it started
    assert data["eta_seconds"] == 0.0


def test_a_sweep_whose_trials_all_paused_so_far_has_an_estimate(tmp_path: Path) -> None:
    """Under ASHA no trial succeeds for minutes; a paused one trained at a measurable rate."""
    state = tmp_path / "state"
    ctx, run_id = _run_in_its_sweep(state, "asha")
    ff0, _ff1, _ff2, lora0 = _jobs(ctx, run_id, [("full_finetune", 0, 2, ""), ("full_finetune", 1, 2, ""),
                                                 ("full_finetune", 2, 2, ""), ("lora", 0, 3, "")])
    for job, seconds in ((ff0, 60.0), (lora0, 90.0)):  # both paused after epoch 1 of 900 examples
        _set(ctx, job.id, state="pruned", runtime_s=seconds)
        write_progress(ctx.job_dir(job.output_dir), JobProgress(
            step=50, max_steps=100, epoch=1.0, num_train_examples=900, eval_split="selection",
            updated_at=time.time()))
    ctx.db.dispose()
    data = _json(state)
    # Worked out by hand: full fine-tuning 900 x 1 in 60 s = 15 ex/s; LoRA 900 x 1 in 90 s = 10 ex/s.
    # Left in the sweep: full fine-tuning trials 1 and 2 (900 x 2 each) and LoRA trial 1, not
    # planned yet (900 x 3); a paused trial itself counts as done.
    assert data["phases"]["sweep"]["eta_seconds"] == pytest.approx(2 * 900 * 2 / 15 + 900 * 3 / 10, abs=0.01)


def test_the_fast_path_knows_the_schema_head() -> None:
    from sweepfirst.store.migrate import HEAD_REVISION
    from sweepfirst.store.snapshot import head_revision

    assert head_revision() == HEAD_REVISION  # else the fast path would refuse every database
