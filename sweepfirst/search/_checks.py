"""Small helpers that turn a bad value in a sweep config into one clear ``SpecError``.

Every message has the same shape: ``<key path>: <what is wrong>; <how to fix it>.`` The key path
starts with the ``where`` prefix the caller gave, so the user can find the line in their file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from sweepfirst.errors import SpecError


def key_path(where: str, *keys: str) -> str:
    """Join a prefix and keys into a dotted key path (``a.b.c``); an empty prefix is dropped."""
    return ".".join(part for part in (where, *keys) if part)


def spec_error(path: str, problem: str, fix: str) -> SpecError:
    """Build the one-sentence error for the key at ``path``."""
    return SpecError(f"{path}: {problem}; {fix}.")


def require_mapping(raw: Any, path: str, example: str) -> Mapping[str, Any]:
    """Return ``raw`` if it is a mapping with string keys, else raise naming ``path``."""
    if not isinstance(raw, Mapping):
        raise spec_error(
            path, f"expected a mapping but got {_describe(raw)}", f"write it as {example}"
        )
    for key in raw:
        if not isinstance(key, str):
            raise spec_error(path, f"the key {key!r} is not a string", "quote it or rename it")
    return raw


def reject_unknown_keys(
    raw: Mapping[str, Any], allowed: Iterable[str], path: str, what: str
) -> None:
    """Raise on the first key of ``raw`` that is not in ``allowed``."""
    allowed_set = set(allowed)
    for key in raw:
        if key not in allowed_set:
            raise spec_error(
                key_path(path, key),
                f"'{key}' is not a setting of {what}",
                f"remove it or use one of {', '.join(sorted(allowed_set))}",
            )


def is_number(value: Any) -> bool:
    """True for a finite int or float; bools are not numbers here (YAML ``yes`` is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def require_number(raw: Any, path: str) -> int | float:
    """Return ``raw`` if it is a finite number, else raise with a fix that fits the mistake."""
    if is_number(raw):
        return raw  # type: ignore[no-any-return]
    if isinstance(raw, str):
        # PyYAML (YAML 1.1) reads ``1e-4`` without a dot as text, a classic sweep-file trap.
        raise spec_error(
            path,
            f"expected a number but got the text {raw!r}",
            "write a number with a dot, such as 1.0e-4 (YAML reads 1e-4 as text)",
        )
    raise spec_error(path, f"expected a finite number but got {_describe(raw)}", "write a number")


def require_int(raw: Any, path: str, *, minimum: int | None = None) -> int:
    """Return ``raw`` if it is an int (at least ``minimum``), else raise."""
    if not is_int(raw):
        raise spec_error(
            path, f"expected a whole number but got {_describe(raw)}", "write an integer such as 3"
        )
    if minimum is not None and raw < minimum:
        raise spec_error(
            path, f"{raw} is less than {minimum}", f"use a value of at least {minimum}"
        )
    return int(raw)


def require_choice(raw: Any, path: str, choices: Iterable[str]) -> str:
    """Return ``raw`` if it is one of ``choices``, else raise listing them."""
    options = list(choices)
    if not isinstance(raw, str) or raw not in options:
        raise spec_error(path, f"{raw!r} is not allowed", f"use one of {', '.join(options)}")
    return raw


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"
