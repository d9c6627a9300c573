"""Reading a task's raw train and dev splits, from a local ``glue_data/`` folder or from the Hub.

Every source is turned into the same shape: a ``datasets.Dataset`` with the columns ``idx`` (the
example's row number in its source split, so per-example predictions can be paired across runs),
``text_a``, ``text_b`` (sentence-pair tasks only) and ``label`` (a ``ClassLabel``, which the
stratified selection split needs).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.errors import DataError
from sweepfirst.tasks import GlueFileLayout, TaskSpec

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
#
# One reader, shared with ``data_check`` (which runs it when a run is planned, before any compute is
# spent): whatever the check accepts, the loader accepts, and both fail with the same sentence.


def glue_split_paths(task: TaskSpec, data_dir: Path) -> dict[str, Path]:
    """The train and dev TSV files of ``task`` under ``data_dir``, which must both exist.

    Raises:
        DataError: the task has no glue_data layout, or the folder or a file is missing.
    """
    if task.glue is None:
        raise DataError(
            f"Task {task.name!r} has no glue_data layout; load it from the Hub (omit --data-dir)."
        )
    folder = data_dir / task.glue.folder
    paths = {split: folder / f"{split}.tsv" for split in ("train", "dev")}
    if not data_dir.is_dir():
        raise DataError(
            f"The data folder {data_dir} does not exist or is not a folder; point --data-dir "
            f"(SWEEPFIRST_DATA_DIR) at a glue_data folder that holds {task.glue.folder}/train.tsv "
            f"and {task.glue.folder}/dev.tsv, or leave it unset to load from the Hub."
        )
    for path in paths.values():
        if not path.is_file():
            raise DataError(
                f"GLUE file {path} not found; point --data-dir (SWEEPFIRST_DATA_DIR) at a glue_data "
                f"folder that holds {task.glue.folder}/train.tsv and {task.glue.folder}/dev.tsv, "
                "or leave it unset to load from the Hub."
            )
    return paths


def read_bytes(path: Path) -> bytes:
    """The bytes of a data file, with a DataError (not an OSError) when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"The data file {path} does not exist; check --data-dir.") from None
    except OSError as exc:
        raise DataError(
            f"The data file {path} could not be read ({exc.strerror or exc}); check its permissions."
        ) from None


