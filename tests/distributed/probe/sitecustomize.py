"""A stand-in for the training code, in real sweepfirst worker processes (the GPU tests on CPU).

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has one;
the tests put this folder first on the PYTHONPATH of the sweepfirst processes they start. With
SWEEPFIRST_PROBE=1 it puts a module of its own where `sweepfirst.training.runner` would be, so the
real job process (`engine.job_process`) runs the real `execute_job` -- lease, heartbeat,
error classification, recorded ending -- around a `run_training` that trains nothing:

- it writes ``probe.json`` into the job's folder: the process id, its CUDA_VISIBLE_DEVICES, and
  when it started and ended (the pinning tests read them); with SWEEPFIRST_PROBE_CUDA=1 also the
  devices torch sees there and the first one's UUID;
- it reports steps 1..4 to the hooks, holding the lease SWEEPFIRST_PROBE_SLEEP seconds in all;
- SWEEPFIRST_PROBE_OOM=ID:STEP:TIMES[,...]: job ID raises torch's real OutOfMemoryError at step
  STEP on its first TIMES attempts (TIMES 0: every attempt).
"""

from __future__ import annotations

import os

if os.environ.get("SWEEPFIRST_PROBE") == "1":
    import json
    import sys
    import time
    import types
    from typing import Any

    def run_training(request: Any, hooks: Any) -> Any:
        from sweepfirst.training.result import TrainingResult

        output = request.output_dir
        output.mkdir(parents=True, exist_ok=True)
        job_id = str(hooks._lease.job_id)
        attempts_file = output / "probe-attempts"
        attempt = int(attempts_file.read_text()) + 1 if attempts_file.exists() else 1
        attempts_file.write_text(str(attempt))
        started = time.time()
        sleep = float(os.environ.get("SWEEPFIRST_PROBE_SLEEP", "0"))
        ooms = {job: (int(step), int(times)) for job, step, times in
                (item.split(":") for item in os.environ.get("SWEEPFIRST_PROBE_OOM", "").split(",") if item)}
        oom_step, oom_times = ooms.get(job_id, (0, 0))
        for step in range(1, 5):
            time.sleep(sleep / 4)
            hooks.on_step(step)
            if step == oom_step and (oom_times == 0 or attempt <= oom_times):
                import torch

                raise torch.cuda.OutOfMemoryError(
                    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
                    "79.19 GiB of which 1.06 GiB is free.")
        record: dict[str, Any] = {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                  "started": started, "ended": time.time()}
        if os.environ.get("SWEEPFIRST_PROBE_CUDA") == "1":  # what torch itself sees (GPU tests)
            import torch

            record["device_count"] = torch.cuda.device_count()
            if record["device_count"]:
                uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
                record["device_uuid"] = f"GPU-{uuid}" if uuid is not None else None
        (output / "probe.json").write_text(json.dumps(record))
        return TrainingResult(status="completed", metrics={"eval_accuracy": 0.5}, primary_metric="eval_accuracy",
                              score=0.5, history=[], global_step=4, train_runtime_s=time.time() - started,
                              train_samples_per_second=0.0, num_train_examples=0, num_eval_examples=0)

    runner = types.ModuleType("sweepfirst.training.runner")
    runner.run_training = run_training  # type: ignore[attr-defined]
    sys.modules["sweepfirst.training.runner"] = runner
