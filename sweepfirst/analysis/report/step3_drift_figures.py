"""The figures of "How the model changed", as PNG bytes (matplotlib, Agg canvas, no pyplot; see
`plots` for why)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from sweepfirst.analysis.drift_comparison import HEADLINE_CKA, MATRIX_ORDER, TaskDrift

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_DPI = 110


def _figure(panels: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * panels, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, panels, squeeze=False)[0])


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(method: str, phase: str) -> str:
    return method if phase == "production" else f"{method} ({phase})"


def cka_by_layer(task: TaskDrift) -> bytes | None:
    """Debiased CKA to the base per hidden state, one line per method, 95% interval shaded."""
    methods = [m for m in task.methods if any(HEADLINE_CKA in ld.cka for ld in m.layers)]
    if not methods:
        return None
    fig, (ax,) = _figure(1, 5.5, 3.4)
    for method in methods:
        layers = [ld for ld in method.layers if HEADLINE_CKA in ld.cka]
        xs = [ld.layer for ld in layers]
        means = [ld.cka[HEADLINE_CKA].mean for ld in layers]
        line = ax.plot(xs, means, marker="o", label=_label(method.method, method.source_phase),
                       linestyle="-" if method.source_phase == "production" else "--")[0]
        lows = [ld.cka[HEADLINE_CKA].ci_low for ld in layers]
        highs = [ld.cka[HEADLINE_CKA].ci_high for ld in layers]
        if all(v is not None for v in lows) and all(v is not None for v in highs):
            ax.fill_between(xs, [float(v or 0.0) for v in lows], [float(v or 0.0) for v in highs],
                            color=line.get_color(), alpha=0.18)
    names = {ld.layer: ld.name for m in methods for ld in m.layers}
    ax.set_xticks(sorted(names), [names[k].replace("layer ", "L") for k in sorted(names)])
    ax.set_xlabel("hidden state (embeddings, then each layer's output)")
    ax.set_ylabel("debiased CKA to the base")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{task.task}: representational similarity to the base model", fontsize=10)
    return _png(fig)


def relative_change_by_layer(task: TaskDrift) -> bytes | None:
    """||W - W0|| / ||W0|| per layer, one panel per method, one line per matrix type."""
    methods = [m for m in task.methods if m.matrices]
    if not methods:
        return None
    fig, axes = _figure(len(methods), 3.8, 3.2)
    top = max(md.relative_change.mean for m in methods for md in m.matrices) or 1.0
    for ax, method in zip(axes, methods):
        for matrix in [t for t in MATRIX_ORDER if any(md.matrix == t for md in method.matrices)]:
            cells = [md for md in method.matrices if md.matrix == matrix]
            # Bars span the seeds' min to max: with 2-3 seeds a t interval is wider than the plot.
            ax.errorbar([md.layer for md in cells], [md.relative_change.mean for md in cells],
                        yerr=[[md.relative_change.mean - md.relative_change.min for md in cells],
                              [md.relative_change.max - md.relative_change.mean for md in cells]],
                        marker="o", markersize=3, capsize=2, label=matrix)
        ax.set_ylim(0, top * 1.25)
        ax.set_xticks(sorted({md.layer for md in method.matrices}))
        ax.set_xlabel("layer")
        ax.set_title(_label(method.method, method.source_phase), fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("relative change ‖W−W₀‖/‖W₀‖")
    axes[-1].legend(fontsize=7)
    return _png(fig)


def intruders_by_method(task: TaskDrift) -> bytes | None:
    """Intruder dimensions per model, summed over layers, per matrix type and method."""
    methods = [m for m in task.methods if m.intruders_by_type]
    if not methods:
        return None
    fig, (ax,) = _figure(1, 6.0, 3.2)
    types = [t for t in MATRIX_ORDER if any(t in m.intruders_by_type for m in methods)]
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        summaries = [method.intruders_by_type.get(t) for t in types]
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(types))]
        means = [s.mean if s else 0.0 for s in summaries]
        err = [[(s.mean - s.min) if s else 0.0 for s in summaries],
               [(s.max - s.mean) if s else 0.0 for s in summaries]]
        ax.bar(xs, means, width=width, yerr=err, capsize=2,
               label=_label(method.method, method.source_phase))
    ax.set_xticks(range(len(types)), types, fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("intruder dimensions (sum over layers)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
