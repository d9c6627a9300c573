"""benchmarks/gpu_check.sh and the CPU-side pieces of benchmarks/gpu_throughput.py, on a machine
without a GPU (the GPU run itself is the script's job)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from noop_jobs import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.sh"


@pytest.fixture(scope="module")
def gpu_throughput() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_throughput", REPO_ROOT / "benchmarks" / "gpu_throughput.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_throughput"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_script_parses() -> None:
    checked = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_without_a_gpu_the_script_says_so_and_exits_3(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "PATH": os.environ.get("PATH", "")}
    env.pop("OUT", None)
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], capture_output=True, text=True, env=env, check=False,
                          timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    device = (tmp_path / "out" / "device.txt").read_text()
    assert "available False" in device and "this check needs a GPU" in device


def test_peak_lookup_takes_the_most_specific_name(gpu_throughput: ModuleType) -> None:
    assert gpu_throughput.peak_tflops("NVIDIA H200") == 989.0
    assert gpu_throughput.peak_tflops("NVIDIA H100 80GB HBM3") == 756.0  # unnamed variant: the lowest
    assert gpu_throughput.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_throughput.peak_tflops("NVIDIA H100 NVL") == 835.0
    assert gpu_throughput.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_throughput.peak_tflops("Tesla T4") is None


def test_bert_base_flops_follow_palms_rule(gpu_throughput: ModuleType) -> None:
    """bert-base by hand: a layer is 4 x (768x768 + 768) attention + 2 x 1,536 LayerNorm + 768x3072
    + 3072 + 3072x768 + 768 FFN = 7,087,872; 12 layers, the pooler (590,592) and a 2-way head
    (1,538) make 85,646,594 non-embedding parameters. Per example of 128 tokens:
    128 x (6 x 85,646,594 + 12 x 12 x 768 x 128) = 67,588,523,520 FLOPs."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    with torch.device("meta"):
        model = BertForSequenceClassification(BertConfig(num_labels=2))
    assert gpu_throughput.non_embedding_parameters(model) == 85_646_594
    assert gpu_throughput.training_flops_per_example(85_646_594, 12, 768, 128) == 67_588_523_520


def test_a_row_adds_the_jobs_up_and_divides_by_the_peak(gpu_throughput: ModuleType) -> None:
    figures = [
        {"examples_per_s": 1000.0, "peak_memory_gb": 3.5, "precision": "bf16", "flops_per_example": 6.0e10,
         "device_name": "NVIDIA H200", "examples": 1, "seconds": 1.0},
        {"examples_per_s": 800.0, "peak_memory_gb": 3.7, "precision": "bf16", "flops_per_example": 6.0e10,
         "device_name": "NVIDIA H200", "examples": 1, "seconds": 1.0},
        {"error": "OutOfMemoryError: CUDA out of memory."},
    ]
    row = gpu_throughput.summarise("bert-base", 3, figures, 12.34)
    assert (row.examples_per_s_total, row.examples_per_s_per_job, row.peak_memory_gb_per_job) == (1800.0, 900.0, 3.7)
    assert row.mfu == round(1800 * 6.0e10 / 989e12, 4) == 0.1092
    assert row.errors == ["OutOfMemoryError: CUDA out of memory."]
    assert "OutOfMemoryError" in gpu_throughput.format_row(row) and "10.9%" in gpu_throughput.format_row(row)


def test_one_job_trains_on_the_cpu(gpu_throughput: ModuleType, one_torch_thread: None) -> None:
    setting = gpu_throughput.Setting(model="tiny", device="cpu", batch_size=4, seq_len=16, seconds=0.5,
                                     warmup_steps=1)
    figures = gpu_throughput.train_for(setting)
    assert figures.examples > 0 and figures.examples % 4 == 0 and figures.examples_per_s > 0
    assert (figures.precision, figures.device_name, figures.peak_memory_gb) == ("fp32", "cpu", 0.0)
