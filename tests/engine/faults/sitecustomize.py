"""Faults injected into real sweepfirst worker processes, for the crash tests.

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has one;
the tests put this folder first on the PYTHONPATH of the sweepfirst processes they start, and
nowhere else. It wraps the engine's per-step hook (`JobHooks.on_step`, which only runs where a job
trains) so that, chosen by environment variables:

- SWEEPFIRST_FAULT_KILL_JOB=ID and SWEEPFIRST_FAULT_KILL_STEP=N: the worker process running job ID
  SIGKILLs itself when that job reaches step N -- as the OOM killer would, every time at the same
  step;
- SWEEPFIRST_FAULT_RAISE_METHOD=M and SWEEPFIRST_FAULT_RAISE_STEP=N: every job of method M raises
  at step N -- a code failure.
"""

from __future__ import annotations

import os
import signal

_KILL_JOB = os.environ.get("SWEEPFIRST_FAULT_KILL_JOB")
_RAISE_METHOD = os.environ.get("SWEEPFIRST_FAULT_RAISE_METHOD")

if _KILL_JOB or _RAISE_METHOD:
    from sweepfirst.engine import job_hooks as _job_hooks
    from sweepfirst.store import jobs as _job_store

    _original_on_step = _job_hooks.JobHooks.on_step
    _methods: dict[int, str] = {}

    def _method_of(hooks: _job_hooks.JobHooks) -> str:
        job_id = hooks._lease.job_id
        if job_id not in _methods:
            with hooks._ctx.db.session(readonly=True) as session:
                _methods[job_id] = _job_store.get_job(session, job_id).method
        return _methods[job_id]

    def _on_step(self: _job_hooks.JobHooks, step: int) -> None:
        _original_on_step(self, step)
        if _KILL_JOB and str(self._lease.job_id) == _KILL_JOB and step == int(os.environ["SWEEPFIRST_FAULT_KILL_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)
        if _RAISE_METHOD and _method_of(self) == _RAISE_METHOD and step == int(os.environ["SWEEPFIRST_FAULT_RAISE_STEP"]):
            raise RuntimeError(f"injected failure at step {step}")

    _job_hooks.JobHooks.on_step = _on_step  # type: ignore[method-assign]
