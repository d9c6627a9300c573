"""The one hyperparameter vocabulary: the libraries' own names, and what sweepfirst does with each.

A sweep or ``fixed:`` block may name any ``TrainingArguments`` field that changes training, any
model-config dropout, and any field of the method's peft config -- as the installed transformers
and peft spell them (read from :mod:`sweepfirst.library_fields`, generated from the installed
libraries, so that validating a workflow never imports torch). Every name resolves to one of:

- a **knob** (:class:`Knob`): trained with; its canonical name is the library's field name, except
  the seed's own names, kept: ``warmup_ratio`` (transformers 5's ``warmup_steps`` given as a
  ratio) and ``lora_r`` (peft's ``r`` for LoRA-family methods, whose configs have ``lora_alpha``);
- **set by sweepfirst, ignored**: where output goes, logging, evaluation and saving cadence,
  reporting, devices, seeds, the data (``output_dir``, ``logging_steps``, ``report_to``,
  ``dataset_name`` ...); listed once to the user;
- **precision**: ``fp16``/``bf16`` become ``training.precision``;
- **the model**: ``model_name_or_path`` must agree with the workflow's model.

Common aliases (``lr``, ``batch_size``, ``epochs``, ``r`` ...) map without a word; a workflow's
``parameter_names: {my_lr: learning_rate, shuffle: null}`` maps its own (``null``: ignore it).
Every unknown name is reported in one sentence, with a did-you-mean.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sweepfirst.errors import SpecError
from sweepfirst.library_fields import PEFT_CONFIGS, TRAINING_ARGUMENTS, Field

Category = Literal["training", "model_config", "peft"]

#: TrainingArguments fields sweepfirst sets itself: where things go, how runs are watched, saved,
#: evaluated, seeded and placed on devices. A sweep that sets one is told it has no effect.
SWEEPFIRST_OWNED_TRAINING_ARGUMENTS = frozenset({
    "output_dir", "logging_strategy", "logging_steps", "logging_first_step", "log_on_each_node",
    "logging_nan_inf_filter", "include_num_input_tokens_seen", "log_level", "log_level_replica",
    "disable_tqdm", "report_to", "run_name", "project", "trackio_space_id", "trackio_bucket_id",
    "trackio_static_space_id", "eval_strategy", "eval_steps", "eval_delay",
    "per_device_eval_batch_size", "prediction_loss_only", "eval_on_start", "eval_do_concat_batches",
    "eval_use_gather_object", "eval_accumulation_steps", "include_for_metrics",
    "batch_eval_metrics", "save_only_model", "save_strategy", "save_steps", "save_on_each_node",
    "save_total_limit", "enable_jit_checkpoint", "push_to_hub", "hub_token", "hub_private_repo",
    "hub_model_id", "hub_strategy", "hub_always_push", "hub_revision", "load_best_model_at_end",
    "metric_for_best_model", "greater_is_better", "ignore_data_skip",
    "restore_callback_states_from_checkpoint", "full_determinism", "seed", "data_seed", "use_cpu",
    "accelerator_config", "parallelism_config", "dataloader_drop_last", "dataloader_num_workers",
    "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor",
    "dataloader_multiprocessing_context", "dataloader_in_order", "remove_unused_columns",
    "label_names", "train_sampling_strategy", "length_column_name", "ddp_find_unused_parameters",
    "ddp_bucket_cap_mb", "ddp_broadcast_buffers", "ddp_static_graph", "ddp_backend", "ddp_timeout",
    "fsdp", "fsdp_config", "deepspeed", "debug", "skip_memory_metrics", "do_train", "do_eval",
    "do_predict", "resume_from_checkpoint", "local_rank", "bf16_full_eval", "fp16_full_eval",
    "tf32", "torch_compile", "torch_compile_backend", "torch_compile_mode", "use_liger_kernel",
    "liger_kernel_config", "torch_empty_cache_steps", "auto_find_batch_size", "use_cache",
})
#: Names transformers 4 had (HF example scripts still pass them) and what they are now.
RETIRED_TRAINING_ARGUMENTS: Mapping[str, str | None] = {
    "evaluation_strategy": None, "overwrite_output_dir": None, "logging_dir": None,
    "save_safetensors": None, "no_cuda": None, "fp16_opt_level": None,
    "half_precision_backend": None, "fp16_backend": None, "push_to_hub_model_id": None,
    "push_to_hub_organization": None, "push_to_hub_token": None, "group_by_length": None,
    "per_gpu_eval_batch_size": None, "use_mps_device": None, "use_ipex": None, "jit_mode_eval": None,
    "ray_scope": None, "include_inputs_for_metrics": None, "include_tokens_per_second": None,
    "per_gpu_train_batch_size": "per_device_train_batch_size",
}
#: Arguments of HF example scripts (run_glue.py's ModelArguments / DataTrainingArguments) that the
#: workflow decides, and the workflow field that does.
WORKFLOW_OWNED = {
    "dataset_name": "the workflow's tasks", "dataset_config_name": "the workflow's tasks", "task_name": "the workflow's tasks",
    "train_file": "the workflow's tasks", "validation_file": "the workflow's tasks", "test_file": "the workflow's tasks",
    "max_seq_length": "data.max_seq_length", "max_length": "data.max_seq_length",
    "max_train_samples": "data.max_train_samples", "max_eval_samples": "data.max_eval_samples",
    "max_predict_samples": "data.max_eval_samples", "pad_to_max_length": "data.max_seq_length",
    "cache_dir": "--artifacts", "overwrite_cache": "--artifacts",
    "preprocessing_num_workers": "--workers", "tokenizer_name": "the workflow's model", "config_name": "the workflow's model",
    "use_fast_tokenizer": "the workflow's model", "model_revision": "the workflow's model", "trust_remote_code": "the workflow's model",
    "token": "the workflow's model", "use_auth_token": "the workflow's model", "wandb_project": "wandb.project",
    "wandb_entity": "wandb.entity", "project_name": "wandb.project", "dataset": "the workflow's tasks",
    "data_path": "--data-dir", "data_dir": "--data-dir", "device": "--gpus", "gpus": "--gpus",
    "num_workers": "--workers", "eval_batch_size": "sweepfirst",
    "test_batch_size": "sweepfirst",
}
PRECISION_NAMES = ("fp16", "bf16")
MODEL_NAMES = ("model_name_or_path", "model_name", "base_model")
#: peft config fields sweepfirst sets from the task and the method definition.
PEFT_OWNED = frozenset({"task_type", "base_model_name_or_path", "revision", "inference_mode",
                        "auto_mapping", "peft_version"})

#: Names researchers write for a canonical one (any method).
ALIASES: Mapping[str, str] = {
    "lr": "learning_rate", "learning-rate": "learning_rate", "learningrate": "learning_rate",
    "batch_size": "per_device_train_batch_size", "bs": "per_device_train_batch_size",
    "batchsize": "per_device_train_batch_size", "train_batch_size": "per_device_train_batch_size",
    "per_device_batch_size": "per_device_train_batch_size",
    "epochs": "num_train_epochs", "epoch": "num_train_epochs", "num_epochs": "num_train_epochs",
    "n_epochs": "num_train_epochs", "max_epochs": "num_train_epochs",
    "warmup": "warmup_ratio", "warmup_proportion": "warmup_ratio",
    "wd": "weight_decay", "weight-decay": "weight_decay",
    "grad_accum": "gradient_accumulation_steps", "gradient_accumulation": "gradient_accumulation_steps",
    "accumulation_steps": "gradient_accumulation_steps",
    "grad_accumulation_steps": "gradient_accumulation_steps",
    "scheduler": "lr_scheduler_type", "lr_scheduler": "lr_scheduler_type",
    "lr_schedule": "lr_scheduler_type", "scheduler_type": "lr_scheduler_type",
    "optimizer": "optim", "grad_clip": "max_grad_norm", "clip_grad_norm": "max_grad_norm",
    "gradient_clipping": "max_grad_norm", "label_smoothing": "label_smoothing_factor",
    "beta1": "adam_beta1", "beta2": "adam_beta2", "eps": "adam_epsilon", "epsilon": "adam_epsilon",
    "adam_eps": "adam_epsilon", "steps": "max_steps", "train_steps": "max_steps",
}
#: Aliases that mean a peft field; resolved against the method's own config class.
PEFT_ALIASES: Mapping[str, tuple[str, ...]] = {
    "r": ("r",), "rank": ("r",), "lora_rank": ("r",), "lora_r": ("r",),
    "alpha": ("lora_alpha", "alpha"), "lora_alpha": ("lora_alpha", "alpha"),
    "dropout_lora": ("lora_dropout",),
    "dora": ("use_dora",), "rslora": ("use_rslora",),
    "virtual_tokens": ("num_virtual_tokens",), "n_virtual_tokens": ("num_virtual_tokens",),
}

#: The shell-export suffixes of the seed's hyperparameters (MRPC_LORA_<suffix>); others are the
#: name in capitals.
EXPORT_SUFFIXES: Mapping[str, str] = {
    "learning_rate": "LR", "per_device_train_batch_size": "BS", "warmup_ratio": "WU",
    "num_train_epochs": "EPOCHS", "weight_decay": "WD", "lora_r": "R", "lora_alpha": "ALPHA",
    "lora_dropout": "DROPOUT",
}


@dataclass(frozen=True)
class Bounds:
    """A numeric range check: ``low``/``high`` with open or closed ends, and whether it is whole."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    #: Values allowed outside the range (``max_steps: -1`` means "use epochs").
    also: tuple[float, ...] = ()

    def describe(self) -> str:
        what = "a whole number" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{what} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{what} {'above' if self.low_open else 'of at least'} {self.low:g}"
        return what

    def holds(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))


