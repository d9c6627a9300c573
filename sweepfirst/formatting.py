"""How numbers read wherever sweepfirst shows them (the report, `status`, `plan`, a budget's
spend): one place, so every table rounds the same way. Standard library only: `status` uses it."""

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


def number(value: float | None, *, scientific: bool = False) -> str:
    """Any other number, the one way the report writes them (tables, tick labels, hyperparameters):
    integers with thousands separators; a float below 0.01 or from 10,000 up in short scientific
    form with 3 significant digits (1.91e-3, 8e-4: learning rates read as people write them);
    other floats with up to 4 significant digits (0.1, 2.5, 0.0625). ``scientific``: the short
    scientific form for every value (a log axis: 1e-2 beside 5e-3, never 0.01 beside 5e-3)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if not scientific and (isinstance(value, int) or float(value).is_integer() and abs(value) < 1e4):
        return f"{int(value):,}"
    if value != 0 and (scientific or abs(value) < 1e-2 or abs(value) >= 1e4):
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.4g}"


def count(value: int | None) -> str:
    """A count (examples, steps) with thousands separators."""
    return MISSING if value is None else f"{value:,}"


def percent(value: float | None) -> str:
    """A share as a percentage with one decimal (91.7%)."""
    return MISSING if value is None else f"{value:.1%}"


def hyperparameters(values: Mapping[str, object]) -> str:
    """``name=value`` pairs in name order, numbers through :func:`number`."""
    parts = []
    for name in sorted(values):
        value = values[name]
        text = number(value) if isinstance(value, (int, float)) else str(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts) if parts else MISSING


def clock(seconds: float | None) -> str:
    """Seconds as a compact clock for live lines: "1h05m", "7m30s"; "unknown" for None."""
    if seconds is None:
        return "unknown"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def rough_duration(seconds: float | None) -> str:
    """A forecast's precision: whole minutes, hours from two hours up ("95 min", "3.2 h")."""
    if seconds is None:
        return "no estimate"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def spent_duration(seconds: float) -> str:
    """Time a sweep spent: seconds under two minutes, minutes under two hours, then hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
