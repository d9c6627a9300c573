"""The `sweepfirst` command line: thin commands that parse, call and render."""

from __future__ import annotations

import sys

import typer

from sweepfirst.cli import analyze, console, evaluate, jobs, run, status, train
from sweepfirst.cli.options import command_settings
from sweepfirst.errors import SweepfirstError

app = typer.Typer(
    name="sweepfirst",
    help="Sweep first, then compare: hyperparameter sweeps, production seeds and statistics for fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("run", **command_settings())(run.run)
app.command("resume")(run.resume)
app.command("status")(status.status)
app.command("train")(train.train)
app.command("analyze")(analyze.analyze)
app.command("evaluate")(evaluate.evaluate)
app.add_typer(jobs.app, name="jobs")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one sentence and an exit code, not a traceback."""
    try:
        app(args=argv, standalone_mode=True)
    except SweepfirstError as error:
        console.err.print(f"[red]error:[/red] {error.message}")
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
