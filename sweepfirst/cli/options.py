"""Options every command shares, and the context they open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from sweepfirst.engine.context import Context

if TYPE_CHECKING:
    # typer vendors its own click; its commands take that click's Context.
    from typer._click.core import Context as ClickContext

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="SWEEPFIRST_STATE_DIR", help="Folder of the state DB and artifacts [default: ./state].", show_default=False),
]
DbUrl = Annotated[
    str | None,
    typer.Option("--db-url", envvar="SWEEPFIRST_DB_URL", help="SQLAlchemy URL of the state DB [default: a SQLite file in the state dir].", show_default=False),
]
Artifacts = Annotated[
    Path | None,
    typer.Option("--artifacts", envvar="SWEEPFIRST_ARTIFACTS", help="Where job outputs and checkpoints live [default: the state dir].", show_default=False),
]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="SWEEPFIRST_DATA_DIR", help="Local data in the glue_data layout (MRPC/train.tsv, ...) [default: the Hub].", show_default=False),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def open_context(
    state_dir: Path | None = None,
    db_url: str | None = None,
    artifacts: Path | None = None,
    data_dir: Path | None = None,
) -> Context:
    return Context.open(state_dir=state_dir, db_url=db_url, artifacts=artifacts, data_dir=data_dir)


#: Options that take several space-separated values (`--tasks mrpc sst2`).
LIST_OPTIONS = frozenset({"--tasks", "--methods"})


def expand_list_options(args: list[str]) -> list[str]:
    """`--tasks mrpc sst2` and `--tasks mrpc,sst2` -> `--tasks mrpc --tasks sst2`.

    Click options take one value each; a value list stops at the next option or at something
    that looks like a workflow file.
    """
    expanded: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=")
        if name in LIST_OPTIONS:
            values = [inline] if eq else []
            i += 1
            while not eq and i < len(args) and not args[i].startswith("-") and not args[i].endswith((".yaml", ".yml")):
                values.append(args[i])
                i += 1
            if not values:
                expanded.append(name)  # let click report the missing value
            for value in values:
                for part in filter(None, value.split(",")):
                    expanded += [name, part]
            continue
        expanded.append(arg)
        i += 1
    return expanded


class SweepfirstCommand(TyperCommand):
    """Every sweepfirst command: list options take space-separated values, and a user mistake
    (a SweepfirstError) becomes one styled sentence and an exit code instead of a traceback."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_list_options(list(args)))

    def invoke(self, ctx: ClickContext) -> Any:
        from sweepfirst.cli import console
        from sweepfirst.errors import SweepfirstError

        try:
            return super().invoke(ctx)
        except SweepfirstError as error:
            console.fail(error.message, code=error.exit_code)


def command_settings() -> dict[str, Any]:
    return {"cls": SweepfirstCommand}
