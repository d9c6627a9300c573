"""Which W&B mode a job logs in: the workflow's, else the environment's, else online only where
credentials exist (never a silent upload)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from sweepfirst.training.request import WANDB_MODES, WandbMode


def resolve_wandb_mode(configured: str) -> WandbMode:
    """auto -> online when W&B credentials exist, offline otherwise (never a silent upload)."""
    if configured in WANDB_MODES:
        return cast("WandbMode", configured)
    from_env = os.environ.get("WANDB_MODE", "")
    if from_env in WANDB_MODES:
        return cast("WandbMode", from_env)
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").is_file() and "api.wandb.ai" in (
        Path.home() / ".netrc"
    ).read_text(errors="ignore")
    return "online" if has_key else "offline"
