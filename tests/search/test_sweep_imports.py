"""The search module stays light: no torch, so the CLI can plan a sweep without a GPU stack."""

from __future__ import annotations

import subprocess
import sys


def test_search_does_not_import_torch() -> None:
    code = "import sys, sweepfirst.search; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
