"""Finding and loading what a production job kept: its final model, or (for a run made before
final models were saved, with ``training.keep_checkpoints: true``) its last checkpoint.

Adapters are rebuilt on the base model and merged, so every tuned model is compared as the plain
weights it computes with.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sweepfirst.errors import ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from sweepfirst.tasks import TaskSpec

#: ``save_pretrained``'s file names: a full model, or a peft adapter.
_FULL_FILES = ("model.safetensors", "pytorch_model.bin")
_ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")

ModelKind = Literal["full", "adapter"]


@dataclass(frozen=True)
class SavedModel:
    """A tuned model on disk: where, what kind, and its weights' sha256."""

    path: Path
    kind: ModelKind
    sha256: str | None
    #: "final_model" or "checkpoint-N" (from an older run that kept its checkpoints).
    source: str


def _kind(folder: Path) -> ModelKind | None:
    if any((folder / name).is_file() for name in _ADAPTER_FILES):
        return "adapter"
    if any((folder / name).is_file() for name in _FULL_FILES):
        return "full"
    return None


def _saved_folder(job_dir: Path) -> tuple[Path, ModelKind] | None:
    from sweepfirst.training.final_model import FINAL_MODEL_DIR

    final = job_dir / FINAL_MODEL_DIR
    kind = _kind(final) if final.is_dir() else None
    if kind is not None:
        return final, kind
    last_step = _recorded_last_step(job_dir)
    for child in sorted(job_dir.glob("checkpoint-*")) if job_dir.is_dir() else []:
        match = _CHECKPOINT_RE.match(child.name)
        # Only the checkpoint of the finished model: an earlier one is a model half-way trained.
        if match and int(match.group(1)) == last_step and (kind := _kind(child)) is not None:
            return child, kind
    return None


def has_saved_model(job_dir: Path) -> bool:
    """Whether the job kept its model (no hashing: cheap enough for the coordinator)."""
    return _saved_folder(job_dir) is not None


def find_saved_model(job_dir: Path) -> SavedModel | None:
    """The job's final model, else its checkpoint at the job's last step; None when neither is
    there (the model was not kept)."""
    from sweepfirst.provenance import weights_sha256

    found = _saved_folder(job_dir)
    if found is None:
        return None
    folder, kind = found
    return SavedModel(folder, kind, weights_sha256(str(folder)), folder.name)


def _recorded_last_step(job_dir: Path) -> int | None:
    try:
        return int(json.loads((job_dir / "metrics.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_tuned_model(saved: SavedModel, base_source: str, task: TaskSpec) -> PreTrainedModel:
    """The tuned classifier, in eval mode; an adapter is loaded onto the base and merged."""
    from transformers import AutoModelForSequenceClassification

    try:
        if saved.kind == "full":
            model = AutoModelForSequenceClassification.from_pretrained(str(saved.path))
        else:
            from peft import PeftModel

            base = AutoModelForSequenceClassification.from_pretrained(
                base_source, num_labels=task.num_labels)
            model = PeftModel.from_pretrained(base, str(saved.path)).merge_and_unload()
    except Exception as error:  # from_pretrained raises OSError, ValueError, safetensors errors
        raise ModelError(f"The saved model in {saved.path} could not be loaded ({error}); rerun its "
                         "production job to save it again.") from error
    return model.to(best_device()).eval()


def best_device() -> str:
    """A GPU when there is one (the forward passes are the cost), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base_encoder(base_source: str) -> PreTrainedModel:
    """The pretrained encoder (no task head), in eval mode."""
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(base_source).to(best_device()).eval()
    except Exception as error:
        raise ModelError(f"The base model {base_source} could not be loaded ({error}); pass the "
                         "model the run was trained from.") from error
