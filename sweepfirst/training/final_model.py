"""Keeping what production made: a finished job's model, written atomically into its folder.

``final_model/`` holds what ``save_pretrained`` writes: the whole model for full fine-tuning, the
adapter only (and the trained task head) for peft methods, which are rebuilt on the base model.
``final_model_merged/`` (on request) holds a peft model with its adapter merged into the weights.
Each is written into a hidden sibling folder and published with one ``rename``, so a crash never
leaves a half-written model where a reader (drift analysis, a user) would take it for complete.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

FINAL_MODEL_DIR = "final_model"
MERGED_MODEL_DIR = "final_model_merged"


def publish_model(model: Any, folder: Path) -> None:
    """``model.save_pretrained`` into ``folder``, atomically (replacing an older copy)."""
    staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    try:
        model.save_pretrained(str(staging))
        if folder.exists():
            # rename() cannot replace a non-empty folder: move the old one aside first.
            old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.old")
            folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_final_model(model: Any, output_dir: Path, *, merged: bool = False) -> dict[str, Any]:
    """Save a finished job's model; returns what provenance records (paths relative to the job
    folder, kind, sha256 of the weight files)."""
    from peft import PeftModel

    from sweepfirst.provenance import weights_sha256

    is_adapter = isinstance(model, PeftModel)
    folder = Path(output_dir) / FINAL_MODEL_DIR
    publish_model(model, folder)
    record: dict[str, Any] = {"path": FINAL_MODEL_DIR, "kind": "adapter" if is_adapter else "full",
                              "sha256": weights_sha256(str(folder))}
    if merged and is_adapter:
        # Last: merging rewrites the base weights in place, so the adapter is saved first.
        merged_folder = Path(output_dir) / MERGED_MODEL_DIR
        publish_model(model.merge_and_unload(), merged_folder)
        record.update(merged_path=MERGED_MODEL_DIR, merged_sha256=weights_sha256(str(merged_folder)))
    return record
