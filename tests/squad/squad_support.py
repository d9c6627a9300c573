"""Shared helpers of the SQuAD v2 training tests: a tiny SQuAD-format data set, hyperparameters."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweepfirst.training import TrainingRequest

WORDS = [
    "the",
    "a",
    "river",
    "town",
    "old",
    "new",
    "stone",
    "bridge",
    "market",
    "hill",
    "road",
    "north",
    "south",
    "early",
    "late",
]
PLACES = ["Arden", "Belmor", "Calder", "Dunmere", "Elsby", "Farrow", "Galen", "Harlow"]
FOODS = ["bread", "cheese", "apples", "honey", "fish", "salt", "wool", "beer"]

FULL_HP: dict[str, Any] = {
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 8,
    "num_train_epochs": 2,
}
LORA_HP: dict[str, Any] = {**FULL_HP, "lora_r": 4, "lora_alpha": 8}

#: ``make_qa_request(name, *, method=..., **request_fields)``
QaRequestFactory = Callable[..., TrainingRequest]


def _filler(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def tiny_squad_articles(num_articles: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """Official-format articles: each paragraph states facts, asks about two of them (answerable)
    and about a place it never mentions (unanswerable, with a plausible answer as in SQuAD 2.0).
    The first paragraph of each article is long, so its context needs several windows."""
    rng = random.Random(seed)
    articles = []
    for a in range(num_articles):
        paragraphs = []
        for p in range(2):
            place, other = rng.sample(PLACES, 2)
            food = rng.choice(FOODS)
            year = str(1700 + rng.randrange(300))
            facts = [
                f"The town of {place} was founded in {year}.",
                f"Its market is famous for {food}.",
            ]
            padding = [_filler(rng, 12) for _ in range(40 if p == 0 else 2)]
            context = " ".join([padding[0], facts[0], *padding[1:-1], facts[1], padding[-1]])
            qas = []
            for k, (question, answer) in enumerate(
                [(f"When was {place} founded?", year), (f"What is {place} famous for?", food)]
            ):
                qas.append(
                    {
                        "id": f"q{a}{p}{k}",
                        "question": question,
                        "answers": [{"text": answer, "answer_start": context.index(answer)}],
                        "is_impossible": False,
                    }
                )
            qas.append(
                {
                    "id": f"q{a}{p}9",
                    "question": f"When was {other} founded?",
                    "answers": [],
                    "plausible_answers": [{"text": year, "answer_start": context.index(year)}],
                    "is_impossible": True,
                }
            )
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": f"Article_{a}", "paragraphs": paragraphs})
    return articles


def write_tiny_squad(folder: Path, **options: Any) -> Path:
    """``folder/dev-v2.0.json`` with :func:`tiny_squad_articles`; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {"version": "v2.0", "data": tiny_squad_articles(**options)}
    (folder / "dev-v2.0.json").write_text(json.dumps(document), encoding="utf-8")
    return folder
