"""A Ctrl-C that lands before a command could take it (while the command line or a command's
modules load): one line and exit code 130, never a traceback.

Only ``sys`` is imported: the interrupt may come before anything else has loaded.
"""

from __future__ import annotations

import sys

#: Exit code of a process stopped by SIGINT (128 + 2), as shells report it.
INTERRUPTED_EXIT_CODE = 130


def exit_interrupted() -> None:
    """Say "interrupted" (without rich, which may not be loaded yet) and exit with 130."""
    sys.stderr.write("interrupted\n")
    sys.exit(INTERRUPTED_EXIT_CODE)
