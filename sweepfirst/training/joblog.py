"""A job's log goes to a file in its folder, not to the worker's terminal.

While a job runs, transformers' and our INFO messages are appended to ``output_dir/train.log``;
the terminal only gets errors, and no progress bars (one line per step from every worker of a
sweep is noise, and the engine shows progress itself).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

#: Loggers whose records go to the job's file.
_LOGGERS = ("sweepfirst.training", "transformers", "datasets", "peft")
#: Libraries whose own terminal handlers are quieted while a job runs (ours are left alone).
_QUIETED = frozenset({"transformers", "datasets", "peft"})


@contextlib.contextmanager
def job_logging(log_file: Path) -> Iterator[None]:
    """Route the training libraries' logs to ``log_file`` for the duration of the block."""
    import datasets
    import transformers.utils.logging as hf_logging

    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    file_handler.setLevel(logging.INFO)

    saved_levels: list[tuple[logging.Logger | logging.Handler, int]] = []
    for name in _LOGGERS:
        lib_logger = logging.getLogger(name)
        saved_levels.append((lib_logger, lib_logger.level))
        lib_logger.setLevel(logging.INFO)
        # The libraries' own terminal handlers only pass errors while the job runs.
        for handler in lib_logger.handlers if name in _QUIETED else ():
            saved_levels.append((handler, handler.level))
            handler.setLevel(max(handler.level, logging.ERROR))
        lib_logger.addHandler(file_handler)

    hf_bars = hf_logging.is_progress_bar_enabled()
    ds_bars = not datasets.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(file_handler)
        for target, level in saved_levels:
            target.setLevel(level)
        file_handler.close()
        if hf_bars:
            hf_logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()
