"""Fixtures for the SQuAD v2 training tests: small real jobs on the tiny BERT and tiny data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from squad_support import FULL_HP, LORA_HP, QaRequestFactory, write_tiny_squad

from sweepfirst.training import TrainingRequest


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root laid out like ``shared/data``: an (empty) ``glue/`` next to ``squad_v2/``."""
    root = tmp_path_factory.mktemp("data")
    (root / "glue").mkdir()
    write_tiny_squad(root / "squad_v2")
    return root


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every test here trains a tiny model: on one torch thread (see the root conftest)."""


@pytest.fixture(scope="session")
def qa_token_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qa-token-cache")


@pytest.fixture
def make_qa_request(
    tmp_path: Path, tiny_data_root: Path, tiny_bert_dir: Path, qa_token_cache: Path
) -> QaRequestFactory:
    """A small real SQuAD v2 job: tiny BERT, the tiny data set, GLUE's folder as --data-dir."""

    def build(
        name: str = "job",
        *,
        method: str = "full_finetune",
        hyperparameters: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> TrainingRequest:
        values: dict[str, Any] = {
            "task": "squad_v2",
            "method": method,
            "hyperparameters": dict(hyperparameters or (LORA_HP if method == "lora" else FULL_HP)),
            "seed": 7,
            "model": str(tiny_bert_dir),
            "output_dir": tmp_path / name,
            "data_dir": tiny_data_root / "glue",
            "max_seq_length": 384,
            "evaluations_per_epoch": 2,
            "cache_dir": qa_token_cache,
        }
        values.update(overrides)
        return TrainingRequest(**values)

    return build
