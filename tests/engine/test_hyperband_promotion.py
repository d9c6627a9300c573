"""ASHA's promotions in a real sweep run in one process: trials pause at their rung, the ones
later arrivals rank in the top third resume from their checkpoints, and the sweep ends with a
trial trained to the end even though every trial was paused on the way."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.search.config import parse_sweep_config
from sweepfirst.search.hyperband import Hyperband, RungScore
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

GRID_WITH_HYPERBAND = {
    "method": "grid",
    "metric": {"name": "eval_loss", "goal": "minimize"},
    # Rungs at evaluations 1 and 3 of 4, eta 3: the first two trials at a rung always pause, and at
    # most two reach rung 3, so the sweep only ends with a trained trial if promotions work.
    "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
    "parameters": {
        "learning_rate": {"values": [1.0e-5, 1.0e-4, 1.0e-3, 3.0e-3]},
        "per_device_train_batch_size": {"value": 8},
        "num_train_epochs": {"value": 1},
    },
}


def test_paused_trials_are_promoted_and_resume_from_their_checkpoints(
    tmp_path: Path, tiny_workflow, tiny_glue_dir: Path
) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(GRID_WITH_HYPERBAND))
    workflow = tiny_workflow(**{"training.evaluations_per_epoch": 4, "data.max_train_samples": 64})
    state = tmp_path / "state"
    result = CliRunner().invoke(app, [
        "run", str(workflow), "--methods", "full_finetune", "--sweep-config", f"full_finetune={sweep_file}",
        "--phase", "sweep", "--in-process", "--state-dir", str(state), "--data-dir", str(tiny_glue_dir),
    ])
    assert result.exit_code == 0, result.output
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        sweep = job_store.list_jobs(session, run.id, phase=job_store.JobPhase.SWEEP)
        rows = {j.id: job_store.job_events(session, j.id) for j in sweep}
    events = {job_id: [e.event for e in job_rows] for job_id, job_rows in rows.items()}
    assert len(sweep) == 4
    # One job at a time, so trials reach rung 1 in the order they were first claimed, each ranked
    # against those before it: every one paused there exactly when ASHA's rule says it should
    # (the first two always: below eta scores nobody is in the top third).
    hyperband = Hyperband(parse_sweep_config(GRID_WITH_HYPERBAND, where="sweep.yaml"))
    by_arrival = sorted(sweep, key=lambda j: rows[j.id][0].id)
    for place, job in enumerate(by_arrival):
        earlier = [RungScore(j.intermediate["1"], j.intermediate_loss["1"]) for j in by_arrival[:place]]
        own = RungScore(job.intermediate["1"], job.intermediate_loss["1"])
        paused_at_1 = any(e.detail == "pruned at evaluation 1" for e in rows[job.id])
        assert paused_at_1 == hyperband.decide(1, own, earlier).stop, (place, events)
    assert all(events[j.id][:2] == ["claimed", "pruned"] for j in by_arrival[:2]), events
    promoted = [j for j in sweep if "promoted" in events[j.id]]
    assert promoted and "promoted at evaluation" in result.output
    finished = [j for j in sweep if j.state == "succeeded"]
    assert len(finished) >= 1 and all(j in promoted for j in finished)
    assert all(j.state in ("succeeded", "pruned") for j in sweep)
    for job in finished:  # it trained on from where it paused, through every evaluation
        record = json.loads((ctx.job_dir(job.output_dir) / "job.json").read_text())
        assert record["resumed_from"] and record["global_step"] == 8, record
        assert sorted(int(k) for k in job.intermediate) == [1, 2, 3, 4]
        assert job.promoted_rung in (1, 3)
