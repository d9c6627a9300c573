"""The report's figures, each returned as PNG bytes.

matplotlib is imported inside the functions so that importing the analysis package (for example
by the CLI, to print ``--help``) stays fast. Figures are built as ``matplotlib.figure.Figure`` on an
Agg canvas, never through ``pyplot``: pyplot keeps global state and may pick an interactive
backend, neither of which a report writer running on a headless worker wants.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sweepfirst.analysis.report.model import (
    HyperparameterValue,
    LearningCurve,
    SweepTrial,
    TaskResult,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

#: Hyperparameters searched on a log scale by convention; their axis is logarithmic.
LOG_SCALE_NAMES = frozenset({"learning_rate", "lr", "weight_decay", "adam_epsilon"})

_DPI = 110
# An integer hyperparameter with at most this many distinct values is drawn as categories.
_MAX_INTEGER_CATEGORIES = 6
_BASELINE_COLOR = "#8c8c8c"
_FLAG_COLOR = "#d62728"


def score_vs_hyperparameters(
    trials: Sequence[SweepTrial],
    *,
    metric: str,
    title: str,
    chosen: Mapping[str, HyperparameterValue] | None = None,
) -> bytes | None:
    """One panel per hyperparameter: each finished trial's selection score against its value.

    The chosen configuration is drawn as a star. Trials that early termination (ASHA) paused are
    drawn hollow, at their score where they paused: under ASHA they are most of the sweep, and
    leaving them out would hide what the choice was made against (they trained less, so their
    scores are lower bounds, not comparable one to one). Learning-rate-like parameters (and any
    positive numeric one spanning two decades or more) get a log x-axis, since that is how they
    are searched. Returns ``None`` when no trial has a score.
    """
    scored = [t for t in trials if t.score is not None]
    paused = [t for t in trials if t.score is None and t.paused_score is not None]
    names = sorted({name for t in (*scored, *paused) for name in t.hyperparameters})
    if not (scored or paused) or not names:
        return None
    # A trial is the chosen one when every value it searched matches the chosen configuration
    # (the chosen configuration may also carry fixed values the sweep did not vary).
    chosen_trials = [t for t in scored if chosen is not None
                     and all(chosen.get(k) == v for k, v in t.hyperparameters.items())]
    fig, axes = _figure(len(names), panel_width=3.4, panel_height=2.8)
    for index, (ax, name) in enumerate(zip(axes, names)):
        present = [(t.hyperparameters[name], t.score) for t in scored
                   if name in t.hyperparameters and t.score is not None]
        paused_here = [(t.hyperparameters[name], t.paused_score) for t in paused
                       if name in t.hyperparameters and t.paused_score is not None]
        axis = _HyperparameterAxis(name, [v for v, _ in (*present, *paused_here)])
        axis.apply(ax)
        ax.scatter([axis.position(v) for v, _ in present], [s for _, s in present], s=22,
                   alpha=0.75, color="#1f77b4", edgecolor="white", linewidth=0.5,
                   label="finished" if index == 0 and paused_here else None)
        if paused_here:
            ax.scatter([axis.position(v) for v, _ in paused_here], [s for _, s in paused_here], s=26,
                       facecolor="none", edgecolor="#7f7f7f", linewidth=1.0,
                       label="paused by ASHA (score where it stopped)" if index == 0 else None)
        for trial in chosen_trials:
            if name in trial.hyperparameters and trial.score is not None:
                # Never clipped by the axes' edge: the chosen trial is often the best, in a corner.
                ax.scatter([axis.position(trial.hyperparameters[name])], [trial.score],
                           marker="*", s=160, color="#ff7f0e", edgecolor="black", linewidth=0.6,
                           zorder=3, clip_on=False)
        ax.set_xlabel(name)
        # Room around the extreme points, so the star and the scores at the edges stay whole.
        ax.margins(x=0.08 if axis.categories is None else 0.0, y=0.15)
        ax.grid(True, alpha=0.3)
    if paused:
        axes[0].legend(fontsize=7, loc="best", framealpha=0.8)
    for ax in axes[:: min(len(axes), 3)]:
        ax.set_ylabel(f"selection {metric}")
    unshown = len(trials) - len(scored) - len(paused)
    suffix = f" ({unshown} unfinished trial{'s' if unshown != 1 else ''} not shown)" if unshown else ""
    fig.suptitle(f"{title}{suffix}", fontsize=11)
    return _png(fig)


def learning_curves(curves: Sequence[LearningCurve], *, title: str) -> bytes | None:
    """One panel per split and metric, each titled with both: the sweep's trials are scored on
    the selection split, production on dev, so they never share an axis. Every evaluation is a
    point; production seeds get a colour, a marker and a line style each (no seed hides another's
    line), sweep trials are grey. Loss is the evaluation loss on that split, and says so.

    Returns ``None`` when there is no curve with points.
    """
    drawn = [c for c in curves if c.points]
    if not drawn:
        return None
    splits = [("sweep", "selection split (sweep trials)"), ("production", "dev split (production seeds)")]
    # One row per split, its metrics side by side: the score, the eval loss, the train loss.
    rows = [[(phase, label, metric) for metric in sorted(
                {c.metric for c in drawn if c.phase == phase},
                key=lambda m: (m in ("loss", "train_loss"), m == "train_loss"))]
            for phase, label in splits]
    rows = [row for row in rows if row]
    columns = max(len(row) for row in rows)
    fig, axes = _figure(len(rows) * columns, panel_width=4.0, panel_height=3.0, max_columns=columns)
    placed = [(ax, panel) for r, row in enumerate(rows) for ax, panel in zip(axes[r * columns:], row)]
    for ax in axes:
        ax.set_visible(any(ax is used for used, _ in placed))
    for ax, (phase, label, metric) in placed:
        sweep_labelled = False
        seeds = [c for c in drawn if c.phase == phase and c.metric == metric]
        for index, curve in enumerate(seeds):
            xs, ys = zip(*curve.points)
            if phase == "production":
                name = f"seed {curve.seed}" if curve.seed is not None else curve.job_name
                ax.plot(xs, ys, linewidth=1.4, marker=_MARKERS[index % len(_MARKERS)], markersize=4,
                        linestyle=_LINE_STYLES[index % len(_LINE_STYLES)], alpha=0.85, label=name)
            else:
                ax.plot(xs, ys, linewidth=0.8, marker="o", markersize=2.5, color=_BASELINE_COLOR,
                        alpha=0.45, label=None if sweep_labelled else "sweep trials")
                sweep_labelled = True
        shown = {"loss": "eval loss", "train_loss": "train loss"}.get(metric, metric)
        where = ("of the sweep trials" if phase == "sweep" else "of the production seeds") \
            if metric == "train_loss" else f"on the {label}"
        ax.set_title(f"{shown} {where}", fontsize=9)
        ax.set_ylabel(shown)
        ax.set_xlabel(drawn[0].x_label)
        ax.xaxis.set_major_locator(_integer_locator())
        ax.margins(y=0.12)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=11)
    return _png(fig)


_MARKERS = ("o", "s", "^", "D", "v", "P")
_LINE_STYLES = ("-", "--", ":", "-.")


def _number_formatter() -> FuncFormatter:
    """Tick labels through the report's one number formatter."""
    from matplotlib.ticker import FuncFormatter

    from sweepfirst.formatting import number

    return FuncFormatter(lambda value, _position: number(float(value)))


