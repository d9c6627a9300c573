#!/usr/bin/env bash
# The GPU check: run once on a machine with a CUDA GPU (an H100/H200: under 8 minutes), offline.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # default: $OUT, else benchmarks/out/gpu_check
#
# 1. the tests marked `gpu` (tests/distributed/test_gpu.py): bf16 chosen by `precision: auto`,
#    worker processes pinned to their devices, two real jobs sharing one GPU (--jobs-per-gpu 2);
# 2. training throughput of the bundled MiniLM and of a random-weight bert-base (`BertConfig()`)
#    at 1, 2, 4 and 8 jobs on GPU 0: examples/s per job and in total, peak memory, MFU
#    (benchmarks/gpu_throughput.py).
# Needs the project installed in .venv (or $PYTHON) and nothing from the network. Writes
# device.txt, gpu_tests.txt, gpu_throughput.{txt,json} into OUT_DIR; exits non-zero if a part failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
out_dir="${1:-${OUT:-benchmarks/out/gpu_check}}"
mkdir -p "$out_dir"
if [[ -z "${PYTHON:-}" && -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; fi
python="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled
export TOKENIZERS_PARALLELISM=false
unset CI  # PostgreSQL is not needed here; the gpu tests use SQLite
failed=0
started=$(date +%s)

{
  date -u
  nvidia-smi || echo "nvidia-smi: not found"
  "$python" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(), "devices", torch.cuda.device_count(),
"bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported()); print("transformers", transformers.__version__)'
} > "$out_dir/device.txt" 2>&1
cat "$out_dir/device.txt"
if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "no CUDA device visible: this check needs a GPU" | tee -a "$out_dir/device.txt"
  exit 3
fi

echo "== tests marked gpu"
timeout 170 "$python" -m pytest -q -m gpu tests/distributed/test_gpu.py -p no:cacheprovider -rs 2>&1 \
  | tee "$out_dir/gpu_tests.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || failed=1

echo "== throughput at 1, 2, 4, 8 jobs per GPU"
timeout 290 "$python" benchmarks/gpu_throughput.py --models minilm bert-base --jobs-per-gpu 1 2 4 8 \
  --seconds "${GPU_CHECK_SECONDS:-12}" --json-out "$out_dir/gpu_throughput.json" 2>&1 \
  | tee "$out_dir/gpu_throughput.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || failed=1

echo "gpu_check: $(( $(date +%s) - started )) s, results in $out_dir$([[ $failed -eq 0 ]] || echo '; a part FAILED')"
exit "$failed"
