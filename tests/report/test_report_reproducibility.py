"""The same workflow run twice (tiny BERT, a tiny GLUE-format MRPC) chooses the same
configurations and gets the same production metrics; each run writes its HTML report itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recorded_run import write_glue_mrpc

from sweepfirst.engine.orchestrate import ExecutionOptions, choose_run, drive
from sweepfirst.spec import validate_workflow
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

#: Metric names that measure the machine, not the model.
TIMING_SUFFIXES = ("_runtime", "_per_second")


def tiny_workflow(model: Path) -> dict[str, Any]:
    """Both methods, a random sweep of 2 learning rates each, 2 production seeds, one epoch."""
    sweep = {"method": "random", "run_cap": 2, "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-3},
        "per_device_train_batch_size": {"value": 8}, "num_train_epochs": {"value": 1}}}
    lora_sweep = {**sweep, "parameters": {**sweep["parameters"], "lora_r": {"value": 4}}}
    return {
        "name": "repro",
        "model": str(model),
        "tasks": ["mrpc"],
        "methods": {"full_finetune": {"sweep": sweep}, "lora": {"sweep": lora_sweep}},
        "seeds": {"sweep": [0], "production": [1, 2]},
        "selection": {"fraction": 0.25},
        "data": {"source": "local", "max_seq_length": 32},
        "training": {"evaluations_per_epoch": 2, "save_checkpoints": False, "precision": "fp32"},
        "wandb": {"mode": "disabled"},
    }


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """A tiny model on a shared 2-core machine trains several times faster on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _quality(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics that describe the model; eval_runtime and throughput depend on the machine."""
    return {k: v for k, v in metrics.items() if not k.endswith(TIMING_SUFFIXES)}


def _run_once(state_dir: Path, data_dir: Path, model: Path) -> tuple[dict[Any, Any], ...]:
    workflow = validate_workflow(tiny_workflow(model), source="test")
    ctx = Context.open(state_dir=state_dir, data_dir=data_dir)
    run, created = choose_run(ctx, workflow, new_run=False, phase=None)
    assert created
    assert drive(ctx, run, ExecutionOptions(in_process=True)) is Phase.COMPLETED
    with ctx.db.session() as session:
        selections = {key: (s.hyperparameters, s.score)
                      for key, s in run_store.selections(session, run.id).items()}
        production = {(j.task, j.method, j.seed): _quality(j.metrics)
                      for j in job_store.list_jobs(session, run.id, phase=JobPhase.PRODUCTION)}
    assert (ctx.run_dir(run.name) / "report" / "report.html").is_file()
    assert (ctx.run_dir(run.name) / "summary.md").is_file()
    return selections, production


def test_the_same_workflow_twice_gives_the_same_choices_and_scores(
    tmp_path: Path, tiny_bert_dir: Path, one_torch_thread: None
) -> None:
    data_dir = write_glue_mrpc(tmp_path / "glue", rows=32)
    first = _run_once(tmp_path / "first", data_dir, tiny_bert_dir)
    second = _run_once(tmp_path / "second", data_dir, tiny_bert_dir)
    selections, production = first
    assert set(selections) == {("mrpc", "full_finetune"), ("mrpc", "lora")}
    assert len(production) == 4 and all("eval_accuracy" in m for m in production.values())
    assert second == first
