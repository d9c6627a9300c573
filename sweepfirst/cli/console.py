"""All terminal output goes through here: one console for results, one for messages and errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output (CI logs, `| less`) gets wide tables instead of rich's 80-column default.
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    err.print(message)


def success(message: str) -> None:
    err.print(f"[green]{message}[/green]")


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(message)}")


def fail(message: str, code: int = 1) -> NoReturn:
    """A user-facing error: one styled sentence, no traceback, a non-zero exit code.

    The sentence is printed as written: advice like `--set tasks=[mrpc]` is not rich markup.
    """
    import typer  # here, not at the top: `status`'s fast path prints through this module without typer

    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_table(table: Table) -> None:
    out.print(table)


def print_text(text: str) -> None:
    out.print(text, markup=False)
