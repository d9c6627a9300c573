"""Checkpoint folders that are either complete or absent.

transformers' Trainer writes ``checkpoint-N`` in place, file by file; a worker killed mid-save
leaves a ``checkpoint-N`` with, say, the model but no optimizer state, and
``get_last_checkpoint`` would then pick that broken folder as the one to resume from. We let the
Trainer write into a staging folder (``.staging/``, which no checkpoint lookup looks into) and
publish the finished folder with one ``rename``, which is atomic on POSIX filesystems.
Resume also ignores any ``checkpoint-N`` that lacks ``trainer_state.json`` (written last by the
Trainer), as a second guard for folders that were not made by this code.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

CHECKPOINT_PREFIX = "checkpoint"
STAGING_DIRNAME = ".staging"
#: The Trainer writes this file last; a checkpoint without it is not a resume record.
TRAINER_STATE_NAME = "trainer_state.json"

_CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)$")


def checkpoint_name(global_step: int) -> str:
    """The folder name of the checkpoint at ``global_step`` (the Trainer's naming)."""
    return f"{CHECKPOINT_PREFIX}-{global_step}"


def staging_root(output_dir: Path) -> Path:
    """Where checkpoints are written before they are published."""
    return Path(output_dir) / STAGING_DIRNAME


def is_complete(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` is a full resume record."""
    return (checkpoint / TRAINER_STATE_NAME).is_file()


def list_checkpoints(output_dir: Path) -> list[Path]:
    """The complete checkpoints in ``output_dir``, oldest (lowest step) first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for child in output_dir.iterdir():
        match = _CHECKPOINT_RE.match(child.name)
        if match and child.is_dir() and is_complete(child):
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def publish(staged: Path, final: Path) -> None:
    """Move a fully written checkpoint from staging to its final name in one atomic rename.

    The files are flushed to disk first, so that after a power loss the renamed folder does not
    point at data that never reached the disk.
    """
    _fsync_tree(staged)
    if final.exists():
        # The same step saved twice (e.g. a stop request on an evaluation step): the new copy
        # replaces the old one. Move the old one aside first: rename cannot replace a folder
        # that has files in it.
        discarded = staged.parent / f"{final.name}.replaced"
        os.rename(final, discarded)
        os.rename(staged, final)
        shutil.rmtree(discarded, ignore_errors=True)
    else:
        os.rename(staged, final)
    _fsync_dir(final.parent)


def clear_staging(output_dir: Path) -> None:
    """Remove leftovers of saves that were cut short (a crash mid-save)."""
    shutil.rmtree(staging_root(output_dir), ignore_errors=True)


def remove_empty_staging(output_dir: Path) -> None:
    """Remove the staging folder once nothing is being saved, so a job folder stays tidy."""
    with contextlib.suppress(OSError):  # not empty (another save) or already gone: both fine
        staging_root(output_dir).rmdir()


def prune_checkpoints(output_dir: Path, keep: int | None) -> None:
    """Delete the oldest checkpoints so that at most ``keep`` remain (the newest always stays).

    Incomplete ``checkpoint-N`` folders (not made by this code) are left alone: they are not ours.
    """
    if keep is None or keep <= 0:
        return
    checkpoints = list_checkpoints(output_dir)
    for old in checkpoints[: max(0, len(checkpoints) - keep)]:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
