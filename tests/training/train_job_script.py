"""Run one training job in a child process, so a test can SIGKILL it (not a test module).

Usage: python train_job_script.py REQUEST_JSON MODE [ARG]

MODE ``slow``:           train, sleeping ARG seconds after every step (time to kill it mid-run).
MODE ``crash-mid-save``: SIGKILL itself halfway through writing the checkpoint of step ARG:
                         after the model, optimizer and scheduler are written, before the RNG
                         state and trainer_state.json.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path


class SlowHooks:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        return True

    def on_step(self, step: int) -> None:
        return None

    def should_stop(self) -> bool:
        time.sleep(self.delay)
        return False


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from sweepfirst.training import NO_HOOKS, TrainingRequest
    from sweepfirst.training.runner import run_training

    spec = json.loads(sys.argv[1])
    mode, arg = sys.argv[2], sys.argv[3]
    for key in ("output_dir", "data_dir", "cache_dir"):
        spec[key] = Path(spec[key])
    request = TrainingRequest(**spec)
    hooks = NO_HOOKS
    if mode == "slow":
        hooks = SlowHooks(float(arg))
    elif mode == "crash-mid-save":
        from transformers import Trainer

        crash_step = int(arg)
        original = Trainer._save_rng_state

        def save_rng_then_maybe_die(self: Trainer, output_dir: str) -> None:
            if self.state.global_step == crash_step:
                os.kill(os.getpid(), signal.SIGKILL)
            original(self, output_dir)

        Trainer._save_rng_state = save_rng_then_maybe_die  # type: ignore[method-assign]
    result = run_training(request, hooks)
    print(json.dumps({"status": result.status, "global_step": result.global_step}))


if __name__ == "__main__":
    main()
