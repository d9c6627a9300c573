"""Fixtures for the training tests: small real jobs on the tiny BERT and real GLUE files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from training_support import FULL_HP, LORA_HP, RequestFactory

from sweepfirst.training import TrainingRequest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every test here trains a tiny model: on one torch thread (see the root conftest)."""


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenization cache shared by the whole session (as a sweep's trials share one)."""
    return tmp_path_factory.mktemp("token-cache")


@pytest.fixture
def make_request(
    tmp_path: Path, glue_dir: Path, tiny_bert_dir: Path, token_cache: Path
) -> RequestFactory:
    """Build a small real job: tiny BERT, a few dozen real RTE examples, 64 tokens."""

    def build(
        name: str = "job",
        *,
        method: str = "full_finetune",
        hyperparameters: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> TrainingRequest:
        values: dict[str, Any] = {
            "task": "rte",
            "method": method,
            "hyperparameters": dict(hyperparameters or (LORA_HP if method == "lora" else FULL_HP)),
            "seed": 7,
            "model": str(tiny_bert_dir),
            "output_dir": tmp_path / name,
            "data_dir": glue_dir,
            "max_train_samples": 32,
            "max_eval_samples": 16,
            "max_seq_length": 64,
            "evaluations_per_epoch": 2,
            "cache_dir": token_cache,
        }
        values.update(overrides)
        return TrainingRequest(**values)

    return build
