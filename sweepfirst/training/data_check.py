"""Checking a workflow's data when its run is planned, before any compute is spent.

A bad file (a missing column, a one-field row, a label outside the task's set, bytes that are not
UTF-8, an empty split) would otherwise fail only inside the first job, after every retry, behind a
generic "no trial succeeded". The check reads each task's files with the loaders' own readers
(``data.labelled_glue_rows``, ``qa.dataset.read_squad_articles``), so it accepts exactly what training
accepts, and raises the same one-sentence :class:`DataError` naming the file, the line, what is
wrong and how to fix it.

Standard library only (no torch, transformers or datasets): it runs in the CLI process, and the
67k rows of SST-2's train file take a fraction of a second.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from sweepfirst.errors import DataError
from sweepfirst.tasks import get_task
from sweepfirst.training.data import glue_split_paths, labelled_glue_rows, read_bytes

if TYPE_CHECKING:
    from sweepfirst.spec import Workflow


def check_workflow_data(workflow: Workflow, data_dir: Path | None) -> None:
    """Check the local data of every task of ``workflow``, the folder chosen as a job chooses it.

    ``data_dir`` is the command's folder (``--data-dir`` / ``SWEEPFIRST_DATA_DIR``); without one the
    workflow's ``data.dir`` is used. ``data.source: hub`` means no local folder (nothing to check
    here: the Hub's copies are read when a job runs); ``auto`` without a folder means the Hub too.

    Raises:
        DataError: the workflow asks for local data but names no folder, or a task's data is bad.
    """
    folder = resolve_data_dir(workflow, data_dir)
    if folder is None:
        return
    for task_name in workflow.tasks:
        check_task_data(task_name, folder)


def resolve_data_dir(workflow: Workflow, data_dir: Path | None) -> Path | None:
    """The local data folder a job of ``workflow`` reads, or None for the Hub.

    The same rules as ``engine.job_request.resolve_data_dir``: the command's folder, else the workflow's
    ``data.dir``; ``source: hub`` ignores both, ``source: local`` requires one.
    """
    folder = data_dir if data_dir is not None else workflow.data.dir
    if workflow.data.source == "hub":
        return None
    if workflow.data.source == "local" and folder is None:
        raise DataError(
            "The workflow asks for local data but no data folder is set; pass --data-dir or set "
            "SWEEPFIRST_DATA_DIR (a folder in the glue_data layout, e.g. ../shared/data/glue)."
        )
    return None if folder is None else Path(folder)


def check_task_data(task_name: str, data_dir: Path) -> None:
    """Read every file ``task_name`` trains and is scored on under ``data_dir``, as its loader would.

    GLUE tasks: ``<data_dir>/<folder>/{train,dev}.tsv`` (see ``GlueFileLayout``). SQuAD v2: the
    official JSON files in ``data_dir``, its ``squad_v2/`` (or ``SQuAD-v2/``), or next to it (see
    ``qa.splits.find_squad_dir``); with only the dev file, it is split by article, so it must hold
    two articles at least.

    Raises:
        DataError: one sentence naming the file, the line, what is wrong and how to fix it.
        SweepfirstError: ``task_name`` is not a registered task.
    """
    task = get_task(task_name)
    data_dir = Path(data_dir)
    if task.kind == "question_answering":
        _check_squad(data_dir)
        return
    paths = glue_split_paths(task, data_dir)
    assert task.glue is not None  # glue_split_paths raised otherwise
    for path in paths.values():
        # Consume the reader without keeping rows: it raises on the first bad line.
        deque(labelled_glue_rows(path, task.glue, read_bytes(path)), maxlen=0)


def _check_squad(data_dir: Path) -> None:
    from sweepfirst.training.qa.dataset import DEV_FILE, TRAIN_FILE, read_squad_articles
    from sweepfirst.training.qa.splits import find_squad_dir

    folder = find_squad_dir(data_dir)
    dev_path = folder / DEV_FILE
    dev = read_squad_articles(dev_path)
    train_path = folder / TRAIN_FILE
    if train_path.is_file():
        read_squad_articles(train_path)
        return
    # Only the dev file: both splits are cut from it by article (qa.dataset.split_by_article).
    titles = {article.get("title", "") for article in dev}
    if len(titles) < 2:
        raise DataError(
            f"Line 1 of {dev_path}: with no {TRAIN_FILE} next to it, the dev set is split by "
            f"article into train and eval, but it holds {len(titles)} article title(s); add "
            f"articles with other titles or put {TRAIN_FILE} in {folder}."
        )
