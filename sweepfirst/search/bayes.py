"""Bayesian search with optuna's TPE sampler, over a study kept in step with the history.

The in-memory optuna study is a cache of the caller's history, never a record: each ``propose``
gets the whole history and first brings the study in line with it -- new trials are added, a
running trial that has since finished is told its outcome -- then asks for the new ones. When the
history is not an extension of what the study holds (another coordinator proposed trials meanwhile
in another order, a finished trial went back to running, an imputed value moved), the study is
rebuilt from the history. Either way the trials TPE looks at are exactly those a rebuild would
hold, in the same order (a call's own asks are retired as FAIL afterwards, which TPE ignores), and
the sampler is reseeded as a new one would be, so the proposals are those of a study rebuilt on
every call -- which is what this module did before, at a cost that grew with the sweep (2,000
trials: 0.2-0.4 s per proposal on a 2-core machine, most of it copying trials into a fresh study;
kept, 26-58 ms). The caller's database stays the only record, so any worker can propose and a
crash loses nothing.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweepfirst.search.config import Metric, SweepConfig
from sweepfirst.search.configurations import config_key
from sweepfirst.search.optuna_space import OptunaSpace
from sweepfirst.search.random_search import draw_unseen
from sweepfirst.search.trials import TrialObservation, trials_left

#: Finished trials TPE needs before it models anything (optuna's default).
N_STARTUP_TRIALS = 10

#: How many times TPE is asked again when it proposes a configuration already tried.
MAX_ASK_ATTEMPTS = 16

#: Mixed into the seed of the random fallback so it never replays random search's own draws.
_FALLBACK_STREAM = 0xBA7E5


class _DropStudyCreatedNotice(logging.Filter):
    """Optuna logs "A new study created in memory" at INFO; we create one per rebuild."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("A new study created in memory")


logging.getLogger("optuna.storages._in_memory").addFilter(_DropStudyCreatedNotice())


#: What a synced study trial stood for: (state, value, intermediate values). A trial whose
#: signature changes is updated in place while it is running in the study, else the study is rebuilt.
_Signature = tuple[str, float | None, tuple[tuple[int, float], ...]]
#: An observation as optuna sees it: state, value, intermediate values.
_Outcome = tuple[TrialState, float | None, dict[int, float]]


@dataclass
class _Synced:
    """One history trial as the study holds it."""

    params: Mapping[str, Any]
    key: str | None
    #: None: recorded under another search space, so not in the study (it keeps its place).
    signature: _Signature | None
    trial_id: int
    #: The observation as last seen: (state, score, intermediate values).
    observed: tuple[str, float | None, dict[Any, Any]] | None = None


