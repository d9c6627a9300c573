"""Search: W&B sweep configs parsed offline, the strategies that propose trials, and hyperband.

Usage::

    config = parse_sweep_config(yaml.safe_load(text), where="methods.lora.sweep")
    proposer = make_proposer(config, seed=0)
    batch = proposer.propose(history, n=4)      # history: every TrialObservation so far
    Hyperband(config).decide(iteration, RungScore(score, eval_loss), peers)
"""

from __future__ import annotations

from sweepfirst.search.config import EarlyTerminate, Metric, SweepConfig, parse_sweep_config
from sweepfirst.search.distributions import Distribution, Param
from sweepfirst.search.hyperband import Decision, Hyperband, RungScore, rung_schedule, should_stop
from sweepfirst.search.strategies import Proposer, TrialObservation, make_proposer

__all__ = [
    "Decision",
    "Distribution",
    "EarlyTerminate",
    "Hyperband",
    "Metric",
    "Param",
    "Proposer",
    "RungScore",
    "SweepConfig",
    "TrialObservation",
    "make_proposer",
    "parse_sweep_config",
    "rung_schedule",
    "should_stop",
]
