"""Small helpers that turn a bad value in a sweep config into one clear ``SpecError``.

Every message has the same shape: ``<key path>: <what is wrong>; <how to fix it>.`` The key path
starts with the ``where`` prefix the caller gave, so the user can find the line in their file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweepfirst.errors import SpecError
from sweepfirst.search.numbers import misread_number, number_from_text


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


@dataclass(frozen=True)
class UnknownKey:
    """A key of the mapping at ``path`` that ``what`` does not take (``allowed`` are the ones it does)."""

    path: str
    key: str
    what: str
    allowed: tuple[str, ...]


def unknown_keys(
    raw: Mapping[str, Any], allowed: Iterable[str], path: str, what: str
) -> list[UnknownKey]:
    """Every string key of ``raw`` that is not in ``allowed``, in file order."""
    allowed_sorted = tuple(sorted(set(allowed)))
    return [
        UnknownKey(path, key, what, allowed_sorted)
        for key in raw
        if isinstance(key, str) and key not in allowed_sorted
    ]


def unknown_keys_error(found: Sequence[UnknownKey], root: str) -> SpecError:
    """One error naming every key in ``found`` (non-empty); ``root`` is the sweep's key path.

    A single key keeps the usual ``<path>: <problem>; <fix>.`` shape so it reads like any other
    mistake; several are listed in one sentence so the user fixes them all in one go.
    """
    if len(found) == 1:
        (one,) = found
        return spec_error(
            key_path(one.path, one.key),
            f"'{one.key}' is not a setting of {one.what}",
            f"remove it or use one of {', '.join(one.allowed)}",
        )
    listed = ", ".join(
        f"{key_path(k.path, k.key)} ({k.what} takes {', '.join(k.allowed)})" for k in found
    )
    return spec_error(
        root or "sweep",
        f"{len(found)} keys are not settings W&B knows: {listed}",
        "remove or rename each of them",
    )


def reject_unknown_keys(
    raw: Mapping[str, Any], allowed: Iterable[str], path: str, what: str
) -> None:
    """Raise naming every key of ``raw`` that is not in ``allowed``."""
    found = unknown_keys(raw, allowed, path, what)
    if found:
        raise unknown_keys_error(found, path)


def is_number(value: Any) -> bool:
    """True for a finite int or float; bools are not numbers here (YAML ``yes`` is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def require_number(raw: Any, path: str) -> int | float:
    """Return ``raw`` if it is a finite number, else raise with a fix that fits the mistake.

    Text that spells a number is that number: PyYAML (YAML 1.1) reads ``1e-5`` and ``1.0e5`` as
    text, YAML 1.2 and W&B's users read them as numbers (see :mod:`sweepfirst.search.numbers`).
    """
    if is_number(raw):
        return raw  # type: ignore[no-any-return]
    if isinstance(raw, str):
        number = number_from_text(raw)
        if number is not None and math.isfinite(number):
            return number
        if number is not None:
            raise spec_error(path, f"{raw} is too large to be a number", "write a finite number")
        raise spec_error(
            path, f"expected a number but got the text {raw!r}", "write a number such as 0.001"
        )
    raise spec_error(path, f"expected a finite number but got {_describe(raw)}", "write a number")


def require_int(raw: Any, path: str, *, minimum: int | None = None) -> int:
    """Return ``raw`` if it is an int (at least ``minimum``), else raise."""
    number = number_from_text(raw)
    if number is not None:
        # Text is not quietly made a whole number, as a real 100.0 is refused too; but the message
        # says what happened, since YAML 1.1 turning 1e2 into text is not the user's fault.
        if misread_number(raw) is not None:
            problem = f"YAML read {raw} as text, not a number, and this setting takes a whole number"
        else:
            problem = f"expected a whole number but got the text {raw!r}"
        whole = math.isfinite(number) and number.is_integer()
        fix = f"write {int(number)}" if whole else "write a whole number such as 3"
        raise spec_error(path, problem, fix)
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
