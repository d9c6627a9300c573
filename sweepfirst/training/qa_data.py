"""SQuAD 2.0 as a ``datasets.Dataset``: from local official-format files, or from the Hub.

Local layout (under ``--data-dir``; ``SQuAD-v2/`` is accepted in place of ``squad_v2/``, and the
folder holding the files may also be passed directly)::

    <data_dir>/squad_v2/train-v2.0.json   optional
    <data_dir>/squad_v2/dev-v2.0.json     required

Each question becomes one row with the columns of the Hub's ``rajpurkar/squad_v2``: ``id``,
``title``, ``context``, ``question`` and ``answers`` (``{"text": [...], "answer_start": [...]}``,
both empty for an unanswerable question), so the preprocessing cannot tell the sources apart.

**When only dev-v2.0.json is there** (as in ``shared/data``: the official train set is not
shipped), both splits are cut from the dev set *by article* with :func:`split_by_article`: no
article, and so no context, is on both sides. Scores on such a split are not comparable with
published SQuAD 2.0 dev-set numbers, which use the whole dev set for evaluation and the official
train set for training.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import datasets

from sweepfirst.analysis.squad_v2_metric import load_dataset_file
from sweepfirst.errors import DataError

#: The Hub dataset used when no local data directory is given.
HUB_DATASET_ID = "rajpurkar/squad_v2"
#: Folder names searched under the data directory, in order.
LOCAL_DIR_NAMES = ("squad_v2", "SQuAD-v2")
TRAIN_FILE = "train-v2.0.json"
DEV_FILE = "dev-v2.0.json"


def squad_v2_features() -> datasets.Features:
    """The column types of the Hub's ``rajpurkar/squad_v2``."""
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "title": datasets.Value("string"),
            "context": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answers": {
                "text": datasets.List(datasets.Value("string")),
                "answer_start": datasets.List(datasets.Value("int32")),
            },
        }
    )


def find_squad_v2_dir(data_dir: str | PathLike[str]) -> Path:
    """The folder holding ``dev-v2.0.json``: ``data_dir`` itself or one of :data:`LOCAL_DIR_NAMES`."""
    root = Path(data_dir)
    for candidate in (root, *(root / name for name in LOCAL_DIR_NAMES)):
        if (candidate / DEV_FILE).is_file():
            return candidate
    raise DataError(
        f"No SQuAD 2.0 data under {root}: expected {root}/squad_v2/{DEV_FILE} (and optionally "
        f"{TRAIN_FILE}) in the official JSON format; check --data-dir or SWEEPFIRST_DATA_DIR."
    )


def articles_to_dataset(articles: Iterable[Mapping[str, Any]]) -> datasets.Dataset:
    """Flatten official-format articles to one row per question, in file order."""
    rows: dict[str, list[Any]] = {
        "id": [],
        "title": [],
        "context": [],
        "question": [],
        "answers": [],
    }
    for article in articles:
        title = article.get("title", "")
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows["id"].append(qa["id"])
                rows["title"].append(title)
                # The context is kept byte for byte: answer_start indexes into it.
                rows["context"].append(paragraph["context"])
                rows["question"].append(qa["question"])
                # Plausible answers of unanswerable questions are dropped, as the Hub loader does.
                rows["answers"].append(
                    {
                        "text": [a["text"] for a in qa["answers"]],
                        "answer_start": [a["answer_start"] for a in qa["answers"]],
                    }
                )
    return datasets.Dataset.from_dict(rows, features=squad_v2_features())


def load_squad_v2_file(path: str | PathLike[str]) -> datasets.Dataset:
    """One official-format file as a flat dataset; :class:`DataError` if missing or malformed."""
    articles = load_dataset_file(path)
    try:
        return articles_to_dataset(articles)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"The SQuAD data file {path} has a malformed question ({exc!r}).") from None


