"""The files a job leaves in its output folder, each written atomically.

``request.json``     the request and its fingerprint; a resume with a different configuration is refused
``metrics.json``     the final result (a ``TrainingResult``), written when the job finishes
``predictions.jsonl`` one line per eval example: id, gold label, predicted label, probabilities, logits
``train.log``        the training log (transformers' and ours)

Every file is written through :mod:`sweepfirst.files`, so a reader (or a crash) never sees half
of one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sweepfirst.errors import SweepfirstError

# write_text_atomic: the one atomic writer, under the name the training code knows it by.
from sweepfirst.files import write_atomic as write_text_atomic
from sweepfirst.files import write_json_atomic as write_json_file
from sweepfirst.jsonable import as_read_back
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.result import TrainingResult

REQUEST_FILE = "request.json"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
LOG_FILE = "train.log"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON with sorted keys, atomically. A diverged run's ``NaN``
    metrics stay ``NaN``: sweepfirst is this file's reader, and a resume must read back the same
    result."""
    write_json_file(path, data, sort_keys=True, allow_nan=True)


def record_request(request: TrainingRequest) -> None:
    """Write ``request.json``, or check that the one already there describes the same job.

    Raises:
        SweepfirstError: the folder belongs to a job with a different configuration, or holds
            checkpoints that sweepfirst did not record a request for.
    """
    from sweepfirst.training.checkpoints import list_checkpoints

    path = request.output_dir / REQUEST_FILE
    has_work = (
        bool(list_checkpoints(request.output_dir)) or (request.output_dir / METRICS_FILE).is_file()
    )
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if recorded.get("fingerprint") == request.fingerprint():
            return
        if has_work:
            old = recorded.get("fingerprint_fields", {})
            new = as_read_back(request.fingerprint_fields())
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise SweepfirstError(
                f"{request.output_dir} holds a job with a different configuration "
                f"(changed: {', '.join(changed) or 'unknown'}); refusing to resume it. Use a new "
                "output folder for the new configuration, or restore the old one."
            )
        # Only a start that failed before its first checkpoint (a typo in the model name, say):
        # nothing to resume and nothing recorded, so the corrected request takes the folder.
    elif has_work:
        raise SweepfirstError(
            f"{request.output_dir} holds checkpoints or results but no {REQUEST_FILE}, so their "
            "configuration is unknown; refusing to resume them. Use an empty output folder."
        )
    write_json_atomic(
        path,
        {
            "fingerprint": request.fingerprint(),
            "fingerprint_fields": as_read_back(request.fingerprint_fields()),
            "request": request.to_json(),
        },
    )


def read_result(output_dir: Path) -> TrainingResult | None:
    """The result recorded in ``metrics.json``, or None if there is none."""
    path = Path(output_dir) / METRICS_FILE
    if not path.is_file():
        return None
    return TrainingResult.from_json(json.loads(path.read_text(encoding="utf-8")))


def write_result(output_dir: Path, result: TrainingResult) -> None:
    """Write ``metrics.json``."""
    write_json_atomic(Path(output_dir) / METRICS_FILE, result.to_json())


def write_predictions(
    output_dir: Path,
    example_ids: Sequence[int],
    labels: Sequence[int],
    logits: Iterable[Sequence[float]],
) -> Path:
    """Write one JSON line per eval example, ordered by example id.

    Each line: ``{"idx", "label", "prediction", "probabilities", "logits"}`` where ``idx`` is the
    row of the example in its source split, so runs scored on the same split pair up exactly
    (bootstrap intervals, McNemar's test).
    """
    import numpy as np

    logits_array = np.asarray(list(logits), dtype=np.float64)
    shifted = logits_array - logits_array.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    order = np.argsort(np.asarray(example_ids), kind="stable")
    lines = []
    for i in order:
        lines.append(
            json.dumps(
                {
                    "idx": int(example_ids[i]),
                    "label": int(labels[i]),
                    "prediction": int(logits_array[i].argmax()),
                    "probabilities": [round(float(p), 7) for p in probabilities[i]],
                    "logits": [round(float(v), 6) for v in logits_array[i]],
                },
                separators=(",", ":"),
            )
        )
    path = Path(output_dir) / PREDICTIONS_FILE
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def clear_results(output_dir: Path) -> None:
    """Remove a previous call's final files, so a continued job never shows a stale result."""
    for name in (METRICS_FILE, PREDICTIONS_FILE):
        path = Path(output_dir) / name
        if path.exists():
            path.unlink()
