"""`sweepfirst train`: one experiment, recorded as a job like any other."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sweepfirst.cli import console
from sweepfirst.cli.driving import InProcess, finish_message, stop_flag
from sweepfirst.cli.options import Artifacts, DataDir, DbUrl, StateDir, open_context
from sweepfirst.errors import NoState

if TYPE_CHECKING:
    # The store and the workflow model (SQLAlchemy, pydantic) load when the command runs, not for --help.
    from sweepfirst.spec import Workflow
    from sweepfirst.store.context import Context


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
    workflow: Annotated[Path | None, typer.Option("--workflow", help="Workflow whose model, data and budgets to use [default: the current run's design].", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", help="Hub id, local folder or bundled-minilm.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field.")] = None,
    in_process: InProcess = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Train and score one configuration on the dev split (defaults: the method's baseline)."""
    from sweepfirst.engine.orchestrate import (
        ExecutionOptions,
        create_train_run,
        drive,
        launch_record,
    )
    from sweepfirst.methods import complete_hyperparameters, get_method, validate_hyperparameters

    # One experiment may use any registered task, listed in the design or not.
    sets = [*(overrides or []), f"tasks=[{task}]"]
    if model is not None:
        sets.append(f"model={model}")
    # Without a workflow the design comes from recorded state: never create an empty one to look.
    try:
        ctx = open_context(state_dir, db_url, artifacts, data_dir, create=workflow is not None)
    except NoState:
        console.fail(_NO_DESIGN.format(where=state_dir or "the state dir"), code=2)
    spec = _design(ctx, workflow, sets)
    info = get_method(method, spec.methods[method].peft if method in spec.methods else None)
    given: dict[str, Any] = {
        "learning_rate": learning_rate, "per_device_train_batch_size": batch_size, "warmup_ratio": warmup_ratio,
        "num_train_epochs": epochs, "weight_decay": weight_decay, "lora_r": lora_r, "lora_alpha": lora_alpha,
        "lora_dropout": lora_dropout,
    }
    given = {k: v for k, v in given.items() if v is not None}
    validate_hyperparameters(info, given, where="sweepfirst train")
    fixed = spec.methods[method].fixed if method in spec.methods else {}
    hyperparameters = complete_hyperparameters(info, {**fixed, **given})
    execution = ExecutionOptions(in_process=in_process)
    run = create_train_run(ctx, spec, task=task, method=method, seed=seed, hyperparameters=hyperparameters,
                           launch=launch_record(ctx, execution))
    console.info(f"run {run.name}: {task}/{method} seed {seed} {hyperparameters}")
    is_set = stop_flag()
    phase = drive(ctx, run, execution, notify=console.info, should_stop=is_set)
    if is_set():
        console.fail("Stopped at a checkpoint; continue with `sweepfirst resume`.", code=130)
    finish_message(ctx, run.id, phase)


_NO_DESIGN = ("`sweepfirst train` needs a design and {where} holds no run to take it from; pass "
              "--workflow FILE (e.g. --workflow workflows/quickstart.yaml).")


def _design(ctx: Context, workflow: Path | None, sets: list[str]) -> Workflow:
    """--workflow FILE, else the design of the state dir's current run -- never a silent default
    (bert-base from the Hub is minutes of failing on a machine without it)."""
    from sweepfirst.engine.orchestrate import latest_workflow_run
    from sweepfirst.spec import load_workflow

    if workflow is not None:
        return load_workflow(workflow, sets)
    with ctx.db.session(readonly=True) as session:
        latest = latest_workflow_run(session)
    if latest is None:
        console.fail(_NO_DESIGN.format(where=ctx.state_dir), code=2)
    import copy

    from sweepfirst.spec import apply_overrides, validate_workflow

    console.info(f"using the design of run {latest.name} ({latest.workflow_name})")
    return validate_workflow(apply_overrides(copy.deepcopy(latest.spec), sets), source=f"run {latest.name}")
