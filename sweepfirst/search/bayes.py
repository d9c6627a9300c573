"""Bayesian search with optuna's TPE sampler, rebuilt from the history on every call.

The in-memory optuna study is a throwaway cache: each ``propose`` creates a fresh study, adds
every observed trial to it, asks for the new ones and forgets it. The caller's database stays
the only record, so any worker can propose and a crash loses nothing.

How observations become optuna trials:

* ``complete`` with a score -> ``COMPLETE`` with that value.
* ``pruned`` -> ``PRUNED`` with its intermediate values (TPE ranks pruned trials by the last
  step they reached, then by the value there); with none recorded, the score counts as step 0.
* ``running`` -> ``RUNNING``. With ``constant_liar=True`` TPE puts running trials in its "bad"
  group, so parallel proposals stay away from configurations already being tried. New
  proposals of the same batch stay ``RUNNING`` in the study for the same reason.
* ``failed`` (or ``complete`` without a score) -> W&B's ``metric.impute``: the worst (default)
  or best completed score, or for ``latest`` the last intermediate value. Before any trial has
  completed there is nothing to impute and the trial is added as ``FAIL``, which TPE ignores.

A proposal that repeats a tried configuration is asked again (up to ``MAX_ASK_ATTEMPTS`` times),
then replaced by a random draw that avoids repeats (:func:`random_search.draw_unseen`), so a
finite space is covered without repeats before it is exhausted.

TPE samples its first ``N_STARTUP_TRIALS`` finished trials at random (optuna's default). The
sampler's seed is derived from ``(seed, len(history))``: the same history and seed always give
the same proposals, and a call after one more trial does not replay the previous call's draws.
Distributions optuna cannot express are handled as :mod:`~sweepfirst.search.optuna_space` says.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweepfirst.search.config import Metric, SweepConfig
from sweepfirst.search.configurations import config_key
from sweepfirst.search.optuna_space import OptunaSpace
from sweepfirst.search.random_search import draw_unseen
from sweepfirst.search.trials import TrialObservation, seen_keys, trials_left

#: Finished trials TPE needs before it models anything (optuna's default).
N_STARTUP_TRIALS = 10

#: How many times TPE is asked again when it proposes a configuration already tried.
MAX_ASK_ATTEMPTS = 16

#: Mixed into the seed of the random fallback so it never replays random search's own draws.
_FALLBACK_STREAM = 0xBA7E5


class _DropStudyCreatedNotice(logging.Filter):
    """Optuna logs "A new study created in memory" at INFO; we create one per proposal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("A new study created in memory")


logging.getLogger("optuna.storages._in_memory").addFilter(_DropStudyCreatedNotice())


class BayesProposer:
    """Proposes configurations with optuna's TPE, from the full history each time."""

    def __init__(
        self, config: SweepConfig, *, seed: int, n_startup_trials: int = N_STARTUP_TRIALS
    ) -> None:
        if config.metric is None:
            raise ValueError("bayes search needs a metric; parse_sweep_config enforces it")
        self._config = config
        self._metric: Metric = config.metric
        self._seed = seed
        self._n_startup_trials = n_startup_trials
        self._space = OptunaSpace(config.parameters)

    @property
    def total_trials(self) -> int | None:
        """See :attr:`SweepConfig.total_trials`: ``run_cap``, or fewer if the space is finite."""
        return self._config.total_trials

    def propose(self, history: Sequence[TrialObservation], n: int) -> list[dict[str, Any]]:
        """Up to ``n`` new configurations given every trial so far."""
        budget = trials_left(self._config, history, n)
        if budget == 0:
            return []
        study = self._study(history)
        params = self._config.parameters
        distributions = self._space.distributions
        seen = seen_keys(self._config, history)
        proposals: list[dict[str, Any]] = []
        for j in range(budget):
            candidate = None
            for _ in range(MAX_ASK_ATTEMPTS):
                # A repeat stays RUNNING in the study, so constant liar steers the next ask away.
                asked = study.ask(distributions)
                decoded = self._space.decode(asked.params)
                if config_key(decoded, params) not in seen:
                    candidate = decoded
                    break
            if candidate is None:
                # TPE keeps circling a tried point (a small discrete space): draw at random instead.
                candidate = draw_unseen(
                    self._config, seen, self._seed, len(history) + j, _FALLBACK_STREAM
                )
                encoded = self._space.encode(candidate)
                assert encoded is not None
                study.add_trial(
                    create_trial(
                        state=TrialState.RUNNING, params=encoded, distributions=distributions
                    )
                )
            key = config_key(candidate, params)
            assert key is not None
            seen.add(key)
            proposals.append(candidate)
        return proposals

    def _study(self, history: Sequence[TrialObservation]) -> optuna.Study:
        seed = int(
            np.random.SeedSequence([self._seed & (2**64 - 1), len(history)]).generate_state(1)[0]
        )
        sampler = optuna.samplers.TPESampler(
            seed=seed, constant_liar=True, n_startup_trials=self._n_startup_trials
        )
        study = optuna.create_study(direction=self._metric.goal, sampler=sampler)
        finished = [o.score for o in history if o.state == "complete" and _finite(o.score)]
        for obs in history:
            trial = self._frozen_trial(obs, finished)
            if trial is not None:
                study.add_trial(trial)
        return study

    def _frozen_trial(
        self, obs: TrialObservation, finished: list[float | None]
    ) -> FrozenTrial | None:
        params = self._space.encode(obs.params)
        if params is None:
            return None  # recorded under another search space: it cannot inform this one
        distributions = self._space.distributions
        intermediate = {int(k): float(v) for k, v in obs.intermediate.items() if _finite(v)}
        if obs.state == "running":
            return create_trial(
                state=TrialState.RUNNING,
                params=params,
                distributions=distributions,
                intermediate_values=intermediate,
            )
        if obs.state == "pruned":
            if not intermediate and _finite(obs.score):
                intermediate = {0: float(obs.score)}  # type: ignore[arg-type]
            return create_trial(
                state=TrialState.PRUNED,
                params=params,
                distributions=distributions,
                intermediate_values=intermediate,
            )
        if obs.state == "complete" and _finite(obs.score):
            return create_trial(
                value=float(obs.score),  # type: ignore[arg-type]
                params=params,
                distributions=distributions,
                intermediate_values=intermediate,
            )
        imputed = self._impute(intermediate, [float(s) for s in finished if s is not None])
        if imputed is None:
            return create_trial(state=TrialState.FAIL, params=params, distributions=distributions)
        return create_trial(value=imputed, params=params, distributions=distributions)

    def _impute(self, intermediate: dict[int, float], finished: list[float]) -> float | None:
        if self._metric.impute == "latest" and intermediate:
            return intermediate[max(intermediate)]
        if not finished:
            return None
        worst_first = sorted(finished, reverse=self._metric.goal == "minimize")
        return worst_first[-1] if self._metric.impute == "best" else worst_first[0]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
