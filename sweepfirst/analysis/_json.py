"""Turn report objects into values ``json.dumps`` accepts, the same way everywhere."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dataclasses (their ``to_dict`` where they have one),
    mappings, sequences, datetimes, paths and numpy scalars; non-finite floats become ``None``
    because ``NaN`` is not JSON and other tools choke on it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_jsonable(to_dict()) if to_dict is not None else fields_dict(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fields_dict(obj: Any) -> dict[str, Any]:
    """The dataclass fields of ``obj``, each made JSON-ready (without ``obj``'s own to_dict)."""
    return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
