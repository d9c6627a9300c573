"""The `sweepfirst` command line: thin commands that parse, call and render.

Importing this module imports nothing else: the commands (typer, rich, the store) are imported
when the app is first needed, inside `main`, so a Ctrl-C while they load ends in one line and
exit code 130, never in a traceback from the middle of an import.
"""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: importing typing takes milliseconds, outside main's Ctrl-C guard.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import typer

#: Exit code of a process stopped by SIGINT (128 + 2), as shells report it.
INTERRUPTED_EXIT_CODE = 130

_app: typer.Typer | None = None


def build_app() -> typer.Typer:
    """Every command, registered once (they import nothing heavy until they run)."""
    import typer

    from sweepfirst.cli import (
        analyze,
        drift,
        evaluate,
        import_wandb,
        jobs,
        launch,
        plan,
        report,
        run,
        status,
        train,
        worker,
    )
    from sweepfirst.cli import db as db_commands
    from sweepfirst.cli.options import command_settings

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
    app.command("plan", **command_settings())(plan.plan)
    app.command("resume", **command_settings())(run.resume)
    app.command("status", **command_settings())(status.status)
    app.command("train", **command_settings())(train.train)
    app.command("analyze", **command_settings())(analyze.analyze)
    app.command("evaluate", **command_settings())(evaluate.evaluate)
    app.command("report", **command_settings())(report.report)
    app.command("drift", **command_settings())(drift.drift)
    app.add_typer(jobs.app, name="jobs")
    app.command("worker", **command_settings())(worker.worker)
    app.add_typer(launch.app, name="launch")
    app.add_typer(db_commands.app, name="db")
    app.add_typer(import_wandb.app, name="import")
    return app


def get_app() -> typer.Typer:
    global _app
    if _app is None:
        _app = build_app()
    return _app


def __getattr__(name: str) -> Any:
    # `from sweepfirst.cli.app import app` (tests, CliRunner) builds the app on first use.
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _interrupted() -> None:
    # Printed without rich: the interrupt may have come before rich was imported.
    sys.stderr.write("interrupted\n")
    sys.exit(INTERRUPTED_EXIT_CODE)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one sentence and an exit code, not a traceback."""
    try:
        _main(argv)
    except KeyboardInterrupt:
        _interrupted()


def _main(argv: list[str] | None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["status"]:
        # `status` on a SQLite file answers without building the command line (typer, SQLAlchemy):
        # a fraction of a second. Anything it does not handle plainly falls through to the command.
        from sweepfirst.cli.status_view import fast_status

        if fast_status(args[1:]):
            return
    from rich.markup import escape

    from sweepfirst.cli import console
    from sweepfirst.cli.options import os_error_sentence
    from sweepfirst.errors import SweepfirstError

    try:
        get_app()(args=argv, standalone_mode=True)
    except SweepfirstError as error:
        # Commands outside SweepfirstCommand (`db`, `launch`) raise theirs up to here.
        console.err.print(f"[red]error:[/red] {escape(error.message)}")
        sys.exit(error.exit_code)
    except OSError as error:
        sentence = os_error_sentence(error)
        if sentence is None:
            raise
        console.err.print(f"[red]error:[/red] {escape(sentence)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
