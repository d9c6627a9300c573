"""Where a command's state lives: the database, the artifact folder and the data folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sweepfirst.errors import DatabaseError
from sweepfirst.store.database import Database, default_db_url, read_only_error


@dataclass
class Context:
    """Everything a command needs to find recorded state and job outputs."""

    state_dir: Path
    db: Database
    #: Root of job output folders (checkpoints, metrics); shared by every worker of a run.
    artifacts: Path
    #: Local data folder (classic glue_data layout, SQuAD JSON); None means the Hub.
    data_dir: Path | None

    @classmethod
    def open(
        cls,
        *,
        state_dir: Path | None = None,
        db_url: str | None = None,
        artifacts: Path | None = None,
        data_dir: Path | None = None,
        create: bool = True,
    ) -> Context:
        """Open the state these options (or the SWEEPFIRST_* variables) name.

        ``create=False`` (commands that read, and `resume`) opens only existing sweepfirst state:
        a mistyped --state-dir gets a sentence, not a new empty database. ``create=True`` is for
        commands that record, so a state dir that cannot be written is refused before they start.
        """
        state = Path(state_dir or os.environ.get("SWEEPFIRST_STATE_DIR") or "state")
        url = db_url or os.environ.get("SWEEPFIRST_DB_URL") or default_db_url(state)
        artifact_root = artifacts or (
            Path(os.environ["SWEEPFIRST_ARTIFACTS"]) if os.environ.get("SWEEPFIRST_ARTIFACTS") else state
        )
        data = data_dir or (
            Path(os.environ["SWEEPFIRST_DATA_DIR"]) if os.environ.get("SWEEPFIRST_DATA_DIR") else None
        )
        if state.exists() and not state.is_dir():
            # Artifacts go there too, whatever database --db-url names.
            raise DatabaseError(f"The state dir {state} is a file, not a folder; pass --state-dir a folder.")
        db = Database(url, create=create)
        if create and db.read_only and db.path is not None:
            raise read_only_error(db.path.parent)
        db.create_schema()
        return cls(state_dir=state, db=db, artifacts=artifact_root, data_dir=data)

    def run_dir(self, run_name: str) -> Path:
        return self.artifacts / "runs" / run_name

    def job_dir(self, relative: str) -> Path:
        return self.artifacts / relative


def job_relative_dir(run_name: str, phase: str, task: str, method: str, label: str) -> str:
    """A job's output folder, relative to the artifact root and derived from its key only,
    so a resumed job (on any machine) finds its last checkpoint."""
    return f"runs/{run_name}/jobs/{phase}/{task}/{method}/{label}"
