"""Every error sweepfirst raises on purpose.

A ``SweepfirstError`` is a user-facing problem: the CLI prints its message (one sentence that names
the problem and the fix) and exits non-zero, without a traceback. Each subclass's docstring is its
default message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: The one command that continues a run whose phase failed (the planner's and the analysis's advice).
CONTINUE_COMMAND = "`sweepfirst resume --retry-failed`"


class SweepfirstError(Exception):
    """Something went wrong in sweepfirst."""

    exit_code = 1
    #: Whether running the same job again could succeed; False where no retry can fix it.
    retryable = True

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class SpecError(SweepfirstError):
    """The workflow file is not valid; fix the field named above and run again."""

    exit_code = 2


class DataError(SweepfirstError):
    """The training data could not be read; check --data-dir or SWEEPFIRST_DATA_DIR."""

    retryable = False


class ModelError(SweepfirstError):
    """The model could not be loaded; pass a Hub id, a local folder or 'bundled-minilm'."""

    retryable = False


class StateError(SweepfirstError):
    """The state database does not allow that; see `sweepfirst status`."""


class IllegalTransition(StateError):
    """That state change is not allowed from the current state."""


class NotFound(StateError):
    """No such run or job; `sweepfirst status` lists the runs."""


class LeaseLost(StateError):
    """This worker no longer holds the job's lease; another worker owns it now."""


class PhaseNotReady(StateError):
    """The run is not ready for that phase yet."""


class RunBusy(StateError):
    """Another live sweepfirst process is already driving (coordinating) this run."""


class DatabaseError(StateError):
    """The state database could not be reached or read; check --db-url or --state-dir."""


class NoState(DatabaseError):
    """There is no sweepfirst state there yet; start a run with `sweepfirst run WORKFLOW`."""

    @classmethod
    def no_database_file(cls, path: Path) -> NoState:
        """No SQLite file where one was looked for (`status` says so without opening a database)."""
        return cls(
            f"There is no sweepfirst state database in {path.parent} (no {path.name}); start one with "
            "`sweepfirst run WORKFLOW`, or point --state-dir (or --db-url) at the folder that holds it."
        )
