"""Reading a task's raw train and dev splits, from a local ``glue_data/`` folder or from the Hub.

Every source is turned into the same shape: a ``datasets.Dataset`` with the columns ``idx`` (the
example's row number in its source split, so per-example predictions can be paired across runs),
``text_a``, ``text_b`` (sentence-pair tasks only) and ``label`` (a ``ClassLabel``, which the
stratified selection split needs).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.errors import DataError
from sweepfirst.training.tasks import GlueFileLayout, TaskSpec

if TYPE_CHECKING:
    from datasets import Dataset, Features

TEXT_COLUMNS = ("text_a", "text_b")


@dataclass(frozen=True)
class RawSplits:
    """A task's labelled splits in the common shape, plus a fingerprint of their content."""

    train: Dataset
    dev: Dataset
    fingerprint: str


def load_raw_splits(task: TaskSpec, data_dir: Path | None) -> RawSplits:
    """Load ``task``'s train and dev splits from ``data_dir`` (glue_data layout) or, if None, the Hub.

    Raises:
        DataError: a file or column is missing, a row is malformed, or the Hub is unreachable.
    """
    if data_dir is not None:
        return _load_glue_folder(task, Path(data_dir))
    return _load_hub(task)


def features_for(task: TaskSpec) -> Features:
    """The ``datasets`` features of a task's raw splits."""
    from datasets import ClassLabel, Features, Value

    columns: dict[str, Any] = {"idx": Value("int32")}
    for name in TEXT_COLUMNS[: task.num_text_fields]:
        columns[name] = Value("string")
    columns["label"] = ClassLabel(names=list(task.label_names))
    return Features(columns)


# ---- local glue_data/ folder -------------------------------------------------------------------


def _load_glue_folder(task: TaskSpec, data_dir: Path) -> RawSplits:
    if task.glue is None:
        raise DataError(
            f"Task {task.name!r} has no glue_data layout; load it from the Hub (omit --data-dir)."
        )
    folder = data_dir / task.glue.folder
    paths = {split: folder / f"{split}.tsv" for split in ("train", "dev")}
    for path in paths.values():
        if not path.is_file():
            raise DataError(
                f"GLUE file {path} not found; point --data-dir (SWEEPFIRST_DATA_DIR) at a glue_data "
                f"folder that holds {task.glue.folder}/train.tsv and {task.glue.folder}/dev.tsv, "
                "or leave it unset to load from the Hub."
            )
    digest = hashlib.sha256(task.name.encode())
    for path in paths.values():
        digest.update(path.read_bytes())
    return RawSplits(
        train=read_glue_tsv(paths["train"], task),
        dev=read_glue_tsv(paths["dev"], task),
        fingerprint=digest.hexdigest()[:16],
    )


def read_glue_tsv(path: Path, task: TaskSpec) -> Dataset:
    """Read one labelled GLUE TSV file the way ``download_glue_data.py`` left it.

    Quoting is disabled because MRPC and RTE contain unbalanced and field-leading double quotes
    that a quoting reader would merge or strip; ``utf-8-sig`` drops the BOM that starts MRPC's
    train and dev files (and is harmless where there is none).
    """
    from datasets import Dataset

    if task.glue is None:
        raise DataError(f"Task {task.name!r} has no glue_data layout; load it from the Hub.")
    layout: GlueFileLayout = task.glue
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise DataError(
                f"GLUE file {path} is empty; restore it from the original glue_data download."
            )
        wanted = [*layout.text_columns, layout.label_column]
        missing = [name for name in wanted if name not in header]
        if missing:
            raise DataError(
                f"GLUE file {path} has no column(s) {', '.join(map(repr, missing))} (its header is "
                f"{header!r}); use the original {layout.folder} TSV files with their header row."
            )
        positions = [header.index(name) for name in wanted]
        columns: dict[str, list[Any]] = {"idx": [], "label": []}
        text_names = TEXT_COLUMNS[: len(layout.text_columns)]
        for name in text_names:
            columns[name] = []
        for row_number, row in enumerate(reader):
            if len(row) != len(header):
                raise DataError(
                    f"Line {reader.line_num} of {path} has {len(row)} fields, expected {len(header)}; "
                    "the file is damaged or was re-saved with CSV quoting; restore the original."
                )
            *texts, raw_label = (row[i] for i in positions)
            try:
                label = layout.label_values[raw_label]
            except KeyError:
                valid = ", ".join(map(repr, layout.label_values))
                raise DataError(
                    f"Line {reader.line_num} of {path} has label {raw_label!r}; expected one of {valid}."
                ) from None
            columns["idx"].append(row_number)
            columns["label"].append(label)
            for name, text in zip(text_names, texts):
                columns[name].append(text)
    return Dataset.from_dict(columns, features=features_for(task))


# ---- Hugging Face Hub --------------------------------------------------------------------------


def _load_hub(task: TaskSpec) -> RawSplits:
    """Load the task from the Hub (``nyu-mll/glue``); needs network access or a warm HF cache."""
    if task.hub is None:
        raise DataError(f"Task {task.name!r} is not on the Hub; pass --data-dir with a local copy.")
    import datasets

    hub = task.hub
    try:
        loaded = datasets.load_dataset(hub.dataset, hub.config)
    except Exception as exc:  # the Hub client raises many unrelated types; all mean "not loadable"
        raise DataError(
            f"Could not load {hub.dataset}/{hub.config} from the Hugging Face Hub ({exc}); "
            "check the network or pass --data-dir with a local glue_data folder."
        ) from exc
    splits = []
    for split in (hub.train_split, hub.dev_split):
        ds = loaded[split]
        renames = dict(zip(hub.text_columns, TEXT_COLUMNS))
        if hub.label_column != "label":
            renames[hub.label_column] = "label"
        missing = [name for name in [*renames, "idx"] if name not in ds.column_names]
        if missing:
            raise DataError(
                f"Hub dataset {hub.dataset}/{hub.config} split {split!r} has no column(s) "
                f"{', '.join(missing)}; update the task's HubLayout."
            )
        ds = ds.rename_columns({k: v for k, v in renames.items() if k != v})
        keep = list(features_for(task))
        ds = ds.select_columns(keep).cast(features_for(task))
        splits.append(ds)
    train, dev = splits
    fingerprint = hashlib.sha256(
        f"{task.name}:{train._fingerprint}:{dev._fingerprint}".encode()
    ).hexdigest()[:16]
    return RawSplits(train=train, dev=dev, fingerprint=fingerprint)
