"""Options every command shares, and the context they open."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from sweepfirst.errors import SpecError, SweepfirstError

if TYPE_CHECKING:
    # The store (SQLAlchemy) is loaded when a command opens it, not for `--help`.
    # typer vendors its own click; its commands take that click's Context.
    from typer._click.core import Context as ClickContext

    from sweepfirst.store.context import Context

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
RunCap = Annotated[int | None, typer.Option("--run-cap", min=1, help="At most N trials per (task, method) sweep (sets budget.trials for every method).")]


def open_context(
    state_dir: Path | None = None,
    db_url: str | None = None,
    artifacts: Path | None = None,
    data_dir: Path | None = None,
    *,
    create: bool = True,
) -> Context:
    """The state the options name; commands that only read (and `resume`) pass ``create=False``
    so a mistyped --state-dir is reported instead of filled with an empty database."""
    from sweepfirst.store.context import Context

    return Context.open(state_dir=state_dir, db_url=db_url, artifacts=artifacts, data_dir=data_dir, create=create)


#: What CUDA_VISIBLE_DEVICES accepts besides an index: a GPU or MIG instance UUID.
_GPU_UUID = re.compile(r"^(GPU|MIG)-[0-9A-Za-z/-]+$")


def parse_gpus(value: str | None) -> tuple[str, ...] | None:
    """`--gpus 0,1` -> ("0", "1"); nothing -> None (CPU slots).

    Each entry becomes a job's CUDA_VISIBLE_DEVICES, so anything CUDA would silently ignore (a
    name, a negative index, an empty entry) is refused here, before a job runs on the wrong device.
    """
    if value is None or not value.strip():
        return None
    ids = tuple(part.strip() for part in value.split(","))
    for gpu in ids:
        if not (gpu.isdigit() or _GPU_UUID.match(gpu)):
            what = "an empty entry" if not gpu else f"{gpu!r}, which is not a GPU index"
            raise SpecError(
                f"--gpus {value!r} has {what}; pass comma-separated GPU indices like --gpus 0,1 "
                "(or GPU-/MIG- UUIDs), as `nvidia-smi -L` lists them."
            )
    repeated = next((gpu for gpu in ids if ids.count(gpu) > 1), None)
    if repeated is not None:
        raise SpecError(
            f"--gpus {value!r} lists GPU {repeated} twice; name each GPU once and pass --jobs-per-gpu N "
            "to run several jobs on each."
        )
    return ids


JobsPerGpu = Annotated[
    int | None,
    typer.Option("--jobs-per-gpu", min=1, help="Jobs sharing each GPU of --gpus, each in its own process [default: 1, or what the run was started with].", show_default=False),
]


def check_jobs_per_gpu(jobs_per_gpu: int | None, gpus: tuple[str, ...] | None) -> int:
    """``--jobs-per-gpu`` as a number of slots per GPU; refused without GPUs to share.

    Without --gpus it would do nothing: the slots are --workers then, and saying so is kinder
    than silently running one job.
    """
    if jobs_per_gpu is None:
        return 1
    if gpus is None and jobs_per_gpu > 1:
        raise SpecError(
            f"--jobs-per-gpu {jobs_per_gpu} shares GPUs, but no --gpus were given; pass --gpus 0,1,... "
            "too, or --workers N for jobs at once on the CPU."
        )
    return jobs_per_gpu


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

        # console.fail escapes: "--set tasks=[mrpc, rte]" is advice, not rich markup.
        try:
            return super().invoke(ctx)
        except SweepfirstError as error:
            console.fail(error.message, code=error.exit_code)
        except OSError as error:
            known = os_error_sentence(error)
            if known is None:
                raise  # not the user's disk: a bug, which deserves its traceback
            console.fail(known)
        except KeyboardInterrupt:
            # The store and the workflow model load inside the command (not when the command line
            # is built), so a Ctrl-C can land in their imports; click would print a bare newline.
            from sweepfirst.cli.interrupt import exit_interrupted

            exit_interrupted()


def os_error_sentence(error: OSError) -> str | None:
    """One sentence for a write the machine refused (a full disk, a read-only place); else None."""
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"The disk is full{where}; free some space, then continue with `sweepfirst resume`."
    if error.errno == errno.EROFS:
        return f"The file system is read-only{where}; pass a writable --state-dir (or --artifacts)."
    return None


def command_settings() -> dict[str, Any]:
    return {"cls": SweepfirstCommand}
