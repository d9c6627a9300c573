"""The figures render to PNG, skip what has no data, and pick sensible axes."""

from __future__ import annotations

import io

import matplotlib.image
import pytest

from sweepfirst.analysis.report import step3_figures as plots
from sweepfirst.analysis.report.model import (
    HyperparameterValue,
    LearningCurve,
    ReportData,
    SweepTrial,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _image(png: bytes | None):  # type: ignore[no-untyped-def]
    assert png is not None and png.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def test_score_vs_hyperparameters(sample_report: ReportData) -> None:
    cell = sample_report.tasks[0].methods[0]
    image = _image(plots.score_vs_hyperparameters(
        cell.trials, metric="accuracy", title="MRPC / full", chosen=cell.hyperparameters))
    assert image.shape[1] > image.shape[0]  # two panels side by side
    assert image.std() > 0.05


def test_many_hyperparameters_wrap_into_rows() -> None:
    trials = [SweepTrial(i, {f"p{k}": float(i + k + 1) for k in range(5)}, 0.5 + i / 100,
                         "succeeded") for i in range(4)]
    image = _image(plots.score_vs_hyperparameters(trials, metric="f1", title="wide"))
    assert image.shape[0] > 500  # two rows of panels


def test_no_finished_trial_gives_no_figure() -> None:
    trials = [SweepTrial(0, {"learning_rate": 1e-5}, None, "failed")]
    assert plots.score_vs_hyperparameters(trials, metric="accuracy", title="x") is None


def test_learning_curves(sample_report: ReportData) -> None:
    cell = sample_report.tasks[0].methods[1]
    _image(plots.learning_curves(cell.learning_curves, title="MRPC / lora"))
    assert plots.learning_curves([], title="none") is None
    empty = LearningCurve("job", "production", "loss", ())
    assert plots.learning_curves([empty], title="empty") is None


def test_seed_points(sample_report: ReportData) -> None:
    for task in sample_report.tasks:
        assert _image(plots.seed_points(task)).std() > 0.05


@pytest.mark.parametrize(
    ("name", "values", "log", "categories"),
    [
        ("learning_rate", [2e-5, 5e-5], True, None),
        ("warmup_ratio", [0.0, 0.1], False, None),
        ("weight_scale", [1e-3, 1.0], True, None),  # spans three decades
        ("per_device_train_batch_size", [32, 16, 32], False, ["16", "32"]),
        ("lora_target", ["qv", "all"], False, ["all", "qv"]),
    ],
)
def test_axis_choice(
    name: str, values: list[HyperparameterValue], log: bool, categories: list[str] | None
) -> None:
    axis = plots._HyperparameterAxis(name, values)
    assert axis.log is log
    assert axis.categories == categories


def test_learning_rate_ticks_read_like_learning_rates() -> None:
    assert plots._short_scientific(2e-05) == "2e-5"
    assert plots._short_scientific(0.001) == "1e-3"


def test_trials_paused_by_asha_are_drawn() -> None:
    """Under ASHA most trials pause: a plot of the finished ones alone showed one point."""
    finished = [SweepTrial(0, {"learning_rate": 1e-4}, 0.74, "succeeded")]
    paused = [SweepTrial(i, {"learning_rate": lr}, None, "pruned", paused_at_evaluation=1, paused_score=0.68)
              for i, lr in ((1, 3e-5), (2, 5e-5))]
    only_paused = plots.score_vs_hyperparameters(paused, metric="accuracy", title="x")
    assert only_paused is not None  # before: None, "no trial finished"
    with_paused = _image(plots.score_vs_hyperparameters([*finished, *paused], metric="accuracy", title="x"))
    without = _image(plots.score_vs_hyperparameters(finished, metric="accuracy", title="x"))
    def grey_pixels(image) -> int:  # type: ignore[no-untyped-def]
        return int((abs(image[..., :3] - 0x7F / 255) < 0.03).all(axis=-1).sum())  # the hollow markers' #7f7f7f

    assert grey_pixels(with_paused) > grey_pixels(without) + 20
