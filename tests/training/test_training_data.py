"""Real GLUE files: quirks, row counts, the selection split, tokenization and its cache."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from sweepfirst.errors import DataError
from sweepfirst.tasks import get_task
from sweepfirst.training.data import load_raw_splits
from sweepfirst.training.splits import SplitRecipe, make_splits, selection_split

# Row and label counts from shared/data/PROVENANCE.md (the official GLUE splits).
EXPECTED = {
    "mrpc": ((3668, {1: 2474, 0: 1194}), (408, {1: 279, 0: 129})),
    "sst2": ((67349, {1: 37569, 0: 29780}), (872, {1: 444, 0: 428})),
    # RTE labels are names in the TSVs: entailment -> 0, not_entailment -> 1.
    "rte": ((2490, {0: 1249, 1: 1241}), (277, {0: 146, 1: 131})),
}


@pytest.mark.parametrize("task_name", ["mrpc", "sst2", "rte"])
def test_glue_files_load_with_official_row_and_label_counts(glue_dir: Path, task_name: str) -> None:
    task = get_task(task_name)
    started = time.perf_counter()
    raw = load_raw_splits(task, glue_dir)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0  # SST-2's 67k rows included
    for ds, (rows, labels) in zip((raw.train, raw.dev), EXPECTED[task_name]):
        assert len(ds) == rows
        assert dict(Counter(ds["label"][:])) == labels
        assert ds["idx"][:5] == [0, 1, 2, 3, 4]
        expected_columns = {"idx", "text_a", "label"} | (
            {"text_b"} if task.num_text_fields == 2 else set()
        )
        assert set(ds.column_names) == expected_columns
    assert raw.train.features["label"].names == list(task.label_names)


def test_quirks_bom_and_unbalanced_quotes_survive(glue_dir: Path) -> None:
    mrpc = load_raw_splits(get_task("mrpc"), glue_dir).train
    # The BOM is not glued to the first header name (else "Quality" would be missing) and the
    # original Microsoft text is kept as is.
    assert mrpc[0]["text_a"].startswith('Amrozi accused his brother, whom he called "the witness"')
    # Quoting disabled: cells that start with a double quote keep it instead of merging rows.
    leading_quote = [t for t in mrpc["text_a"][:] if t.startswith('"')]
    assert leading_quote
    rte = load_raw_splits(get_task("rte"), glue_dir).train
    assert any(t.count('"') % 2 == 1 for t in rte["text_a"][:] + rte["text_b"][:])


def test_missing_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "MRPC").mkdir()
    with pytest.raises(DataError, match=r"MRPC/train\.tsv not found; point --data-dir"):
        load_raw_splits(get_task("mrpc"), tmp_path)


def test_missing_column_names_the_file_and_the_column(tmp_path: Path, glue_dir: Path) -> None:
    folder = tmp_path / "RTE"
    folder.mkdir()
    (folder / "train.tsv").write_text("index\tpremise\thypothesis\tlabel\n0\ta\tb\tentailment\n")
    (folder / "dev.tsv").write_bytes((glue_dir / "RTE" / "dev.tsv").read_bytes())
    with pytest.raises(DataError, match=r"train\.tsv has no column\(s\) 'sentence1', 'sentence2'"):
        load_raw_splits(get_task("rte"), tmp_path)


def test_malformed_row_and_unknown_label_are_data_errors(tmp_path: Path) -> None:
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "dev.tsv").write_text("sentence\tlabel\ngood \t1\n")
    (folder / "train.tsv").write_text("sentence\tlabel\ngood \t1\nbad\n")
    with pytest.raises(DataError, match="Line 3 of .*train.tsv has 1 fields, expected 2"):
        load_raw_splits(get_task("sst2"), tmp_path)
    (folder / "train.tsv").write_text("sentence\tlabel\ngood \tpositive\n")
    with pytest.raises(DataError, match="label 'positive'; expected one of '0', '1'"):
        load_raw_splits(get_task("sst2"), tmp_path)


def test_selection_split_is_stratified_disjoint_and_fixed_by_its_seed(glue_dir: Path) -> None:
    raw = load_raw_splits(get_task("mrpc"), glue_dir)
    train, held_out = selection_split(raw.train, 0.1, seed=0)
    train_ids, held_ids = set(train["idx"][:]), set(held_out["idx"][:])
    assert not train_ids & held_ids
    assert train_ids | held_ids == set(range(len(raw.train)))
    assert len(held_out) == 367  # ceil(0.1 * 3668)
    # Stratified: the label shares match the full train set's (2474/3668 = 67.4% positive).
    assert sum(held_out["label"][:]) / len(held_out) == pytest.approx(2474 / 3668, abs=0.005)
    again = selection_split(raw.train, 0.1, seed=0)[1]
    assert again["idx"][:] == held_out["idx"][:]
    other = selection_split(raw.train, 0.1, seed=1)[1]
    assert other["idx"][:] != held_out["idx"][:]


def test_subsampling_happens_after_the_split(glue_dir: Path) -> None:
    raw = load_raw_splits(get_task("rte"), glue_dir)
    full = make_splits(raw, SplitRecipe("selection", 0.1, 0, None, None))
    small = make_splits(raw, SplitRecipe("selection", 0.1, 0, 40, 12))
    assert len(small.train) == 40 and len(small.eval) == 12
    # A debug run scores only on examples the full run holds out, and trains only on its train part.
    assert set(small.eval["idx"][:]) <= set(full.eval["idx"][:])
    assert set(small.train["idx"][:]) <= set(full.train["idx"][:])
    dev = make_splits(raw, SplitRecipe("dev", 0.1, 0, None, None))
    assert len(dev.train) == 2490 and len(dev.eval) == 277 and dev.eval_split == "dev"


def test_tokenization_truncates_without_padding_and_is_cached(
    glue_dir: Path, tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweepfirst.training import tokenization
    from sweepfirst.training.models import load_tokenizer

    task = get_task("rte")
    tokenizer = load_tokenizer(str(tiny_bert_dir))
    raw = load_raw_splits(task, glue_dir)
    recipe = SplitRecipe("selection", 0.1, 0, 64, 16)
    splits = make_splits(raw, recipe)
    key = tokenization.cache_key(task, raw.fingerprint, tokenizer, 32, recipe.cache_key())
    train, held_out = tokenization.tokenize_splits(splits, tokenizer, 32, tmp_path, key)
    lengths = train["length"][:]
    assert max(lengths) == 32 and min(lengths) < 32  # truncated, not padded
    assert [len(ids) for ids in train["input_ids"][:]] == lengths
    assert train["idx"][:] == splits.train["idx"][:]
    assert len(held_out) == 16

    # Trial two: same key, so nothing is tokenized again.
    def no_tokenizing(*args: object, **kwargs: object) -> None:
        raise AssertionError("tokenized again despite the cache")

    monkeypatch.setattr(tokenization, "tokenize", no_tokenizing)
    again, _ = tokenization.tokenize_splits(splits, tokenizer, 32, tmp_path, key)
    assert again["input_ids"][:] == train["input_ids"][:]
    # Anything that changes the content changes the key.
    assert key != tokenization.cache_key(task, raw.fingerprint, tokenizer, 64, recipe.cache_key())
    other_recipe = SplitRecipe("selection", 0.1, 1, 64, 16).cache_key()
    assert key != tokenization.cache_key(task, raw.fingerprint, tokenizer, 32, other_recipe)
    assert not list((tmp_path / "tokenized").glob(".*.tmp"))  # no staging leftovers


def test_hub_splits_are_turned_into_the_same_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub cannot be reached here: a stand-in shaped like ``nyu-mll/glue`` (the edge we do
    not own) checks the column mapping and the error message."""
    import datasets

    labels = datasets.ClassLabel(names=["not_equivalent", "equivalent"])
    features = datasets.Features(
        sentence1=datasets.Value("string"),
        sentence2=datasets.Value("string"),
        label=labels,
        idx=datasets.Value("int32"),
    )

    def split(n: int) -> datasets.Dataset:
        rows = {
            "sentence1": [f"a{i}" for i in range(n)],
            "sentence2": [f"b{i}" for i in range(n)],
            "label": [i % 2 for i in range(n)],
            "idx": list(range(n)),
        }
        return datasets.Dataset.from_dict(rows, features=features)

    calls: list[tuple[str, str]] = []

    def fake_load_dataset(path: str, name: str) -> datasets.DatasetDict:
        calls.append((path, name))
        return datasets.DatasetDict(train=split(6), validation=split(4), test=split(2))

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    raw = load_raw_splits(get_task("mrpc"), None)
    assert calls == [("nyu-mll/glue", "mrpc")]
    assert len(raw.train) == 6 and len(raw.dev) == 4
    assert raw.train.column_names == ["idx", "text_a", "text_b", "label"]
    assert raw.train[1] == {"idx": 1, "text_a": "a1", "text_b": "b1", "label": 1}

    def unreachable(path: str, name: str) -> None:
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataError, match="Could not load nyu-mll/glue/mrpc.*pass --data-dir"):
        load_raw_splits(get_task("mrpc"), None)