def dataset_to_articles(dataset: datasets.Dataset) -> list[dict[str, Any]]:
    """Rebuild official-format articles from flat rows, for the SQuAD 2.0 metric.

    Rows are grouped by title and then by context, keeping first-appearance order, so a split made
    by :func:`split_by_article` can be scored with ``squad_v2_metric.evaluate``.
    """
    articles: dict[str, dict[str, dict[str, Any]]] = {}
    columns = zip(
        dataset["id"], dataset["title"], dataset["context"], dataset["question"], dataset["answers"]
    )
    for qid, title, context, question, answers in columns:
        paragraphs = articles.setdefault(title, {})
        paragraph = paragraphs.setdefault(context, {"context": context, "qas": []})
        paragraph["qas"].append(
            {
                "id": qid,
                "question": question,
                "answers": [
                    {"text": text, "answer_start": start}
                    for text, start in zip(answers["text"], answers["answer_start"])
                ],
                "is_impossible": not answers["text"],
            }
        )
    return [
        {"title": title, "paragraphs": list(paragraphs.values())}
        for title, paragraphs in articles.items()
    ]


def split_by_article(
    dataset: datasets.Dataset, eval_fraction: float, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split into (train, eval) by whole articles (titles), so no context is on both sides.

    The articles are shuffled with ``seed`` and moved to the eval side until it holds at least
    ``eval_fraction`` of the questions; each side keeps at least one article. The same data, fraction
    and seed always give the same split. Rows keep their original order within each side.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be between 0 and 1 (exclusive), got {eval_fraction}.")
    rows_by_title: dict[str, list[int]] = {}
    for index, title in enumerate(dataset["title"]):
        rows_by_title.setdefault(title, []).append(index)
    if len(rows_by_title) < 2:
        raise DataError("Splitting SQuAD by article needs at least two articles (titles).")

    titles = list(rows_by_title)  # first-appearance order, so the shuffle is reproducible
    random.Random(seed).shuffle(titles)
    target = eval_fraction * len(dataset)
    eval_titles: set[str] = set()
    eval_size = 0
    for title in titles[:-1]:  # the last article always stays on the train side
        if eval_size >= target:
            break
        eval_titles.add(title)
        eval_size += len(rows_by_title[title])

    train_rows = sorted(
        i for t, rows in rows_by_title.items() if t not in eval_titles for i in rows
    )
    eval_rows = sorted(i for t in eval_titles for i in rows_by_title[t])
    return dataset.select(train_rows), dataset.select(eval_rows)


def load_squad_v2(
    data_dir: str | PathLike[str] | None,
    *,
    eval_fraction: float = 0.2,
    seed: int = 0,
) -> datasets.DatasetDict:
    """SQuAD 2.0 as ``{"train", "validation"}``.

    * ``data_dir`` is None: the Hub's ``rajpurkar/squad_v2`` (official train and dev sets).
    * local train and dev files: the official train and dev sets.
    * local dev file only: both splits cut from the dev set by article (see the module docstring);
      ``eval_fraction`` and ``seed`` choose the cut and are ignored otherwise.
    """
    if data_dir is None:
        return _load_from_hub()
    folder = find_squad_v2_dir(data_dir)
    dev = load_squad_v2_file(folder / DEV_FILE)
    if (folder / TRAIN_FILE).is_file():
        return datasets.DatasetDict(
            {"train": load_squad_v2_file(folder / TRAIN_FILE), "validation": dev}
        )
    train, validation = split_by_article(dev, eval_fraction, seed)
    return datasets.DatasetDict({"train": train, "validation": validation})


def _load_from_hub() -> datasets.DatasetDict:
    try:
        loaded = datasets.load_dataset(HUB_DATASET_ID)
    except (ConnectionError, OSError) as exc:  # offline, no cache, or the Hub is down
        raise DataError(
            f"Could not load {HUB_DATASET_ID} from the Hugging Face Hub ({exc}); pass --data-dir "
            f"with squad_v2/{DEV_FILE} in it instead."
        ) from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise DataError(f"{HUB_DATASET_ID} did not load as train/validation splits.")
    return loaded
