"""`sweepfirst train`: one experiment, recorded as a job like any other."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DataDir, DbUrl, StateDir, open_context
from sweepfirst.cli.run import InProcess, _finish_message, _stop_flag
from sweepfirst.methods import complete_hyperparameters, get_method, validate_hyperparameters
from sweepfirst.spec import DEFAULT_WORKFLOW, load_workflow


def train(
    task: Annotated[str, typer.Option("--task", help="mrpc, sst2, rte, ...")],
    method: Annotated[str, typer.Option("--method", help="full_finetune or lora")],
    seed: Annotated[int, typer.Option("--seed")] = 42,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    warmup_ratio: Annotated[float | None, typer.Option("--warmup-ratio")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    weight_decay: Annotated[float | None, typer.Option("--weight-decay")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r")] = None,
    lora_alpha: Annotated[float | None, typer.Option("--lora-alpha")] = None,
    lora_dropout: Annotated[float | None, typer.Option("--lora-dropout")] = None,
    workflow: Annotated[Path, typer.Option("--workflow", help="Workflow whose model, data and budgets to use.")] = DEFAULT_WORKFLOW,
    model: Annotated[str | None, typer.Option("--model", help="Hub id, local folder or bundled-minilm.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field.")] = None,
    in_process: InProcess = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Train and score one configuration on the dev split (defaults: the method's baseline)."""
    from sweepfirst.engine.orchestrate import ExecutionOptions, create_train_run, drive

    sets = list(overrides or [])
    if model is not None:
        sets.append(f"model={model}")
    spec = load_workflow(workflow, sets).restricted([task], None)
    info = get_method(method)
    given: dict[str, Any] = {
        "learning_rate": learning_rate, "per_device_train_batch_size": batch_size, "warmup_ratio": warmup_ratio,
        "num_train_epochs": epochs, "weight_decay": weight_decay, "lora_r": lora_r, "lora_alpha": lora_alpha,
        "lora_dropout": lora_dropout,
    }
    given = {k: v for k, v in given.items() if v is not None}
    validate_hyperparameters(info, given, where="sweepfirst train")
    fixed = spec.methods[method].fixed if method in spec.methods else {}
    hyperparameters = complete_hyperparameters(info, {**fixed, **given})
    ctx = open_context(state_dir, db_url, artifacts, data_dir)
    run = create_train_run(ctx, spec, task=task, method=method, seed=seed, hyperparameters=hyperparameters)
    console.info(f"run {run.name}: {task}/{method} seed {seed} {hyperparameters}")
    _flag, is_set = _stop_flag()
    phase = drive(ctx, run, ExecutionOptions(in_process=in_process), notify=console.info, should_stop=is_set)  # type: ignore[arg-type]
    if is_set():  # type: ignore[operator]
        console.fail("Stopped at a checkpoint; continue with `sweepfirst resume`.", code=130)
    _finish_message(ctx, run.id, phase)
