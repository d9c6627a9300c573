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

#: Every command, declared once: its name -> (module under sweepfirst.cli, attribute, is a group).
#: A group's attribute is a Typer app of subcommands (`jobs list`, `db upgrade`, ...).
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "run": ("run", "run", False),
    "plan": ("plan", "plan", False),
    "resume": ("run", "resume", False),
    "status": ("status", "status", False),
    "train": ("train", "train", False),
    "analyze": ("analyze", "analyze", False),
    "evaluate": ("evaluate", "evaluate", False),
    "report": ("report", "report", False),
    "drift": ("drift", "drift", False),
    "jobs": ("jobs", "app", True),
    "worker": ("worker", "worker", False),
    "launch": ("launch", "app", True),
    "db": ("db", "app", True),
    "import": ("import_wandb", "app", True),
}

_app: typer.Typer | None = None


def build_app(only: str | None = None) -> typer.Typer:
    """The command line; with ``only``, just that command, so `sweepfirst status` imports the status
    command's module and not the thirteen others (the full app is built for `--help` and tests)."""
    import importlib

    import typer

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
    if only is not None:
        # A lone command would become the app itself (typer's single-command mode) and take
        # "status" as its argument; a hidden callback keeps the command line's shape.
        app.callback()(lambda: None)
    for name, (module_name, attribute, is_group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        command = getattr(importlib.import_module(f"sweepfirst.cli.{module_name}"), attribute)
        if is_group:
            app.add_typer(command, name=name)
        else:
            app.command(name, **command_settings())(command)
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


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one sentence and an exit code, not a traceback."""
    try:
        _main(argv)
    except KeyboardInterrupt:
        from sweepfirst.cli.interrupt import exit_interrupted

        exit_interrupted()


def _main(argv: list[str] | None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    from sweepfirst.errors import SweepfirstError

    try:
        if args[:1] == ["status"]:
            # `status` on a SQLite file answers without building the command line (typer,
            # SQLAlchemy): a fraction of a second. What it does not handle falls through to the command.
            from sweepfirst.cli.status_view import fast_status

            if fast_status(args[1:]):
                return
        # Only the command asked for is loaded; anything else (`--help`, a typo) gets the full app.
        only = args[0] if args and args[0] in COMMANDS else None
        (get_app() if only is None else build_app(only))(args=argv, standalone_mode=True)
    except SweepfirstError as error:
        from rich.markup import escape

        from sweepfirst.cli import console

        # Commands outside SweepfirstCommand (`db`, `launch`) raise theirs up to here.
        console.err.print(f"[red]error:[/red] {escape(error.message)}")
        sys.exit(error.exit_code)
    except OSError as error:
        from rich.markup import escape

        from sweepfirst.cli import console
        from sweepfirst.cli.options import os_error_sentence

        sentence = os_error_sentence(error)
        if sentence is None:
            raise
        console.err.print(f"[red]error:[/red] {escape(sentence)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
