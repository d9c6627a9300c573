"""`sweepfirst import wandb`: a finished W&B sweep, read with the real wandb.Api client from a
local stand-in of W&B's server, becomes a run; its analysis picks W&B's best run; production follows."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

_spec = importlib.util.spec_from_file_location("wandb_standin", Path(__file__).with_name("wandb_standin.py"))
assert _spec is not None and _spec.loader is not None
standin = importlib.util.module_from_spec(_spec)
sys.modules["wandb_standin"] = standin  # dataclasses look their module up there
_spec.loader.exec_module(standin)

runner = CliRunner()
SWEEP_YAML = """
method: random
metric: {name: eval/accuracy, goal: maximize}
parameters:
  lr: {values: [1e-3, 2e-3, 3e-3, 5e-3]}
  batch_size: {values: [4, 8]}
  warmup_ratio: {values: [0.0, 0.1]}
  epochs: {value: 1}
  r: {value: 4}
  lora_alpha: {value: 8}
"""
#: W&B's best run: the highest eval/accuracy among the finished ones.
BEST = 6


def wandb_runs() -> list[Any]:
    combos = list(itertools.product([1e-3, 2e-3, 3e-3, 5e-3], [4, 8], [0.0, 0.1]))[:12]
    runs = []
    for i, (lr, bs, warmup) in enumerate(combos):
        config = {"lr": lr, "batch_size": bs, "warmup_ratio": warmup, "epochs": 1, "r": 4, "lora_alpha": 8,
                  "output_dir": "/tmp/out", "_wandb": {"cli_version": "0.31.0"}}
        if i in (3, 9):  # two crashed runs: no result
            runs.append(standin.StandInRun(f"run{i:02d}", "crashed", config, {"_step": 2}))
            continue
        accuracy = 0.9 if i == BEST else 0.5 + 0.01 * i
        history = [{"_step": s, "eval/accuracy": accuracy - 0.05 * (2 - s)} for s in (1, 2)]
        runs.append(standin.StandInRun(f"run{i:02d}", "finished", config,
                                       {"eval/accuracy": accuracy, "eval/loss": 1 - accuracy, "train/loss": 0.3,
                                        "_step": 2}, history))
    return runs


@pytest.fixture
def wandb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    sweeps = [standin.StandInSweep("team", "glue", "sw12", SWEEP_YAML, wandb_runs()),
              standin.StandInSweep("team", "glue", "nometric", SWEEP_YAML,
                                   [standin.StandInRun("x1", "finished", {"lr": 1e-3}, {"train/loss": 0.7})])]
    with standin.WandbStandIn(sweeps) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
        yield server
    assert server.unanswered == [], f"queries the stand-in does not answer: {server.unanswered}"


def test_a_wandb_sweep_becomes_a_run_whose_analysis_picks_wandbs_best(
    tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path, engine_workflow_dict: Any, wandb_server: Any
) -> None:
    workflow = engine_workflow_dict(tiny_bert_dir, drift=False, **{
        "seeds.production": [42], "training.save_final_model": False, "data.max_train_samples": 24,
        "data.max_eval_samples": 16})
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(workflow))
    state = tmp_path / "state"
    common = ["--task", "mrpc", "--method", "lora", "--workflow", str(path), "--state-dir", str(state)]

    result = runner.invoke(app, ["import", "wandb", "team/glue/sw12", *common])
    assert result.exit_code == 2 and "say which with --selection-split dev" in " ".join(result.output.split())
    result = runner.invoke(app, ["import", "wandb", "team/glue/nometric", *common, "--selection-split", "dev"])
    assert result.exit_code == 2 and "No finished run of W&B sweep team/glue/nometric logged its metric 'eval/accuracy'" in " ".join(result.output.split())

    result = runner.invoke(app, ["import", "wandb", "team/glue/sw12", *common, "--selection-split", "dev"])
    assert result.exit_code == 0, result.output
    assert "10 W&B runs recorded as sweep jobs, 2 failed ones as failed" in " ".join(result.output.split())
    assert {"Viewer", "GetSweep", "Runs", "Run", "RunSampledHistory"} <= set(wandb_server.queries)

    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        assert run.phase == Phase.ANALYSIS.value and run.spec["selection"]["split"] == "dev"
        jobs = job_store.list_jobs(session, run.id)
    assert [j.state for j in jobs].count("succeeded") == 10 and [j.state for j in jobs].count("failed") == 2
    by_wandb = {j.provenance["wandb_run_name"]: j for j in jobs}
    assert "crashed" in by_wandb["run03"].error
    best = by_wandb[f"run{BEST:02d}"]
    assert best.score == 0.9 and best.metrics["eval_accuracy"] == 0.9 and best.provenance["wandb_run_id"] == "run06"
    assert [row["eval/accuracy"] for row in best.provenance["history"].values()] == [0.85, 0.9]
    # The W&B names, under the vocabulary's: the 7th combination, lr 2e-3, batch 8, warmup 0.
    assert best.hyperparameters == {"learning_rate": 2e-3, "per_device_train_batch_size": 8, "warmup_ratio": 0.0,
                                    "num_train_epochs": 1, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}

    result = runner.invoke(app, ["run", "--phase", "analysis", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "chosen from 10 of 12 planned trials; lost: trial 3 (failed: W&B run run03 crashed)" in " ".join(result.output.split())
    result = runner.invoke(app, ["run", "--phase", "production", "--in-process", "--state-dir", str(state),
                                 "--data-dir", str(tiny_glue_dir)])
    assert result.exit_code == 0, result.output
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        chosen = run_store.selections(session, run.id)[("mrpc", "lora")]
        production = [j for j in job_store.list_jobs(session, run.id) if j.phase == JobPhase.PRODUCTION.value]
    assert chosen.hyperparameters == best.hyperparameters and chosen.split == "dev"
    assert [(j.state, j.hyperparameters) for j in production] == [("succeeded", best.hyperparameters)]
    assert run.phase == Phase.COMPLETED.value
    report = json.loads((ctx.run_dir(run.name) / "report" / "report.json").read_text())
    assert report["run"]["selection_on_dev"] is True
