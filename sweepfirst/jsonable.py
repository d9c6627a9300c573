"""The one way sweepfirst turns its values into JSON text (reports, job records, results, exports).

Dataclasses (their ``to_dict`` where they have one), mappings, sequences, datetimes, paths and numpy
scalars become plain JSON values; anything else is written as its ``str``. Non-finite floats become
``null`` -- ``NaN`` is not JSON, and other tools choke on it -- unless the caller is its only reader.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def to_jsonable(value: Any, *, allow_nan: bool = False) -> Any:
    """A JSON-ready copy of ``value`` (see the module docstring); non-finite floats become None
    unless ``allow_nan``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_jsonable(to_dict(), allow_nan=allow_nan) if to_dict is not None \
            else fields_dict(value, allow_nan=allow_nan)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, allow_nan=allow_nan) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, allow_nan=allow_nan) for v in value]
    # numpy only where it is already loaded: no numpy value can exist otherwise, and `status`
    # and the state code must not pay for importing it.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return to_jsonable(value.tolist(), allow_nan=allow_nan)
        if isinstance(value, numpy.generic):
            return to_jsonable(value.item(), allow_nan=allow_nan)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not allow_nan and not math.isfinite(value):
        return None
    return value


def fields_dict(obj: Any, *, allow_nan: bool = False) -> dict[str, Any]:
    """The dataclass fields of ``obj``, each made JSON-ready (without ``obj``'s own to_dict)."""
    return {f.name: to_jsonable(getattr(obj, f.name), allow_nan=allow_nan)
            for f in dataclasses.fields(obj)}


def json_text(value: Any, *, sort_keys: bool = False, allow_nan: bool = False) -> str:
    """``value`` as indented JSON text ending in a newline, unicode kept as is.

    ``allow_nan``: write non-finite floats as ``NaN`` (Python reads them back) instead of null:
    for files only sweepfirst reads, where a diverged run's ``NaN`` loss must survive a resume.
    """
    return json.dumps(to_jsonable(value, allow_nan=allow_nan), indent=2, sort_keys=sort_keys,
                      ensure_ascii=False, allow_nan=allow_nan, default=str) + "\n"


def as_read_back(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, paths strings): for comparing
    a value with one recorded in a file."""
    return json.loads(json_text(value, allow_nan=True))
