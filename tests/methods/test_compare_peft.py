"""workflows/compare-peft.yaml end to end on a tiny BERT: full FT, head only, LoRA, DoRA, IA3."""

from __future__ import annotations

import itertools
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

REPO = Path(__file__).resolve().parents[2]
METHODS = ("full_finetune", "head_only", "lora", "dora", "ia3")


def tiny_compare_peft(model_dir: Path) -> dict[str, Any]:
    """The shipped workflow with the tiny model, the tiny data and one trial per method."""
    workflow = yaml.safe_load((REPO / "workflows" / "compare-peft.yaml").read_text())
    assert tuple(workflow["methods"]) == METHODS
    for spec in workflow["methods"].values():
        spec["sweep"]["parameters"].update(per_device_train_batch_size={"value": 8}, num_train_epochs={"value": 1})
    workflow.update(model=str(model_dir), tasks=["mrpc"], budget={"trials": 1}, drift=False,
                    seeds={"sweep": [0], "production": [42, 1337]},
                    data={"source": "local", "max_seq_length": 32, "max_train_samples": 48, "max_eval_samples": 32},
                    training={"evaluations_per_epoch": 1, "lease_seconds": 10, "save_final_model": False},
                    wandb={"mode": "disabled"})
    return workflow


def test_compare_peft_runs_end_to_end_and_the_report_compares_every_pair(
    tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path
) -> None:
    path = tmp_path / "compare-peft.yaml"
    path.write_text(yaml.safe_dump(tiny_compare_peft(tiny_bert_dir)))
    state = tmp_path / "state"
    result = CliRunner().invoke(app, ["run", str(path), "--in-process", "--state-dir", str(state),
                                      "--data-dir", str(tiny_glue_dir)])
    assert result.exit_code == 0, result.output
    # The analysis line states each method's budget and what it spent, next to its choice.
    for method in METHODS:
        assert f"mrpc/{method}: trial 0" in result.output
    assert result.output.count("budget 1 trials; spent 1 trials") == len(METHODS)
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        assert run.phase == Phase.COMPLETED.value
        jobs = job_store.list_jobs(session, run.id)
    production = [j for j in jobs if j.phase == JobPhase.PRODUCTION.value]
    assert sorted((j.method, j.seed) for j in production) == sorted(itertools.product(METHODS, (42, 1337)))
    assert all(j.state == "succeeded" for j in jobs)
    # What each method trained, as the job recorded it (trainable parameters of the model it built).
    trainable = {}
    for job in production:
        record = json.loads((ctx.job_dir(job.output_dir) / "metrics.json").read_text())
        trainable[job.method] = (record["extra"]["trainable_parameters"], record["extra"]["total_parameters"])
    full_trainable, full_total = trainable["full_finetune"]
    assert full_trainable == full_total
    # head_only: BERT's classifier only, hidden size 32 x 2 labels + 2 biases.
    assert trainable["head_only"][0] == 32 * 2 + 2
    assert trainable["ia3"][0] < trainable["lora"][0] < trainable["dora"][0] < full_trainable
    report = json.loads((ctx.run_dir(run.name) / "report" / "report.json").read_text())
    (task,) = report["tasks"]
    pairs = {frozenset((c["method_a"], c["method_b"])) for c in task["comparisons"]}
    assert pairs == {frozenset(p) for p in itertools.combinations(METHODS, 2)}
    # The report states every method's budget and what its sweep spent.
    notes = {cell["method"]: cell["budget_note"] for cell in task["methods"]}
    assert set(notes) == set(METHODS)
    assert all(note.startswith("budget 1 trials; spent 1 trials, ") for note in notes.values())
    html = (ctx.run_dir(run.name) / "report" / "report.html").read_text()
    assert "Sweep budgets and what each sweep spent: " in html
    assert html.count("budget 1 trials; spent 1 trials, ") == len(METHODS)
