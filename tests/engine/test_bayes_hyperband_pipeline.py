"""A W&B sweep YAML with `method: bayes` and hyperband early termination, unchanged, through
sweep -> analysis -> production with two worker processes: some trials are pruned, no trial runs
twice, the sweep ends with no promotion left due, and `status` shows the pruned ones.

Which trials pause and which get promoted depends on the order the two workers report in, so
this test checks what holds whatever the order: ASHA's end state. That a promotion resumes from
its checkpoint is pinned down in one process, where the order is fixed
(test_hyperband_promotion.py)."""

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

WANDB_SWEEP = {
    "program": "train.py",  # only W&B's agent uses it: accepted and reported unused
    "method": "bayes",
    "metric": {"name": "eval_loss", "goal": "minimize"},
    "run_cap": 6,
    "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-5, "max": 1.0e-2},
        "per_device_train_batch_size": {"value": 8},
        "num_train_epochs": {"value": 1},
    },
}


def test_bayes_with_hyperband_and_two_workers(tmp_path: Path, tiny_workflow, tiny_glue_dir: Path) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(WANDB_SWEEP))
    workflow = tiny_workflow(**{"training.evaluations_per_epoch": 4, "seeds.production": [42],
                                "data.max_train_samples": 96})
    state = tmp_path / "state"
    result = CliRunner().invoke(app, [
        "run", str(workflow), "--methods", "full_finetune", "--sweep-config", f"full_finetune={sweep_file}",
        "--workers", "2", "--state-dir", str(state), "--data-dir", str(tiny_glue_dir),
    ])
    assert result.exit_code == 0, result.output
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        jobs = job_store.list_jobs(session, run.id)
        sweep = [j for j in jobs if j.phase == "sweep"]
        events = {j.id: [e.event for e in job_store.job_events(session, j.id)] for j in jobs}
    assert run.phase == "completed"
    assert len(sweep) == 6
    assert len({j.config_hash for j in sweep}) == 6  # no two jobs ran the same trial
    # One claim per job, and one more per promotion: a job never ran twice at once or again.
    assert all(e.count("claimed") == 1 + e.count("promoted") for e in events.values()), events
    hyperband = Hyperband(parse_sweep_config(WANDB_SWEEP, where="sweep.yaml"))
    for rung in hyperband.rungs:  # settled: no paused trial is due a promotion at any rung
        key = str(rung)
        scores = {j.id: RungScore(j.intermediate[key], (j.intermediate_loss or {}).get(key))
                  for j in sweep if key in j.intermediate}
        paused = {j.id for j in sweep
                  if j.state == "pruned" and hyperband.paused_rung({int(k) for k in j.intermediate}) == rung}
        assert hyperband.promotable(scores, paused, settled=True) == [], (rung, scores, paused)
    assert any(j.state == "succeeded" for j in sweep)  # one trial trained to the end, at least
    promoted = [j for j in sweep if "promoted" in events[j.id]]
    for job in promoted:  # continued from the checkpoint it was paused at, not from scratch
        record = json.loads((ctx.job_dir(job.output_dir) / "job.json").read_text())
        assert record["resumed_from"], record
    pruned = [j for j in sweep if j.state == "pruned"]
    assert pruned, [(j.state, j.intermediate) for j in sweep]
    assert all(j.state in ("succeeded", "pruned") for j in sweep)
    status = CliRunner().invoke(app, ["status", "--json", "--state-dir", str(state)])
    cells = json.loads(status.output)["cells"]
    assert sum(c["counts"]["pruned"] for c in cells if c["phase"] == "sweep") == len(pruned)
    table = CliRunner().invoke(app, ["status", "--state-dir", str(state)])
    assert "pruned" in table.output
