"""Numbers that YAML read as text (``1e-5``, ``5e-6``, ``1.0e5``), turned back into numbers.

PyYAML implements YAML 1.1, whose float pattern needs a dot in the mantissa *and* a sign in the
exponent (``1.0e-5``, ``1.0e+5``); anything else written with an exponent loads as a string. YAML
1.2 and JSON, which most other tools read, take all of them as floats, so sweep files written for
W&B are full of them. Where a sweep config expects a number, such text means the number it spells.

Two strengths of the rule, because some settings may legitimately hold text:

* :func:`number_from_text`, for settings that only take numbers (``min``, ``q``, ``sigma``...):
  any plain decimal or scientific spelling (``"0.5"``, ``"1e-5"``) is the number.
* :func:`misread_number`, for ``value`` and ``values``, which may be words: only the scientific
  spellings PyYAML misreads (``1e-5``, ``1.0e5``) count. ``"0.5"`` or ``"3"`` as text can only
  come from quotes in the file, so the user meant text and it stays text.

Neither accepts ``inf``, ``nan`` or underscores, which Python's ``float`` would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SCIENTIFIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def number_from_text(value: Any) -> float | None:
    """The float a string in decimal or scientific notation spells; ``None`` for anything else."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return None


def misread_number(value: Any) -> float | None:
    """The float a string spells if it is scientific notation YAML 1.1 loads as text; else None."""
    if isinstance(value, str) and _SCIENTIFIC.fullmatch(value):
        return float(value)
    return None


def numeric_value(value: Any) -> Any:
    """``value`` with a misread number (see :func:`misread_number`) turned into its float."""
    number = misread_number(value)
    return value if number is None else number


def numeric_values(values: Sequence[Any]) -> tuple[Any, ...]:
    """A ``values`` list as floats where YAML misread numbers in a list of numbers; else as given.

    Only a list whose every item is a number or a misread number is converted, so
    ``["1e-4", "3e-4"]`` becomes floats while ``["adamw", "1e-4"]`` stays text.
    """
    items = tuple(values)
    if not any(misread_number(v) is not None for v in items):
        return items
    if all(_is_plain_number(v) or misread_number(v) is not None for v in items):
        return tuple(numeric_value(v) for v in items)
    return items


def _is_plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