def decode_utf8(path: Path, content: bytes, *, strip_bom: bool) -> str:
    """``content`` as text, or a DataError naming the line and column of the first bad byte.

    ``strip_bom`` drops one leading UTF-8 byte-order mark, as the ``utf-8-sig`` codec does (MRPC's
    train and dev files start with one); the offset is kept so the line and column are the file's.
    """
    skip = len(codecs.BOM_UTF8) if strip_bom and content.startswith(codecs.BOM_UTF8) else 0
    try:
        return content[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line, column = line_and_column(content, offset)
        raise DataError(
            f"Line {line} of {path} is not valid UTF-8 (byte 0x{content[offset]:02x} at column "
            f"{column}, byte offset {offset}); re-save the file as UTF-8 or restore the original."
        ) from None


def line_and_column(content: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and byte column of ``offset``, counting LF, CRLF and lone CR as line ends.

    Those are the line ends the TSV reader splits on (``newline=""``), so the numbers agree with
    its ``line_num`` and with what an editor shows.
    """
    before = content[:offset]
    line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
    line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    return line, offset - line_start + 1


def glue_rows(
    path: Path, columns: Sequence[str], content: bytes | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, cells)`` for each data row of a GLUE TSV file, cells in ``columns`` order.

    The file is read the way ``download_glue_data.py`` left it: quoting is disabled because MRPC and
    RTE contain unbalanced and field-leading double quotes that a quoting reader would merge or
    strip, and one leading BOM is dropped (MRPC's train and dev files start with one). Line numbers
    are 1-based, the header being line 1. ``content`` is the file's bytes when already read.

    Raises:
        DataError: the file is empty, not UTF-8, lacks a column, has a blank line or a row whose
            field count differs from the header's, or has no rows; the message names the line.
    """
    text = decode_utf8(path, read_bytes(path) if content is None else content, strip_bom=True)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(
                f"GLUE file {path} is empty (no header on line 1); restore it from the original "
                "glue_data download."
            )
        missing = [name for name in columns if name not in header]
        if missing:
            raise DataError(
                f"The header (line 1) of {path} has no column(s) {', '.join(map(repr, missing))} "
                f"(it is {header!r}); use the original TSV files with their header row."
            )
        positions = [header.index(name) for name in columns]
        rows = 0
        for row in reader:
            if len(row) != len(header):
                raise DataError(_field_count_problem(path, reader.line_num, row, header))
            rows += 1
            yield reader.line_num, [row[i] for i in positions]
    except csv.Error as exc:  # e.g. a field over csv's size limit
        raise DataError(
            f"Line {reader.line_num} of {path} cannot be read as TSV ({exc}); restore the original."
        ) from None
    if rows == 0:
        raise DataError(
            f"GLUE file {path} has a header (line 1) but no rows, so its split is empty; restore "
            "the original file."
        )


def _field_count_problem(path: Path, line: int, row: list[str], header: list[str]) -> str:
    if not row:
        return f"Line {line} of {path} is blank; delete it (each line after the header is one row)."
    expected = f"expected {len(header)} ({', '.join(map(repr, header))})"
    if len(row) < len(header):
        return (
            f"Line {line} of {path} has {len(row)} fields, {expected}; a tab is missing or the row "
            "was split over two lines, so restore the original file."
        )
    return (
        f"Line {line} of {path} has {len(row)} fields, {expected}; a text holds a stray tab or "
        "the file was re-saved with CSV quoting, so restore the original file."
    )


def labelled_glue_rows(
    path: Path, layout: GlueFileLayout, content: bytes | None = None
) -> Iterator[tuple[int, list[str], int]]:
    """Yield ``(line_number, texts, label_index)`` for each row of a labelled GLUE TSV file.

    Raises:
        DataError: everything :func:`glue_rows` raises for, and a label not in the task's set.
    """
    columns = [*layout.text_columns, layout.label_column]
    for line, cells in glue_rows(path, columns, content):
        *texts, raw_label = cells
        label = layout.label_values.get(raw_label)
        if label is None:
            valid = ", ".join(map(repr, layout.label_values))
            raise DataError(
                f"Line {line} of {path} has label {raw_label!r}; expected one of {valid} in the "
                f"{layout.label_column!r} column, so correct that cell."
            )
        yield line, texts, label


def _load_glue_folder(task: TaskSpec, data_dir: Path) -> RawSplits:
    paths = glue_split_paths(task, data_dir)
    digest = hashlib.sha256(task.name.encode())
    contents: dict[str, bytes] = {}
    for split, path in paths.items():
        contents[split] = read_bytes(path)
        digest.update(contents[split])
    return RawSplits(
        train=read_glue_tsv(paths["train"], task, contents["train"]),
        dev=read_glue_tsv(paths["dev"], task, contents["dev"]),
        fingerprint=digest.hexdigest()[:16],
    )


def read_glue_tsv(path: Path, task: TaskSpec, content: bytes | None = None) -> Dataset:
    """Read one labelled GLUE TSV file (see :func:`glue_rows` for the rules) as a Dataset.

    ``idx`` is the row's position among the data rows (0 for the first row after the header).
    """
    from datasets import Dataset

    if task.glue is None:
        raise DataError(f"Task {task.name!r} has no glue_data layout; load it from the Hub.")
    text_names = TEXT_COLUMNS[: len(task.glue.text_columns)]
    columns: dict[str, list[Any]] = {"idx": [], "label": [], **{name: [] for name in text_names}}
    for row_number, (_line, texts, label) in enumerate(labelled_glue_rows(path, task.glue, content)):
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
