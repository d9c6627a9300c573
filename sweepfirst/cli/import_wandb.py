"""`sweepfirst import wandb ENTITY/PROJECT/SWEEP_ID`: a finished W&B sweep as a run's sweep phase."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DbUrl, StateDir, command_settings, open_context

app = typer.Typer(help="Bring finished sweeps from elsewhere in as runs.", no_args_is_help=True)


@app.command("wandb", **command_settings())
def import_wandb(
    sweep_path: Annotated[str, typer.Argument(metavar="ENTITY/PROJECT/SWEEP_ID", help="The W&B sweep.")],
    task: Annotated[str, typer.Option("--task", help="The task its runs trained: mrpc, sst2, rte ...")],
    method: Annotated[str, typer.Option("--method", help="The workflow's method its runs are: lora, full_finetune ...")],
    workflow: Annotated[Path, typer.Option("--workflow", help="The design (model, data, production seeds) to continue with.")] = Path("workflows/default.yaml"),
    selection_split: Annotated[str | None, typer.Option("--selection-split", help="Where the runs' metric came from: dev (flagged in the report) or train_holdout.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field.")] = None,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
) -> None:
    """Read a W&B sweep and its runs (wandb's public API) and record them as the sweep jobs of a
    new run, ready for `sweepfirst run --phase analysis` and production."""
    from sweepfirst.engine.import_wandb import import_sweep, read_wandb_sweep
    from sweepfirst.spec import load_workflow

    if selection_split not in (None, "dev", "train_holdout"):
        console.fail(f"--selection-split {selection_split} is not dev or train_holdout.", code=2)
    design = load_workflow(workflow, overrides or [], tasks=None, methods=[method])
    sweep = read_wandb_sweep(sweep_path)
    ctx = open_context(state_dir, db_url, artifacts)
    run, succeeded, failed = import_sweep(ctx, design, sweep, task=task, method=method,
                                          selection_split=selection_split)
    console.success(f"run {run.name}: {succeeded} W&B runs recorded as sweep jobs, {failed} failed ones as "
                    f"failed; continue with `sweepfirst run --phase analysis --state-dir {ctx.state_dir}`.")
