"""Tiny runs for the pipeline tests: a tiny GLUE folder written by the test, tiny workflows.

Plain functions, imported by name (``from tiny_runs import tiny_workflow_dict``): the fixtures
built on them live in ``tests/conftest.py``, and a test module cannot import a conftest.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "rug", "big", "small", "red", "blue", "quickly", "slowly", "house", "tree"]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9)))


def write_tiny_glue(root: Path, *, train_rows: int = 120, dev_rows: int = 40) -> Path:
    """MRPC and SST-2 files in the classic glue_data layout (with MRPC's BOM and bare quotes)."""
    rng = random.Random(0)
    (root / "MRPC").mkdir(parents=True, exist_ok=True)
    (root / "SST-2").mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        lines = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        for i in range(rows):
            first = _sentence(rng)
            label = i % 2
            second = first if label else _sentence(rng)
            lines.append(f'{label}\t{i}\t{i + 1000}\t"{first}\t{second}')
        (root / "MRPC" / f"{split}.tsv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
        sst = ["sentence\tlabel"]
        for i in range(rows):
            label = i % 2
            words = _sentence(rng) + (" good great" if label else " bad awful")
            sst.append(f"{words} \t{label}")
        (root / "SST-2" / f"{split}.tsv").write_text("\n".join(sst) + "\n", encoding="utf-8")
    return root


def tiny_workflow_dict(model_dir: Path, **changes: Any) -> dict[str, Any]:
    workflow: dict[str, Any] = {
        "name": "tiny",
        "model": str(model_dir),
        "tasks": ["mrpc"],
        "methods": {
            "full_finetune": {"sweep": {
                "method": "random", "run_cap": 2,
                "parameters": {
                    "learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-4, "max": 1.0e-3},
                    "per_device_train_batch_size": {"value": 8},
                    "num_train_epochs": {"value": 1},
                },
            }},
            "lora": {"sweep": {
                "method": "random", "run_cap": 2,
                "parameters": {
                    "learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-3, "max": 5.0e-3},
                    "per_device_train_batch_size": {"value": 8},
                    "num_train_epochs": {"value": 1},
                    "lora_r": {"value": 4},
                    "lora_alpha": {"value": 8},
                },
            }},
        },
        "seeds": {"sweep": [0], "production": [42, 1337]},
        "data": {"source": "local", "max_seq_length": 32},
        "training": {"evaluations_per_epoch": 2, "lease_seconds": 10},
        "wandb": {"mode": "disabled"},
    }
    for key, value in changes.items():
        node = workflow
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return workflow