_POSITIVE = Bounds(low=0, low_open=True)
_NON_NEGATIVE = Bounds(low=0)
_FRACTION = Bounds(low=0, high=1, high_open=True)
_COUNT = Bounds(low=1, integer=True)
#: Ranges that the libraries check late or not at all (a negative lr trains garbage silently).
BOUNDS: Mapping[str, Bounds] = {
    "learning_rate": _POSITIVE, "per_device_train_batch_size": _COUNT,
    "num_train_epochs": _POSITIVE, "max_steps": Bounds(low=1, integer=True, also=(-1,)),
    "warmup_ratio": _FRACTION, "warmup_steps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE,
    "adam_beta1": _FRACTION, "adam_beta2": _FRACTION, "adam_epsilon": _POSITIVE,
    "max_grad_norm": _NON_NEGATIVE, "label_smoothing_factor": _FRACTION,
    "gradient_accumulation_steps": _COUNT, "neftune_noise_alpha": _NON_NEGATIVE,
    "lora_r": _COUNT, "r": _COUNT, "lora_alpha": _POSITIVE, "alpha": _POSITIVE,
    "num_virtual_tokens": _COUNT,
}
_DROPOUT = _FRACTION


@dataclass(frozen=True)
class Knob:
    """One hyperparameter a job trains with.

    ``target`` is the library field it sets (``warmup_ratio`` sets ``warmup_steps``; ``lora_r``
    sets peft's ``r``).
    """

    name: str
    category: Category
    target: str
    kinds: tuple[str, ...] = ("other",)
    choices: tuple[str, ...] = ()
    bounds: Bounds | None = None

    @property
    def export_suffix(self) -> str:
        return EXPORT_SUFFIXES.get(self.name, self.name.upper())

    @property
    def integer(self) -> bool:
        return (self.bounds is not None and self.bounds.integer) or ("int" in self.kinds and "float" not in self.kinds)

    def check(self, value: Any, where: str) -> Any:
        """``value`` as this knob takes it (``16.0`` -> ``16``), or a SpecError naming ``where``."""
        if value is None and "none" in self.kinds:
            return None
        if isinstance(value, float) and value.is_integer() and self.integer:
            value = int(value)
        numeric = {"int", "float"} & set(self.kinds)
        if "bool" in self.kinds and not numeric and type(value) is int and value in (0, 1):
            return bool(value)  # W&B sweeps of HF scripts write `fp16: 1`, `do_train: 1`
        if not _matches(value, self.kinds):
            raise SpecError(f"{where} is {value!r}; {self.name} must be {describe_kinds(self.kinds)}.")
        free_text = "other" in self.kinds or "list" in self.kinds
        if self.choices and isinstance(value, str) and not free_text and value not in self.choices:
            close = difflib.get_close_matches(value, self.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(
                f"{where} is {value!r}{hint}; {self.name} must be one of {', '.join(self.choices)}."
            )
        bounds = self.bounds
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if bounds is not None and is_number and (
            not math.isfinite(value) or not bounds.holds(value) or (bounds.integer and not isinstance(value, int))
        ):
            raise SpecError(f"{where} is {value!r}; {self.name} must be {bounds.describe()}.")
        return value


def _matches(value: Any, kinds: tuple[str, ...]) -> bool:
    if "other" in kinds:
        return True
    checks = {
        "none": value is None,
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "list": isinstance(value, (list, tuple)),
        "dict": isinstance(value, Mapping),
    }
    return any(checks.get(kind, False) for kind in kinds)


def describe_kinds(kinds: tuple[str, ...]) -> str:
    words = {"none": "null", "bool": "true or false", "int": "a whole number", "float": "a number",
             "str": "text", "list": "a list", "dict": "a mapping"}
    return " or ".join(words[k] for k in kinds if k in words) or "a value"


@dataclass(frozen=True)
class Resolution:
    """What each name of a sweep or ``fixed:`` block means (keys: the names as written)."""

    knobs: dict[str, Knob] = field(default_factory=dict)
    #: name as written -> why it has no effect ("set by sweepfirst", "set by the workflow's tasks").
    ignored: dict[str, str] = field(default_factory=dict)
    #: fp16 / bf16 as written -> the precision it asks for.
    precision: dict[str, str] = field(default_factory=dict)
    #: model_name_or_path (and spellings) as written.
    model: list[str] = field(default_factory=list)

    def renamed(self) -> dict[str, str]:
        """Names that were not written canonically: as written -> canonical."""
        return {written: knob.name for written, knob in self.knobs.items() if written != knob.name}


def peft_fields(peft_type: str) -> Mapping[str, Field]:
    """The fields of peft's config class for ``peft_type`` (``LORA``, ``IA3`` ...)."""
    return PEFT_CONFIGS[peft_type]


def peft_types() -> tuple[str, ...]:
    return tuple(sorted(PEFT_CONFIGS))


def is_lora_family(peft_type: str | None) -> bool:
    """A config with ``lora_alpha`` (LoRA, AdaLoRA, ...): its rank is exported as the seed's lora_r."""
    return peft_type is not None and "lora_alpha" in PEFT_CONFIGS.get(peft_type, {})


def knob(name: str, peft_type: str | None) -> Knob | None:
    """The knob a canonical ``name`` is for a method with ``peft_type`` (None: no adapter)."""
    if name == "warmup_ratio":
        return Knob(name, "training", "warmup_steps", ("float",), (), BOUNDS["warmup_ratio"])
    if peft_type is not None:
        fields = PEFT_CONFIGS.get(peft_type, {})
        target = "r" if name == "lora_r" and is_lora_family(peft_type) else name
        if target in fields and target not in PEFT_OWNED and not (target == "r" and is_lora_family(peft_type) and name == "r"):
            kinds, choices = fields[target]
            bounds = BOUNDS.get(name) or (_DROPOUT if "dropout" in name else None)
            return Knob(name, "peft", target, kinds, choices, bounds)
    if name in TRAINING_ARGUMENTS and name not in SWEEPFIRST_OWNED_TRAINING_ARGUMENTS and name not in PRECISION_NAMES:
        kinds, choices = TRAINING_ARGUMENTS[name]
        return Knob(name, "training", name, kinds, choices, BOUNDS.get(name))
    if "dropout" in name and name not in TRAINING_ARGUMENTS and not _any_peft_field(name):
        # Model-config dropouts (hidden_dropout_prob, attention_probs_dropout_prob,
        # classifier_dropout ...): whether the model has one is checked when it is loaded.
        return Knob(name, "model_config", name, ("float", "none"), (), _DROPOUT)
    return None


def _any_peft_field(name: str) -> bool:
    """A field of some peft config (lora_dropout, rank_dropout ...): never a model-config dropout."""
    return any(name in fields for fields in PEFT_CONFIGS.values())


def _canonical(name: str, peft_type: str | None) -> str | None:
    """The canonical name ``name`` stands for, or None if it is no knob of this method."""
    if peft_type is not None and name in PEFT_ALIASES:
        fields = PEFT_CONFIGS.get(peft_type, {})
        for target in PEFT_ALIASES[name]:
            if target in fields:
                return "lora_r" if target == "r" and is_lora_family(peft_type) else target
    target = ALIASES.get(name, RETIRED_TRAINING_ARGUMENTS.get(name) or name)
    return target if knob(target, peft_type) is not None else None


def _ignored_reason(name: str, peft_type: str | None) -> str | None:
    if name in SWEEPFIRST_OWNED_TRAINING_ARGUMENTS or (name in RETIRED_TRAINING_ARGUMENTS and RETIRED_TRAINING_ARGUMENTS[name] is None):
        return "set by sweepfirst"
    if name in WORKFLOW_OWNED:
        return f"set by {WORKFLOW_OWNED[name]}"
    if peft_type is not None and name in PEFT_OWNED:
        return "set by sweepfirst from the task"
    return None


def known_names(peft_type: str | None) -> list[str]:
    """Every name a sweep of this method may use (for did-you-mean)."""
    names = set(TRAINING_ARGUMENTS) | set(ALIASES) | set(RETIRED_TRAINING_ARGUMENTS) | set(WORKFLOW_OWNED)
    names |= {"warmup_ratio", *MODEL_NAMES}
    if peft_type is not None:
        names |= set(PEFT_CONFIGS.get(peft_type, {})) | set(PEFT_ALIASES)
        if is_lora_family(peft_type):
            names.add("lora_r")
    return sorted(names)


def resolve(
    names: Iterable[str],
    *,
    peft_type: str | None,
    method: str,
    parameter_names: Mapping[str, str | None] | None = None,
    where: str,
) -> Resolution:
    """What each of ``names`` means for ``method``; one SpecError lists every unknown one.

    ``where`` names the block in messages: the sweep file's own path when it came from one.
    """
    mapping = dict(parameter_names or {})
    resolution = Resolution()
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for written in dict.fromkeys(names):
        name = written
        if written in mapping:
            target = mapping[written]
            if target is None:
                resolution.ignored[written] = "mapped away by the workflow's parameter_names"
                continue
            name = target
        if name == "peft_type":
            raise SpecError(
                f"{where}: {written} is the method's definition, not a hyperparameter; set it in "
                f"methods.{method}.peft (e.g. peft: {{peft_type: LORA}}) and give the sweep "
                "another method entry for each peft type."
            )
        if name in PRECISION_NAMES:
            resolution.precision[written] = name
            continue
        if name in MODEL_NAMES:
            resolution.model.append(written)
            continue
        canonical = _canonical(name, peft_type)
        if canonical is None:
            reason = _ignored_reason(name, peft_type)
            if reason is not None:
                resolution.ignored[written] = reason
                continue
            unknown.append(written)
            continue
        if canonical in seen:
            raise SpecError(
                f"{where}: {seen[canonical]} and {written} both set {canonical}; keep one of them."
            )
        seen[canonical] = written
        found = knob(canonical, peft_type)
        assert found is not None  # _canonical checked it
        resolution.knobs[written] = found
    if unknown:
        raise SpecError(_unknown_message(unknown, peft_type, method, where, mapping))
    both = {"warmup_ratio", "warmup_steps"} <= set(seen)
    if both:
        raise SpecError(
            f"{where}: {seen['warmup_ratio']} and {seen['warmup_steps']} both set the warmup; "
            "keep one of them (transformers 5 takes a ratio below 1 in warmup_steps too)."
        )
    return resolution


def _unknown_message(
    unknown: list[str], peft_type: str | None, method: str, where: str, mapping: Mapping[str, str | None]
) -> str:
    known = known_names(peft_type)
    described = []
    closest: dict[str, str] = {}
    for name in unknown:
        target = mapping.get(name, name) or name
        hint = ""
        if peft_type is None and (target in PEFT_ALIASES or _any_peft_field(target)):
            hint = f" (a peft setting; {method} has no adapter)"
        else:
            close = difflib.get_close_matches(target, known, n=1, cutoff=0.75)
            if close:
                hint = f" (did you mean {close[0]}?)"
                meaning = _canonical(close[0], peft_type)
                if meaning is not None:
                    closest.setdefault(name, meaning)
        shown = name if target == name else f"{name} (mapped to {target})"
        described.append(f"{shown}{hint}")
    kind = f"peft {peft_type}" if peft_type else method
    one = len(unknown) == 1
    noun = "name is" if one else f"{len(unknown)} names are"
    # The example map: a name with a likely meaning mapped to it, and one mapped away.
    meant = next(((n, c) for n, c in closest.items()), None)
    examples = [f"{{{meant[0]}: {meant[1]}}} for a name that means one of the vocabulary's"] if meant else []
    examples.append(f"{{{unknown[0]}: null}} to ignore one")
    return (
        f"{where}: {noun} not a TrainingArguments field, a model dropout or a {kind} setting: "
        f"{', '.join(described)}; rename {'it' if one else 'them'}, or map {'it' if one else 'each'} "
        f"in the workflow's parameter_names ({', or '.join(examples)})."
    )
