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

import json
import json.scanner
import random
from collections.abc import Iterable, Mapping
from json.decoder import JSONArray, JSONObject  # type: ignore[attr-defined]  # untyped parts
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.errors import DataError
from sweepfirst.training.data import decode_utf8, read_bytes

if TYPE_CHECKING:
    # Imported where used, so the planner's data check can read the files without loading it.
    import datasets

#: The Hub dataset used when no local data directory is given.
HUB_DATASET_ID = "rajpurkar/squad_v2"
#: Folder names searched under the data directory, in order.
LOCAL_DIR_NAMES = ("squad_v2", "SQuAD-v2")
TRAIN_FILE = "train-v2.0.json"
DEV_FILE = "dev-v2.0.json"


def squad_v2_features() -> datasets.Features:
    """The column types of the Hub's ``rajpurkar/squad_v2``."""
    import datasets

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
    import datasets

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
    articles = read_squad_articles(Path(path))
    try:
        return articles_to_dataset(articles)
    except (KeyError, TypeError, ValueError) as exc:  # read_squad_articles checked the shape
        raise DataError(f"The SQuAD data file {path} has a malformed question ({exc!r}).") from None


# ---- reading and checking an official-format file ----------------------------------------------
#
# Shared with ``data_check``, which runs it when a run is planned: what the check accepts, the
# loader accepts, and both fail with the same sentence.

#: A place in the JSON document: keys and list indices from the top (``("data", 3, "paragraphs")``).
JsonPath = tuple[str | int, ...]


def read_squad_articles(path: Path) -> list[dict[str, Any]]:
    """The articles (``data``) of an official-format SQuAD 2.0 file, checked for what loading needs.

    Every article needs a ``paragraphs`` list (and a string ``title``, if any), every paragraph a
    ``context`` string and a ``qas`` list, every question an ``id`` and ``question`` string and an
    ``answers`` list of ``{"text": str, "answer_start": int}``; the file needs one question at least.

    Raises:
        DataError: the file is missing, not UTF-8, not JSON or not in that shape; the message gives
            the line and column (official files are one long line, so the column matters).
    """
    content = read_bytes(path)
    text = decode_utf8(path, content, strip_bom=False)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"Line {exc.lineno}, column {exc.colno} of {path} is not valid JSON ({exc.msg}); "
            "repair it there or restore the official SQuAD 2.0 file."
        ) from None
    problem = _squad_shape_problem(document)
    if problem is not None:
        where, what = problem
        line, column = _json_position(text, where)
        raise DataError(
            f"Line {line}, column {column} of {path}: {what}; fix it there or restore the "
            "official SQuAD 2.0 file."
        )
    articles: list[dict[str, Any]] = document["data"]
    return articles


def _squad_shape_problem(document: Any) -> tuple[JsonPath, str] | None:
    """Where the first thing the loader cannot use is, and what it is; None when all is well."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        return (), "the file is not a JSON object with a 'data' list of articles"
    questions = 0
    for a, article in enumerate(document["data"]):
        at: JsonPath = ("data", a)
        name = f"data[{a}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            return at, f"the article {name} has no 'paragraphs' list"
        if not isinstance(article.get("title", ""), str):
            return at, f"the article {name} has a 'title' that is not a string"
        for p, paragraph in enumerate(article["paragraphs"]):
            at_p: JsonPath = (*at, "paragraphs", p)
            name_p = f"{name}.paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                return at_p, f"the paragraph {name_p} has no 'qas' list of questions"
            if not isinstance(paragraph.get("context"), str):
                return at_p, f"the paragraph {name_p} has no 'context' string"
            for q, qa in enumerate(paragraph["qas"]):
                at_q: JsonPath = (*at_p, "qas", q)
                problem = _question_problem(qa, f"{name_p}.qas[{q}]")
                if problem is not None:
                    return at_q, problem
                questions += 1
    if questions == 0:
        return ("data",), "the file holds no questions, so its split would be empty"
    return None


def _question_problem(qa: Any, name: str) -> str | None:
    if not isinstance(qa, dict):
        return f"malformed question {name} is not a JSON object"
    for key in ("id", "question"):
        if not isinstance(qa.get(key), str):
            return f"malformed question {name} has no {key!r} string"
    answers = qa.get("answers")
    if not isinstance(answers, list):
        return f"malformed question {name} has no 'answers' list"
    for answer in answers:
        if not (
            isinstance(answer, dict)
            and isinstance(answer.get("text"), str)
            and isinstance(answer.get("answer_start"), int)
            and not isinstance(answer["answer_start"], bool)
        ):
            return (
                f"malformed question {name} has an answer without a 'text' string and an "
                "integer 'answer_start'"
            )
    return None


def _json_position(text: str, where: JsonPath) -> tuple[int, int]:
    """The 1-based line and column where the object or list at ``where`` starts in ``text``.

    The standard library's fast parser keeps no positions, so this parses again with its
    pure-Python scanner, noting where each object and list starts; it runs only for a broken file.
    """
    starts: dict[int, int] = {}
    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        value, end = JSONObject(s_and_end, *args)
        starts[id(value)] = s_and_end[1] - 1  # the scanner passes the index after the brace
        return value, end

    def parse_array(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        value, end = JSONArray(s_and_end, *args)
        starts[id(value)] = s_and_end[1] - 1
        return value, end

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.parse_array = parse_array  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    node = decoder.decode(text)
    offset = starts.get(id(node), len(text) - len(text.lstrip()))
    for key in where:
        node = node[key]
        offset = starts.get(id(node), offset)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


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
    import datasets

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
    import datasets

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
