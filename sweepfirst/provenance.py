"""What a reviewer needs to trust a number: versions, code, model, data, hardware."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("sweepfirst", "torch", "transformers", "datasets", "peft", "accelerate", "optuna", "wandb")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the workspace (with '+dirty' when it has uncommitted changes), if it is one."""
    try:
        cwd = str(path or Path.cwd())
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, Any]:
    import os

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "machine": platform.machine()}
    return info


def run_provenance() -> dict[str, Any]:
    return {"packages": package_versions(), "git_commit": git_commit(), "hardware": hardware()}


def hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def job_provenance(request: Any, result: Any) -> dict[str, Any]:
    """Per-job provenance: the training module reports model and data identity when it can."""
    extra = getattr(result, "provenance", None) or {}
    return {
        "seed": request.seed,
        "model": request.model,
        "hardware": hardware(),
        "train_runtime_s": result.train_runtime_s,
        **extra,
    }