class BayesProposer:
    """Proposes configurations with optuna's TPE; keeps its study between calls (see above)."""

    #: TPE models the finished trials: propose only as many as can run now (see the planner).
    learns_from_results = True

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
        self._storage: optuna.storages.InMemoryStorage | None = None
        self._study: optuna.Study | None = None
        self._study_id = 0
        self._synced: list[_Synced] = []
        #: The (worst, best) finished scores the synced failed trials were imputed from.
        self._imputed_from: tuple[float, float] | None = None
        #: How many times the study was built from the whole history (1 on start-up).
        self.rebuilds = 0

    @property
    def total_trials(self) -> int | None:
        """See :attr:`SweepConfig.total_trials`: ``run_cap``, or fewer if the space is finite."""
        return self._config.total_trials

    def propose(self, history: Sequence[TrialObservation], n: int) -> list[dict[str, Any]]:
        """Up to ``n`` new configurations given every trial so far."""
        budget = trials_left(self._config, history, n)
        if budget == 0:
            return []
        study, keys = self._sync(history)
        seed = int(
            np.random.SeedSequence([self._seed & (2**64 - 1), len(history)]).generate_state(1)[0]
        )
        # Seeded by the history's length, as when the study was rebuilt on every call: the same
        # history and seed give the same proposals.
        study.sampler = self._sampler(study, seed)
        params = self._config.parameters
        distributions = self._space.distributions
        seen = {key for key in keys if key is not None}
        proposals: list[dict[str, Any]] = []
        #: Trials this call put in the study; the history brings the accepted ones back next call.
        asked: list[int] = []
        try:
            for j in range(budget):
                candidate = None
                for _ in range(MAX_ASK_ATTEMPTS):
                    # A repeat stays RUNNING in the study, so constant liar steers the next ask away.
                    trial = study.ask(distributions)
                    asked.append(trial._trial_id)
                    decoded = self._space.decode(trial.params)
                    if config_key(decoded, params) not in seen:
                        candidate = decoded
                        break
                if candidate is None:
                    # TPE keeps circling a tried point (a small discrete space): draw at random.
                    candidate = draw_unseen(
                        self._config, seen, self._seed, len(history) + j, _FALLBACK_STREAM
                    )
                    encoded = self._space.encode(candidate)
                    assert encoded is not None
                    asked.append(self._add(create_trial(
                        state=TrialState.RUNNING, params=encoded, distributions=distributions
                    )))
                key = config_key(candidate, params)
                assert key is not None
                seen.add(key)
                proposals.append(candidate)
        finally:
            self._retire(asked)
        return proposals

    # ---- keeping the study in step with the history ---------------------------------------------

    def _sampler(self, study: optuna.Study, seed: int) -> optuna.samplers.BaseSampler:
        """The study's TPE sampler, reseeded; a new one where it cannot be reseeded.

        Kept between calls for the search space it caches (recomputing it over thousands of trials
        was a third of a proposal). Reseeding sets the two random streams a new sampler with that
        seed starts from -- optuna internals, so an optuna without them gets a new sampler, which
        proposes the same, only slower.
        """
        sampler = study.sampler
        if isinstance(sampler, optuna.samplers.TPESampler) and self._reseed(sampler, seed):
            return sampler
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=self._n_startup_trials)

    @staticmethod
    def _reseed(sampler: optuna.samplers.TPESampler, seed: int) -> bool:
        streams = [getattr(sampler, "_rng", None), getattr(getattr(sampler, "_random_sampler", None), "_rng", None)]
        if not all(hasattr(stream, "rng") for stream in streams):
            return False
        for stream in streams:
            stream.rng.seed(seed)  # type: ignore[union-attr]
        return True

    def _sync(self, history: Sequence[TrialObservation]) -> tuple[optuna.Study, list[str | None]]:
        """The study, holding exactly the trials a rebuild from ``history`` would hold.

        Only new and changed trials are turned into optuna trials: with thousands of trials that
        copying, not TPE, is what a proposal cost.
        """
        imputable = self._imputable([o.score for o in history if o.state == "complete" and _finite(o.score)])
        # Comparing configurations is cheap; their canonical keys are computed for new trials only.
        same = len(history) >= len(self._synced) and all(
            synced.params == obs.params for synced, obs in zip(self._synced, history))
        known = [synced.key for synced in self._synced] if same else []
        keys = known + [config_key(obs.params, self._config.parameters) for obs in history[len(known):]]
        # A trial observed as before (and imputed values unmoved) is what the study holds already.
        unchanged = [
            same and self._study is not None and imputable == self._imputed_from and synced.observed == _observed(obs)
            for synced, obs in zip(self._synced, history)
        ]
        outcomes: list[_Outcome | None] = [
            None if i < len(unchanged) and unchanged[i] else self._outcome(obs, imputable)
            for i, obs in enumerate(history)
        ]
        signatures: list[_Signature | None] = [
            self._synced[i].signature if outcome is None else _signature_of(outcome)
            for i, outcome in enumerate(outcomes)
        ]
        self._imputed_from = imputable
        if self._study is None or not same or not self._extends(keys, signatures):
            full = [self._outcome(obs, imputable) for obs in history]
            return self._rebuild(history, full, keys, [_signature_of(o) for o in full]), keys
        assert self._storage is not None
        for synced, outcome, signature, obs in zip(self._synced, outcomes, signatures, history):
            synced.observed = _observed(obs)
            if outcome is None or synced.signature is None or synced.signature == signature:
                continue
            state, value, intermediate = outcome
            for step, step_value in intermediate.items():
                self._storage.set_trial_intermediate_value(synced.trial_id, step, step_value)
            if state is not TrialState.RUNNING:
                self._storage.set_trial_state_values(synced.trial_id, state, None if value is None else [value])
            synced.signature = signature
        for i in range(len(self._synced), len(history)):
            outcome, signature = outcomes[i], signatures[i]
            assert outcome is not None and signature is not None  # new trials are always looked at
            self._remember(history[i], outcome, keys[i], signature)
        return self._study, keys

    def _extends(self, keys: list[str | None], signatures: list[_Signature | None]) -> bool:
        """True when the history is what the study holds plus new trials, or running trials of
        it that moved on in a way the study can follow (more intermediate values, an outcome)."""
        if len(keys) < len(self._synced):
            return False
        for synced, key, signature in zip(self._synced, keys, signatures):
            if synced.key != key:
                return False
            if synced.signature is None or synced.signature == signature:
                continue
            if signature is None or synced.signature[0] != TrialState.RUNNING.name:
                return False  # a finished optuna trial cannot change: rebuild
            before, after = dict(synced.signature[2]), dict(signature[2])
            if any(step not in after or after[step] != value for step, value in before.items()):
                return False  # intermediate values can be added, never taken back
        return True

    def _rebuild(self, history: Sequence[TrialObservation], outcomes: list[_Outcome],
                 keys: list[str | None], signatures: list[_Signature]) -> optuna.Study:
        self.rebuilds += 1
        self._storage = optuna.storages.InMemoryStorage()
        # A new sampler too: the search space it caches belongs to the old study.
        self._study = optuna.create_study(
            direction=self._metric.goal, storage=self._storage,
            sampler=optuna.samplers.TPESampler(constant_liar=True, n_startup_trials=self._n_startup_trials),
        )
        self._study_id = self._storage.get_study_id_from_name(self._study.study_name)
        self._synced = []
        for obs, outcome, key, signature in zip(history, outcomes, keys, signatures):
            self._remember(obs, outcome, key, signature)
        return self._study

    def _remember(self, obs: TrialObservation, outcome: _Outcome, key: str | None, signature: _Signature) -> None:
        params = self._space.encode(obs.params)
        if params is None:
            # Recorded under another search space: it cannot inform this one, but keeps its place.
            self._synced.append(_Synced(obs.params, key, None, -1, _observed(obs)))
            return
        state, value, intermediate = outcome
        trial = create_trial(state=state, value=value, params=params, distributions=self._space.distributions,
                             intermediate_values=intermediate)
        self._synced.append(_Synced(obs.params, key, signature, self._add(trial), _observed(obs)))

    def _add(self, trial: FrozenTrial) -> int:
        assert self._storage is not None
        return self._storage.create_new_trial(self._study_id, template_trial=trial)

    def _retire(self, trial_ids: list[int]) -> None:
        """This call's asks leave the study's view (TPE ignores FAIL): next call, the history
        holds the accepted ones as running trials, as a rebuild would."""
        assert self._storage is not None
        for trial_id in trial_ids:
            self._storage.set_trial_state_values(trial_id, TrialState.FAIL)

    def _outcome(self, obs: TrialObservation, imputable: tuple[float, float] | None) -> _Outcome:
        """What optuna is told of one trial: its state, value and intermediate values."""
        intermediate = {int(k): float(v) for k, v in obs.intermediate.items() if _finite(v)}
        if obs.state == "running":
            return TrialState.RUNNING, None, intermediate
        if obs.state == "pruned":
            if not intermediate and _finite(obs.score):
                intermediate = {0: float(obs.score)}  # type: ignore[arg-type]
            return TrialState.PRUNED, None, intermediate
        if obs.state == "complete" and _finite(obs.score):
            return TrialState.COMPLETE, float(obs.score), intermediate  # type: ignore[arg-type]
        imputed = self._impute(intermediate, imputable)
        if imputed is None:
            return TrialState.FAIL, None, {}
        return TrialState.COMPLETE, imputed, {}

    def _imputable(self, finished: list[float | None]) -> tuple[float, float] | None:
        """(worst, best) of the finished scores, or None before any trial finished."""
        scores = [float(s) for s in finished if s is not None]
        if not scores:
            return None
        if self._metric.goal == "minimize":
            return max(scores), min(scores)
        return min(scores), max(scores)

    def _impute(self, intermediate: dict[int, float], imputable: tuple[float, float] | None) -> float | None:
        if self._metric.impute == "latest" and intermediate:
            return intermediate[max(intermediate)]
        if imputable is None:
            return None
        worst, best = imputable
        return best if self._metric.impute == "best" else worst


def _observed(obs: TrialObservation) -> tuple[str, float | None, dict[Any, Any]]:
    return obs.state, obs.score, dict(obs.intermediate)


def _signature_of(outcome: _Outcome) -> _Signature:
    state, value, intermediate = outcome
    return state.name, value, tuple(sorted(intermediate.items()))


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
