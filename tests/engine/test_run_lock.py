"""One driver per run: `run`/`resume` hold the run's coordinator lock, as `sweepfirst worker` does."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.coordinator_locks import CoordinatorLocks

runner = CliRunner()


def _snapshot(ctx: Context) -> tuple[str, list[tuple[int, str, int]], int]:
    with ctx.db.session(readonly=True) as session:
        run = run_store.find_run(session)
        jobs = [(j.id, j.state, j.attempts) for j in job_store.list_jobs(session, run.id)]
        return run.phase, jobs, len(job_store.job_events(session, jobs[0][0]))


def test_a_run_driven_elsewhere_is_refused_and_left_unchanged(
    tmp_path: Path, tiny_workflow, tiny_glue_dir: Path
) -> None:
    state = tmp_path / "state"
    common = ["--in-process", "--state-dir", str(state), "--data-dir", str(tiny_glue_dir)]
    workflow = str(tiny_workflow())
    first = runner.invoke(app, ["run", workflow, "--phase", "sweep", *common])
    assert first.exit_code == 0, first.output
    ctx = Context.open(state_dir=state)
    before = _snapshot(ctx)

    other_driver = CoordinatorLocks(ctx.db)  # stands for a live `run` or `worker` elsewhere
    with ctx.db.session(readonly=True) as session:
        run_id = run_store.find_run(session).id
    assert other_driver.try_hold(run_id)
    try:
        refused = runner.invoke(app, ["resume", *common])
        assert refused.exit_code == 1
        assert "already being driven by another live sweepfirst process" in refused.output
        assert "Traceback" not in refused.output
        assert _snapshot(ctx) == before
    finally:
        other_driver.close()

    # Once the other driver is gone, the run goes on from where it was.
    after = runner.invoke(app, ["run", workflow, "--phase", "analysis", *common])
    assert after.exit_code == 0, after.output
    with ctx.db.session(readonly=True) as session:
        assert run_store.selections(session, run_id)