def _integer_locator() -> MaxNLocator:
    """At most 6 whole-number ticks (steps): matplotlib's own locator, so labels never crowd."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=6, integer=True)


def seed_points(task: TaskResult) -> bytes:
    """Per-seed production scores of each method on one task, with the mean and its 95% CI.

    The mean (wide tick) and CI (vertical bar) are drawn over the points they summarize.
    Degenerate runs are red crosses; baseline (default-hyperparameter) runs, where present, are
    grey circles to the right of their method. Points are spread evenly rather than jittered at
    random so the picture is the same every time.
    """
    from matplotlib.lines import Line2D

    fig, (ax,) = _figure(1, panel_width=max(4.2, 1.6 * len(task.methods) + 1.0),
                         panel_height=3.6)
    has_baseline = any(cell.baseline for cell in task.methods)
    # With a baseline column beside it, the tuned column moves left to keep both readable.
    center = -0.12 if has_baseline else 0.0
    has_flagged = False
    for x, cell in enumerate(task.methods):
        summary = cell.summary
        if summary is not None:
            low = summary.ci_low if summary.ci_low is not None else summary.mean
            high = summary.ci_high if summary.ci_high is not None else summary.mean
            ax.errorbar([x + center], [summary.mean],
                        yerr=[[summary.mean - low], [high - summary.mean]], fmt="_",
                        markersize=30, markeredgewidth=1.6, color="black", capsize=4,
                        linewidth=1.1, zorder=2)
        for dx, run in zip(_spread(len(cell.production), 0.1), cell.production):
            has_flagged |= run.flagged
            if run.flagged:
                ax.scatter([x + center + dx], [run.score], marker="x", s=55, color=_FLAG_COLOR,
                           linewidth=1.8, zorder=3)
            else:
                ax.scatter([x + center + dx], [run.score], s=34, color=f"C{x}", alpha=0.85,
                           edgecolor="black", linewidth=0.4, zorder=3)
        for dx, run in zip(_spread(len(cell.baseline), 0.06), cell.baseline):
            ax.scatter([x + 0.3 + dx], [run.score], s=26, facecolor="none", zorder=3,
                       edgecolor=_FLAG_COLOR if run.flagged else _BASELINE_COLOR, linewidth=1.1)
    ax.set_xticks(range(len(task.methods)))
    ax.set_xticklabels([cell.method for cell in task.methods])
    ax.set_xlim(-0.6, len(task.methods) - 0.4)
    ax.set_ylabel(task.metric)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"{task.task}: per-seed production scores", fontsize=10)

    legend = [
        Line2D([], [], marker="o", linestyle="none", color="C0", markeredgecolor="black",
               markeredgewidth=0.4, label="seed"),
        Line2D([], [], marker="_", markersize=12, color="black", label="mean, 95% CI"),
    ]
    if has_flagged:
        legend.append(Line2D([], [], marker="x", linestyle="none", color=_FLAG_COLOR,
                             label="degenerate run"))
    if has_baseline:
        legend.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="none",
                             color=_BASELINE_COLOR, label="default hyperparameters"))
    fig.legend(handles=legend, loc="outside lower center", ncols=min(len(legend), 2), fontsize=8,
               frameon=False)
    return _png(fig)


def _figure(
    panels: int, *, panel_width: float, panel_height: float, max_columns: int = 3
) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` axes, wrapped into rows so a wide sweep stays readable in a page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(panels, max_columns)
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(panel_width * columns, panel_height * rows), dpi=_DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(rows, columns, squeeze=False)
    axes = [ax for row in grid for ax in row]
    for unused in axes[panels:]:
        unused.set_visible(False)
    return fig, axes[:panels]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _spread(n: int, half_width: float) -> list[float]:
    if n <= 1:
        return [0.0] * n
    return [-half_width + 2 * half_width * i / (n - 1) for i in range(n)]


class _HyperparameterAxis:
    """Where a hyperparameter value goes on the x-axis.

    Continuous numbers are plotted as they are (on a log axis where that is how they are
    searched). Small discrete sets - batch sizes, LoRA ranks, booleans, names - are evenly
    spaced categories: a batch-size axis running 16..32 with nothing between says less than two
    labelled columns.
    """

    def __init__(self, name: str, values: Sequence[HyperparameterValue]) -> None:
        numeric = bool(values) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        discrete = numeric and all(isinstance(v, int) for v in values) \
            and len(set(values)) <= _MAX_INTEGER_CATEGORIES
        self.categories: list[str] | None = None
        if not numeric or discrete:
            distinct = sorted(set(values), key=lambda v: (not discrete, v if discrete else str(v)))
            self.categories = [str(v) for v in distinct]
        numbers = [float(v) for v in values] if numeric and not discrete else []
        positive = bool(numbers) and all(v > 0 for v in numbers)
        spans_decades = positive and max(numbers) / min(numbers) >= 100
        self.log = positive and (name.lower() in LOG_SCALE_NAMES or spans_decades)
        self.numbers = numbers

    def position(self, value: HyperparameterValue) -> float:
        if self.categories is None:
            return float(value)
        text = str(value)
        return float(self.categories.index(text)) if text in self.categories else math.nan

    def apply(self, ax: Axes) -> None:
        from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

        if self.log:
            ax.set_xscale("log")
            # The range is the values' own, padded (a lone trial gets a factor of 2 either side):
            # matplotlib's automatic limits round out to whole decades, and a panel 3 inches wide
            # cannot label 1, 2 and 5 of three decades without the labels touching.
            low, high = min(self.numbers), max(self.numbers)
            pad = (high / low) ** 0.08 if high > low else 2.0
            ax.set_xlim(low / pad, high * pad)
            decades = math.log10(high * pad * pad / low)
            # Label 1, 2 and 5 of each decade only when the range is short; 1 alone past 2.2
            # decades. matplotlib's default labels every minor tick under a decade: they overlap.
            subs = (1.0, 2.0, 5.0) if decades <= 2.2 else (1.0,)
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
            ax.xaxis.set_major_formatter(FuncFormatter(_short_scientific))
            ax.xaxis.set_minor_formatter(NullFormatter())
        elif self.categories is None:
            # matplotlib's locator picks at most 5 readable ticks; the formatter is the report's.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.xaxis.set_major_formatter(_number_formatter())
        if self.categories is not None:
            ax.set_xticks(range(len(self.categories)))
            ax.set_xticklabels(self.categories, rotation=20 if len(self.categories) > 4 else 0,
                               fontsize=8)
            ax.set_xlim(-0.5, len(self.categories) - 0.5)


def _short_scientific(value: float, _position: object = None) -> str:
    """A log tick (2e-05) as the report writes numbers: "2e-5"."""
    from sweepfirst.formatting import number

    return number(value, scientific=True)
