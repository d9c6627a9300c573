"""`sweepfirst analyze`: the chosen configurations, exported in the seed format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import DbUrl, StateDir, open_context
from sweepfirst.errors import PhaseNotReady
from sweepfirst.states import Phase


def analyze(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    export_optimal_configs: Annotated[bool, typer.Option("--export-optimal-configs", help="Write optimal_hyperparameters.yaml and optimal_hyperparams.sh.")] = False,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", help="Where to write the exports [default: the run's folder].")] = None,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
) -> None:
    """Choose (or show) the best configuration per (task, method) from the finished sweep."""
    from sweepfirst.analysis.exports import write_exports
    from sweepfirst.analysis.selection import choose_configurations
    from sweepfirst.spec import Workflow
    from sweepfirst.store import runs as run_store

    ctx = open_context(state_dir, db_url, create=False)
    with ctx.db.session() as session:
        run = run_store.find_run(session, run_ref)
        if run.phase == Phase.ANALYSIS.value:
            for line in choose_configurations(session, run, Workflow.model_validate(run.spec),
                                              job_dir=ctx.job_dir):
                console.info(f"chosen: {line}")
            run_store.transition_run(session, run.id, Phase.PRODUCTION, detail="configurations chosen by analyze")
        chosen = run_store.selections(session, run.id)
    if not chosen:
        raise PhaseNotReady(
            f"Run '{run.name}' is in phase '{run.phase}' and has no chosen configurations yet; "
            "finish the sweep first (`sweepfirst run --phase sweep` or `sweepfirst resume`)."
        )
    lines = ["| task | method | metric | score | split | hyperparameters |", "|---|---|---|---|---|---|"]
    for (task, method), sel in sorted(chosen.items()):
        score = "" if sel.score is None else f"{sel.score:.4f}"
        lines.append(f"| {task} | {method} | {sel.metric} | {score} | {sel.split} | {sel.hyperparameters} |")
    console.print_text("\n".join(lines))
    if export_optimal_configs or output_dir is not None:
        for path in write_exports(chosen, output_dir or ctx.run_dir(run.name), run_name=run.name):
            console.success(f"wrote {path}")
