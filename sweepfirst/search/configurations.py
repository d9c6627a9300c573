"""A proposed configuration: a nested dict of parameter values, and how to compare two of them.

Inside the search module a configuration is flat (``{("optimizer", "lr"): 0.1}``); what goes out
to the caller, and comes back in a :class:`TrialObservation`, is nested
(``{"optimizer": {"lr": 0.1}}``), like W&B's ``wandb.config`` for nested parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sweepfirst.search.distributions import Param

FlatConfig = dict[tuple[str, ...], Any]

_MISSING = object()


def nest(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """Turn path -> value into nested dicts."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def flatten(config: Mapping[str, Any], params: Sequence[Param]) -> FlatConfig | None:
    """Read each parameter's value out of a nested config; ``None`` if any is missing."""
    flat: FlatConfig = {}
    for param in params:
        node: Any = config
        for key in param.path:
            node = node.get(key, _MISSING) if isinstance(node, Mapping) else _MISSING
            if node is _MISSING:
                return None
        flat[param.path] = node
    return flat


def config_key(config: Mapping[str, Any], params: Sequence[Param]) -> str | None:
    """A canonical string for the values ``config`` gives ``params``; ``None`` if one is missing.

    Keys outside the search space (a seed the caller added, say) do not take part, so a trial
    that carries extra settings still counts as a repeat of the same configuration.
    """
    flat = flatten(config, params)
    if flat is None:
        return None
    return json.dumps(
        [flat[p.path] for p in params], separators=(",", ":"), sort_keys=True, default=repr
    )
