"""SQuAD v2 through the whole pipeline via the CLI: sweep -> analysis -> production -> report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context


def squad_workflow(model_dir: Path) -> dict[str, Any]:
    """Both methods, one trial each, one production seed; GLUE-sized max_seq_length on purpose."""
    fixed = {"per_device_train_batch_size": {"value": 8}, "num_train_epochs": {"value": 1}}
    return {
        "name": "tiny-squad",
        "model": str(model_dir),
        "tasks": ["squad_v2"],
        "methods": {
            "full_finetune": {
                "sweep": {
                    "method": "random",
                    "run_cap": 1,
                    "parameters": {"learning_rate": {"value": 1.0e-3}, **fixed},
                }
            },
            "lora": {
                "sweep": {
                    "method": "random",
                    "run_cap": 1,
                    "parameters": {
                        "learning_rate": {"value": 3.0e-3},
                        "lora_r": {"value": 4},
                        "lora_alpha": {"value": 8},
                        **fixed,
                    },
                }
            },
        },
        "seeds": {"sweep": [0], "production": [42]},
        "data": {"source": "local", "max_seq_length": 64},
        "training": {"evaluations_per_epoch": 2, "lease_seconds": 10},
        "wandb": {"mode": "disabled"},
    }


def test_squad_v2_runs_every_phase_from_the_glue_data_dir(
    tmp_path: Path, tiny_bert_dir: Path, tiny_data_root: Path
) -> None:
    workflow = tmp_path / "squad.yaml"
    workflow.write_text(yaml.safe_dump(squad_workflow(tiny_bert_dir)))
    state = tmp_path / "state"
    # The GLUE folder as --data-dir: SQuAD's folder next to it is found, so one --data-dir serves
    # a workflow with GLUE tasks and squad_v2 alike.
    args = ["run", str(workflow), "--in-process", "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tiny_data_root / "glue")])
    assert result.exit_code == 0, result.output

    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        jobs = job_store.list_jobs(session, run.id)
        chosen = run_store.selections(session, run.id)
    assert run.phase == Phase.COMPLETED.value
    assert all(job.state == "succeeded" for job in jobs)
    assert set(chosen) == {("squad_v2", "full_finetune"), ("squad_v2", "lora")}
    production = [j for j in jobs if j.phase == JobPhase.PRODUCTION.value]
    assert len(production) == 2
    for job in jobs:
        assert job.score == job.metrics["eval_f1"]  # the sweep and the report rank by F1
        details = json.loads((ctx.job_dir(job.output_dir) / "metrics.json").read_text())
        assert details["extra"]["max_seq_length"] == 384  # raised from the workflow's 64
        expected = "dev" if job.phase == JobPhase.PRODUCTION.value else "selection"
        assert details["eval_split"] == expected
        assert (ctx.job_dir(job.output_dir) / "predictions.jsonl").is_file()

    run_dir = ctx.run_dir(run.name)
    exported = yaml.safe_load((run_dir / "optimal_hyperparameters.yaml").read_text())
    cell = exported["optimal_hyperparameters"]["squad_v2"]["lora"]
    assert cell["selection_metric"] == "eval_f1"
    assert {"eval_exact", "eval_f1", "eval_HasAns_f1", "eval_NoAns_f1"} <= set(
        cell["expected_performance"]
    )
    shell = (run_dir / "optimal_hyperparams.sh").read_text()
    assert "export SQUAD_V2_FULLFINETUNE_LR=" in shell and "export SQUAD_V2_LORA_R=" in shell
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {(s["task"], s["method"]) for s in summary} >= {
        ("squad_v2", "full_finetune"),
        ("squad_v2", "lora"),
    }
