"""The `sweepfirst` command line: thin commands that parse, call and render."""

from __future__ import annotations

import sys

import typer

from sweepfirst.cli import (
    analyze,
    console,
    evaluate,
    jobs,
    launch,
    report,
    run,
    status,
    train,
    worker,
)
from sweepfirst.cli import db as db_commands
from sweepfirst.cli.options import command_settings
from sweepfirst.errors import SweepfirstError

app = typer.Typer(
    name="sweepfirst",
    help="Sweep first, then compare: hyperparameter sweeps, production seeds and statistics for fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help texts say "[default: ...]" literally; rich markup would swallow the brackets.
    rich_markup_mode=None,
)
app.command("run", **command_settings())(run.run)
app.command("resume", **command_settings())(run.resume)
app.command("status", **command_settings())(status.status)
app.command("train", **command_settings())(train.train)
app.command("analyze", **command_settings())(analyze.analyze)
app.command("evaluate", **command_settings())(evaluate.evaluate)
app.command("report", **command_settings())(report.report)
app.add_typer(jobs.app, name="jobs")
app.command("worker")(worker.worker)
app.add_typer(launch.app, name="launch")
app.add_typer(db_commands.app, name="db")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one sentence and an exit code, not a traceback."""
    try:
        app(args=argv, standalone_mode=True)
    except SweepfirstError as error:
        console.err.print(f"[red]error:[/red] {error.message}")
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
