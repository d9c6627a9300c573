"""`training.precision: auto` on a CPU: bf16 only where it was measured faster at equal accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepfirst.training import arguments
from sweepfirst.training.arguments import cpu_has_fast_bf16, resolve_precision

# Flag lines as the kernel prints them (shortened), from the two kinds of machine this project
# was measured on: a Sapphire Rapids Xeon (AMX) and an AMD EPYC Zen 4 (AVX512-BF16, no AMX).
XEON_AMX = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8 avx512_fp16\n"
)
EPYC_ZEN4 = (
    "processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
)


def _cpuinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_amx_bf16_is_the_flag_that_turns_bf16_on(tmp_path: Path) -> None:
    assert cpu_has_fast_bf16(_cpuinfo(tmp_path, XEON_AMX)) is True
    assert cpu_has_fast_bf16(_cpuinfo(tmp_path, EPYC_ZEN4)) is False


def test_the_flag_counts_only_in_the_flags_line(tmp_path: Path) -> None:
    assert cpu_has_fast_bf16(_cpuinfo(tmp_path, "model name\t: amx_bf16 lookalike\nflags\t\t: fpu avx2\n")) is False


def test_no_cpuinfo_means_fp32(tmp_path: Path) -> None:
    assert cpu_has_fast_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize(("fast_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_a_cpu_follows_the_measured_rule(
    monkeypatch: pytest.MonkeyPatch, fast_bf16: bool, expected: str
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(arguments, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert resolve_precision("auto") == expected
    # An explicit choice is never overridden by the rule.
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("bf16") == "bf16"
