"""From a request to ``TrainingArguments``: schedule, precision, evaluation cadence, reporting."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sweepfirst.errors import SweepfirstError
from sweepfirst.training.hyperparameters import Hyperparameters, optimizer_steps
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.tokenization import LENGTH_COLUMN

if TYPE_CHECKING:
    from transformers import TrainingArguments

#: Checkpoints kept per job: the newest (to resume from) and one before it.
SAVE_TOTAL_LIMIT = 2
#: Evaluation batches are sorted by length, so a large batch wastes little on padding.
MIN_EVAL_BATCH_SIZE = 64
#: Log the training loss at least this often (in optimizer steps).
MAX_LOGGING_INTERVAL = 50


@dataclass(frozen=True)
class Schedule:
    """How many optimizer steps a job takes and when it evaluates."""

    steps_per_epoch: int
    eval_steps: int
    total_steps: int


def make_schedule(
    num_train_examples: int, params: Hyperparameters, evaluations_per_epoch: int
) -> Schedule:
    """The optimizer-step counts of a single-device job over ``num_train_examples`` examples.

    Matches the Trainer's own arithmetic (``Trainer.set_initial_training_values``): one batch per
    forward pass, the last batch may be short; with gradient accumulation, one optimizer step per
    ``gradient_accumulation_steps`` batches, the last one possibly shorter; ``max_steps`` > 0 wins
    over epochs.
    """
    steps_per_epoch, total_steps = optimizer_steps(num_train_examples, params)
    # ceil: never more than `evaluations_per_epoch` evaluations in an epoch. The Trainer adds a
    # last evaluation at the final step if the cadence does not land on it.
    eval_steps = max(1, math.ceil(steps_per_epoch / evaluations_per_epoch))
    return Schedule(steps_per_epoch, eval_steps, total_steps)


#: The /proc/cpuinfo flag of the CPUs where bf16 training was measured faster than fp32 at equal
#: dev accuracy (benchmarks/RESULTS.md, "bf16 on this CPU"): Intel's AMX tiles for bf16 (Sapphire
#: Rapids and later). AVX512-BF16 alone (AMD Zen 4, older Xeons) runs bf16 matmuls fast but has not
#: been measured faster over whole training steps on an idle machine, so it keeps fp32.
FAST_CPU_BF16_FLAG = "amx_bf16"


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU is one where ``auto`` trains in bf16 (see ``FAST_CPU_BF16_FLAG``).

    Read from the kernel's flags, which list AMX only where the kernel also enables it; a system
    without ``/proc/cpuinfo`` (macOS, Windows) keeps fp32.
    """
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and FAST_CPU_BF16_FLAG in line.split(":", 1)[-1].split()
        for line in text.splitlines()
    )


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` on a GPU that supports it or a CPU where bf16 was measured faster at
    equal accuracy (``cpu_has_fast_bf16``), else ``fp32``; explicit choices are checked."""
    import torch

    has_cuda = torch.cuda.is_available()
    if precision == "auto":
        if has_cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and not has_cuda:
        raise SweepfirstError("precision 'fp16' needs a CUDA GPU; use 'auto', 'fp32' or 'bf16'.")
    if precision == "bf16" and has_cuda and not torch.cuda.is_bf16_supported():
        raise SweepfirstError("This GPU does not support bf16; use 'auto', 'fp16' or 'fp32'.")
    return precision


def build_training_arguments(
    request: TrainingRequest,
    params: Hyperparameters,
    schedule: Schedule,
    precision: str,
    label_names: list[str] | None = None,
) -> TrainingArguments:
    """The ``TrainingArguments`` of one job.

    ``label_names``: the input columns that hold the gold answers, when the Trainer cannot tell from
    the model class (None: the Trainer's own guess, ``labels`` for a classifier).
    """
    from transformers import TrainingArguments

    save = request.save_checkpoints
    # Every other knob of the job (gradient accumulation, scheduler, optimizer, Adam's betas, max
    # grad norm, label smoothing, max_steps, or warmup_steps instead of the ratio ...) as given;
    # the vocabulary has already refused the fields sweepfirst sets below. transformers 5 has no
    # warmup_ratio: a float in [0, 1) in warmup_steps is a ratio of the total steps.
    knobs = {"lr_scheduler_type": "linear", "warmup_steps": params.warmup_ratio, **params.training}
    try:
        return TrainingArguments(
            **knobs,
            output_dir=str(request.output_dir),
            seed=request.seed,
            learning_rate=params.learning_rate,
            per_device_train_batch_size=params.per_device_train_batch_size,
            per_device_eval_batch_size=max(MIN_EVAL_BATCH_SIZE, params.per_device_train_batch_size),
            num_train_epochs=params.num_train_epochs,
            weight_decay=params.weight_decay,
            eval_strategy="steps",
            eval_steps=schedule.eval_steps,
            save_strategy="steps" if save else "no",
            save_steps=schedule.eval_steps,
            save_total_limit=SAVE_TOTAL_LIMIT,
            # We report the final model, not the best one: picking the best step on the split we
            # report would be selection on the test set.
            load_best_model_at_end=False,
            logging_strategy="steps",
            logging_steps=max(1, min(MAX_LOGGING_INTERVAL, schedule.eval_steps)),
            train_sampling_strategy="group_by_length",
            length_column_name=LENGTH_COLUMN,
            label_names=label_names,
            bf16=precision == "bf16",
            # bf16 without a GPU is CPU autocast, which transformers accepts only when told the
            # job runs on the CPU (fast on CPUs with AMX, such as Sapphire Rapids).
            use_cpu=precision == "bf16" and not _has_cuda(),
            fp16=precision == "fp16",
            report_to=["wandb"] if request.wandb.enabled else "none",
            run_name=request.wandb.name,
            disable_tqdm=True,
            # Pinned memory only helps when batches go to a GPU.
            dataloader_pin_memory=_has_cuda(),
        )
    except ValueError as exc:
        raise SweepfirstError(f"The training settings are not valid here: {exc}") from exc


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
