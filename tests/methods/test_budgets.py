"""Budgets as researchers think of them: a sweep without run_cap runs until its budget is spent."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.errors import SpecError
from sweepfirst.spec import validate_workflow
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

runner = CliRunner()


def test_a_train_steps_budget_ends_an_open_sweep_and_the_analysis_states_the_spend(
    tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path, engine_workflow_dict: Any
) -> None:
    workflow = engine_workflow_dict(tiny_bert_dir, drift=False, budget={"train_steps": 8}, **{
        "seeds.production": [42], "training.save_final_model": False,
        "data.max_train_samples": 24, "data.max_eval_samples": 16})
    lora = workflow["methods"]["lora"]
    del lora["sweep"]["run_cap"]  # a continuous learning rate: W&B would run until stopped
    workflow["methods"] = {"lora": lora}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(workflow))
    state = tmp_path / "state"
    result = runner.invoke(app, ["run", str(path), "--in-process", "--state-dir", str(state),
                                 "--data-dir", str(tiny_glue_dir)])
    assert result.exit_code == 0, result.output
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        assert run.phase == Phase.COMPLETED.value
        jobs = job_store.list_jobs(session, run.id)
    sweep = [j for j in jobs if j.phase == JobPhase.SWEEP.value]
    # 24 examples (the selection split is held out of MRPC's 120 rows first), batch 8, 1 epoch:
    # ceil(24/8) = 3 optimizer steps per trial; trials start until 8 steps are spent: 3 trials.
    steps_per_trial = math.ceil(24 / 8)
    assert [j.provenance["global_step"] for j in sweep] == [steps_per_trial] * math.ceil(8 / steps_per_trial)
    seconds = sum(j.runtime_s for j in sweep)
    line = " ".join(result.output.split())
    assert f"chosen from 3 of 3 planned trials; budget 8 training steps; spent 3 trials, 9 training steps, {seconds:.0f} s" in line

    # `plan` now estimates from what this machine measured, by status's rule: examples per second
    # of finished jobs' wall time (every job trained 24 examples x 1 epoch).
    planned = runner.invoke(app, ["plan", str(path), "--run-cap", "2", "--state-dir", str(state),
                                  "--data-dir", str(tiny_glue_dir), "--json"])
    assert planned.exit_code == 0, planned.output
    (cell,) = json.loads(planned.output)["cells"]
    finished = [j for j in jobs if j.state == "succeeded"]
    per_second = 24 * 1 * len(finished) / sum(j.runtime_s for j in finished)
    assert cell["examples_per_second"] == pytest.approx(per_second)
    # 2 trials x 3 steps, then production on all 24 examples: 3 steps.
    assert cell["total_steps"] == 2 * 3 + 3
    # The work: 2 trials and 1 production seed, 24 examples x 1 epoch each.
    assert cell["work"] == 3 * 24
    assert cell["estimated_seconds"] == pytest.approx(3 * 24 / per_second)


def _design(**extra: Any) -> dict[str, Any]:
    sweep = {"method": "random", "parameters": {"learning_rate": {"min": 1e-5, "max": 1e-3}}}
    return {"name": "b", "model": "bundled-minilm", "tasks": ["mrpc"],
            "methods": {"full_finetune": {"sweep": dict(sweep)}, "lora": {"sweep": dict(sweep)}}, **extra}


def test_budgets_are_equal_by_default_and_unequal_ones_are_named() -> None:
    workflow = validate_workflow(_design(budget={"trials": 24}), source="w")
    assert workflow.method_budget("lora") == workflow.method_budget("full_finetune")
    assert workflow.budget_warnings() == []
    raw = _design(budget={"hours": 6})
    raw["methods"]["lora"]["budget"] = {"hours": 2}
    warnings = validate_workflow(raw, source="w").budget_warnings()
    assert warnings == ["the methods get unequal budgets (full_finetune 6 h, lora 2 h); the comparison favours the larger one."]
    with pytest.raises(SpecError, match="runs until a budget stops it"):
        validate_workflow(_design(), source="w")
    with pytest.raises(SpecError, match="a budget needs trials, train_steps or hours"):
        validate_workflow(_design(budget={}), source="w")
