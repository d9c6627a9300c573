"""How numbers read in the report: one place, so every table rounds the same way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

#: Shown where a value is undefined or was not recorded.
MISSING = "—"


def score(value: float | None) -> str:
    """A metric value (accuracy, F1, MCC) to four decimals: seeds differ in the third."""
    return MISSING if value is None else f"{value:.4f}"


def signed(value: float | None) -> str:
    """A difference, with its sign always shown so direction is never ambiguous."""
    return MISSING if value is None else f"{value:+.4f}"


def mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return MISSING
    return score(mean) if std is None else f"{mean:.4f} ± {std:.4f}"


def interval(low: float | None, high: float | None, *, sign: bool = False) -> str:
    if low is None or high is None:
        return MISSING
    fmt = signed if sign else score
    return f"[{fmt(low)}, {fmt(high)}]"


def p_value(value: float | None) -> str:
    """Three decimals, and "< 0.001" below that: smaller p-values carry no extra meaning here."""
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def effect(value: float | None) -> str:
    return MISSING if value is None else f"{value:+.2f}"


def timestamp(value: dt.datetime | None) -> str:
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def duration(seconds: float | None) -> str:
    """Seconds as "2 h 05 min", "7 min 30 s" or "42 s"."""
    if seconds is None:
        return MISSING
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def hyperparameters(values: Mapping[str, object]) -> str:
    """``name=value`` pairs in name order; floats in short scientific form (learning rates)."""
    parts = []
    for name in sorted(values):
        value = values[name]
        if isinstance(value, float) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
            text = f"{value:.1e}"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts) if parts else MISSING
