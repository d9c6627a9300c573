"""The one way sweepfirst writes a file: atomically, with the mode any file of the user's has.

Every file (results, job records, reports, exports, summaries) is written to a temporary name in
its folder and moved into place with ``os.replace``, so a reader -- or a crash mid-write -- never
sees half of one: the old file stays until the new one is complete.

The mode follows the user's umask, as a file they wrote themselves would (0644 under the usual
022). Not ``tempfile.mkstemp``: its 0600 would survive the rename, and results are meant to be read
by others (a shared project folder, a web server showing the report).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from sweepfirst.jsonable import json_text


def write_atomic(path: Path, content: bytes | str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``content`` (text is written as UTF-8), creating its folder.

    ``durable``: fsync before the rename, so the new content survives a power loss once this
    returns. Off only for notes rewritten every few seconds (a job's progress), where the cost
    matters and a lost update does not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        # "x": a new file, created with 0666 less the umask.
        with open(tmp, "xb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: Any, *, sort_keys: bool = False, allow_nan: bool = False,
                      durable: bool = True) -> None:
    """Replace ``path`` with ``value`` as JSON text (:func:`sweepfirst.jsonable.json_text`)."""
    write_atomic(path, json_text(value, sort_keys=sort_keys, allow_nan=allow_nan), durable=durable)
