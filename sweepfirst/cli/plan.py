"""`sweepfirst plan`: everything `run` would check, and what it would cost, without training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import DataDir, DbUrl, JsonFlag, RunCap, StateDir
from sweepfirst.formatting import rough_duration

if TYPE_CHECKING:
    # Loaded when the command runs, not for `--help` (pydantic, SQLAlchemy).
    from sweepfirst.engine.forecast import CellForecast, Forecast
    from sweepfirst.spec import Workflow



def plan(
    workflow: Annotated[Path | None, typer.Argument(help="Workflow YAML [default: workflows/default.yaml].", show_default=False)] = None,
    tasks: Annotated[list[str] | None, typer.Option("--tasks", help="Only these tasks: --tasks mrpc sst2.")] = None,
    methods: Annotated[list[str] | None, typer.Option("--methods", help="Only these methods: --methods full_finetune lora.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field: --set data.max_train_samples=512.")] = None,
    sweep_configs: Annotated[list[str] | None, typer.Option("--sweep-config", help="A W&B sweep YAML for one method: --sweep-config lora=sweep.yaml (or FILE for the one method).")] = None,
    run_cap: RunCap = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Validate a workflow as `run` would (sweep files, names, data, model) and print the jobs per
    phase, their training steps and an estimated time; trains nothing and records no run."""
    from sweepfirst.engine.forecast import forecast

    spec = load_design(workflow, overrides, sweep_configs, tasks, methods, run_cap)
    check_model(spec)
    from sweepfirst.training.data_check import check_workflow_data

    check_workflow_data(spec, data_dir)
    result = forecast(spec, data_dir, None)
    result = _with_throughput(result, spec, state_dir, db_url, data_dir)
    if as_json:
        console.print_json(result.as_json())
        return
    for warning in [*result.warnings, *_precision_warnings(spec)]:
        console.warn(warning)
    _print(result)


def _precision_warnings(spec: Workflow) -> list[str]:
    """fp16 (often set by a sweep's `fp16: 1`) needs a CUDA GPU where the jobs run; say so when
    this machine has none (it may only be the one that plans)."""
    if spec.training.precision != "fp16":
        return []
    import torch

    if torch.cuda.is_available():
        return []
    return [("training.precision is fp16, which needs a CUDA GPU, and this machine has none: jobs "
             "that run here will fail; plan on the GPU machines, or --set training.precision=auto.")]


def load_design(workflow: Path | None, overrides: list[str] | None, sweep_configs: list[str] | None,
                tasks: list[str] | None, methods: list[str] | None, run_cap: int | None) -> Workflow:
    """The design `run` would run: the file, narrowed to --tasks/--methods before it is checked,
    with --set, --sweep-config and --run-cap applied."""
    from sweepfirst.spec import DEFAULT_WORKFLOW, load_workflow, parse_sweep_config_options

    sets = [*(overrides or []), *([f"budget.trials={run_cap}"] if run_cap is not None else [])]
    return load_workflow(
        workflow or DEFAULT_WORKFLOW, sets, parse_sweep_config_options(sweep_configs or []),
        tasks=tasks, methods=methods,
    )


def check_model(spec: Workflow) -> None:
    """The model exists here (the bundled one installed, a folder present, a Hub id cached when
    offline), and has every model-config dropout a sweep names."""
    import os

    from sweepfirst.errors import ModelError
    from sweepfirst.training.models import resolve_model_name

    source = resolve_model_name(spec.model)
    dropouts = _model_dropouts(spec)
    if not Path(source).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(source, "config.json"), str):
            raise ModelError(
                f"The model {spec.model!r} is not in the Hugging Face cache and HF_HUB_OFFLINE=1; "
                "download it once with network access, or use a local folder or 'bundled-minilm'."
            )
    if not dropouts:
        return
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    missing = sorted(name for name in dropouts if not hasattr(config, name))
    if missing:
        have = sorted(k for k in config.to_dict() if "dropout" in k)
        raise ModelError(
            f"The model {spec.model!r} ({config.model_type}) has no {', '.join(missing)}; its "
            f"dropouts are {', '.join(have) or 'none'}: use one of those names in the sweep."
        )


def _model_dropouts(spec: Workflow) -> set[str]:
    from sweepfirst.methods import get_method
    from sweepfirst.sweep_config import sweep_config_for

    names: set[str] = set()
    for name, method_spec in spec.methods.items():
        method = get_method(name, method_spec.peft)
        for param in sweep_config_for(spec, spec.tasks[0], name).parameters:
            knob = method.knob(param.path[0])
            if knob is not None and knob.category == "model_config":
                names.add(knob.target)
    return names


def _with_throughput(result: Forecast, spec: Workflow, state_dir: Path | None, db_url: str | None,
                     data_dir: Path | None) -> Forecast:
    """Time estimates from the state database, if there is one (plan never creates it)."""
    from sweepfirst.cli.options import open_context
    from sweepfirst.engine.forecast import forecast
    from sweepfirst.errors import NoState
    from sweepfirst.job_progress import read_progress

    try:
        ctx = open_context(state_dir, db_url, None, data_dir, create=False)
    except NoState:
        return result
    with ctx.db.session(readonly=True) as session:
        return forecast(spec, data_dir, session, lambda job: read_progress(ctx.job_dir(job.output_dir)))


def _print(result: Forecast) -> None:
    from rich.table import Table

    table = Table(title=f"plan of {result.workflow}")
    for column in ("task", "method", "search", "budget", "sweep jobs", "production jobs", "training steps", "estimate"):
        table.add_column(column)
    for cell in result.cells:
        table.add_row(
            cell.task, cell.method, cell.search, cell.budget,
            "open" if cell.sweep_jobs is None else str(cell.sweep_jobs),
            str(cell.production_jobs + cell.baseline_jobs),
            "unknown" if cell.total_steps is None else f"{cell.total_steps:,}",
            rough_duration(cell.estimated_seconds),
        )
    console.print_table(table)
    for cell in _first_per_method(result.cells):
        if cell.renamed:
            console.info(f"{cell.method}: " + ", ".join(f"{a} -> {b}" for a, b in cell.renamed))
        if cell.ignored:
            from sweepfirst.search.config import describe_ignored

            console.info(f"{cell.method}: sweep parameters with no effect here: {describe_ignored(cell.ignored)}")
        for note in cell.notes:
            console.info(f"{cell.method}: {note}")
    total = [c.estimated_seconds for c in result.cells]
    known = [t for t in total if t is not None]
    if known and len(known) == len(total):
        console.info(f"estimated time with one worker: {rough_duration(sum(known))} (from this machine's recorded runs)")
    elif not known:
        console.info("no time estimate: this state directory has no finished jobs of this model to measure")
    console.success(f"plan ok: {sum(c.sweep_jobs or 0 for c in result.cells)} sweep jobs, "
                    f"{sum(c.production_jobs + c.baseline_jobs for c in result.cells)} production jobs; "
                    "nothing was trained or recorded")


def _first_per_method(cells: list[CellForecast]) -> list[CellForecast]:
    seen: dict[str, CellForecast] = {}
    for cell in cells:
        seen.setdefault(cell.method, cell)
    return list(seen.values())
