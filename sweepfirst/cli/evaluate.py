"""`sweepfirst evaluate squad_v2 DATA.json PREDICTIONS.json`: the official SQuAD 2.0 scoring."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sweepfirst.cli import console


def evaluate(
    task: Annotated[str, typer.Argument(help="The task whose official metric to apply (squad_v2).")],
    data_file: Annotated[Path, typer.Argument(help="Dataset file in the official format.")],
    predictions_file: Annotated[Path, typer.Argument(help="JSON: question id -> answer text.")],
    na_prob_file: Annotated[Path | None, typer.Option("--na-prob-file", help="JSON: question id -> no-answer probability.")] = None,
    na_prob_thresh: Annotated[float, typer.Option("--na-prob-thresh", help="Predict no answer above this probability.")] = 1.0,
) -> None:
    """Score a predictions file and print the JSON object the official script prints."""
    if task != "squad_v2":
        console.fail(f"`evaluate` knows the official metric of squad_v2 only, not {task!r}.", code=2)
    from sweepfirst.squad_v2_metric import evaluate_files

    result = evaluate_files(data_file, predictions_file, na_prob_file, na_prob_thresh)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
