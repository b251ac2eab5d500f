"""Writing a file so that a crash or a power cut leaves the old one or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"  # what a crash may leave behind; a directory's owner may sweep these
TEMP_SUFFIX = ".part"


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, make_parents: bool = False) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsync'd, renamed over it, the directory fsync'd.

    No reader ever sees a partial file or a looser ``mode``. A missing directory is an OSError unless
    ``make_parents``.
    """
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
