"""Which SQuAD v2 questions a job trains on and which it is scored on.

The same rules as GLUE's ``splits``, with whole *articles* where GLUE has examples: a question's
paragraph (and its article) is on one side only, so a sweep never scores a question whose context
it trained on.

* ``dev`` (production): train on the train split, score on the eval split. With the official
  train file (or the Hub) those are the official train and dev sets; with only ``dev-v2.0.json``
  (as in ``shared/data``) the dev set is cut by article into train and eval, always the same cut
  (:data:`REPORT_EVAL_FRACTION`, :data:`REPORT_SPLIT_SEED`), so every job reports on the same
  questions.
* ``selection`` (sweeps): the selection split is carved out of that train split, by article, with
  the request's ``selection_fraction`` and ``selection_seed``; the eval split is never looked at.

Subsampling (``max_train_samples`` / ``max_eval_samples``) draws questions after the split is made.

Local data: ``--data-dir`` may be the SQuAD folder itself, a folder holding ``squad_v2/`` (or
``SQuAD-v2/``), or a folder *next to* one: with ``shared/data/{glue,squad_v2}``, the GLUE folder
``shared/data/glue`` serves both kinds of task, so one ``--data-dir`` runs a workflow with mrpc and
squad_v2.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.errors import DataError
from sweepfirst.training.splits import SplitRecipe, subsample

if TYPE_CHECKING:
    from datasets import Dataset

#: With only the dev file, this share of its questions (whole articles) is the reported eval split.
REPORT_EVAL_FRACTION = 0.2
#: ...cut with this seed: fixed, so every job of every run reports on the same articles.
REPORT_SPLIT_SEED = 0
#: Bump when the way QA splits are made changes, so cached features are not reused.
QA_SPLIT_VERSION = 1


@dataclass(frozen=True)
class QaSplits:
    """The questions one job trains on and is scored on (``datasets`` rows in the Hub's schema)."""

    train: Dataset
    eval: Dataset
    eval_split: str  # "selection" or "dev"
    data_source: str  # "local" or "hub"
    data_fingerprint: str

    def cache_key(self, recipe: SplitRecipe) -> dict[str, Any]:
        """What decides the content of these splits; part of the features' cache key."""
        key = recipe.cache_key()
        key["qa_split_version"] = QA_SPLIT_VERSION
        key["report_split"] = [REPORT_EVAL_FRACTION, REPORT_SPLIT_SEED]
        return key


def find_squad_dir(data_dir: Path) -> Path:
    """The folder with ``dev-v2.0.json``: in ``data_dir`` (see ``qa.dataset``) or next to it.

    Raises:
        DataError: neither ``data_dir`` nor its parent holds the SQuAD 2.0 files.
    """
    from sweepfirst.training.qa.dataset import DEV_FILE, find_squad_v2_dir

    data_dir = Path(data_dir)
    for candidate in (data_dir, data_dir.parent):
        try:
            return find_squad_v2_dir(candidate)
        except DataError:
            continue
    raise DataError(
        f"No SQuAD 2.0 data in or next to {data_dir}: expected {DEV_FILE} in the official JSON "
        f"format in {data_dir / 'squad_v2'} or {data_dir.parent / 'squad_v2'}; check --data-dir "
        "(SWEEPFIRST_DATA_DIR)."
    )


def load_qa_splits(data_dir: Path | None, recipe: SplitRecipe) -> QaSplits:
    """Load SQuAD 2.0 (local folder, else the Hub) and apply ``recipe``.

    Raises:
        DataError: the files are missing or malformed, the Hub is unreachable, or a split would
            hold no article.
    """
    from sweepfirst.training.qa.dataset import load_squad_v2, split_by_article

    if data_dir is not None:
        folder = find_squad_dir(Path(data_dir))
        loaded = load_squad_v2(folder, eval_fraction=REPORT_EVAL_FRACTION, seed=REPORT_SPLIT_SEED)
        fingerprint = _files_fingerprint(folder)
        source = "local"
    else:
        loaded = load_squad_v2(None)
        fingerprint = hashlib.sha256(
            f"squad_v2:{loaded['train']._fingerprint}:{loaded['validation']._fingerprint}".encode()
        ).hexdigest()[:16]
        source = "hub"
    train, held_out = loaded["train"], loaded["validation"]
    if recipe.evaluation == "selection":
        train, held_out = split_by_article(train, recipe.selection_fraction, recipe.selection_seed)
    return QaSplits(
        train=subsample(train, recipe.max_train_samples, recipe.selection_seed),
        eval=subsample(held_out, recipe.max_eval_samples, recipe.selection_seed),
        eval_split=recipe.evaluation,
        data_source=source,
        data_fingerprint=fingerprint,
    )


def _files_fingerprint(folder: Path) -> str:
    """A hash of the task name and the bytes of the SQuAD files that were read."""
    from sweepfirst.training.qa.dataset import DEV_FILE, TRAIN_FILE

    digest = hashlib.sha256(b"squad_v2")
    for name in (TRAIN_FILE, DEV_FILE):
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
