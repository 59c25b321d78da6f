"""Atomic output: write to a temporary sibling, rename into place only on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, mode: int | None = None):
    """Yield a temporary path next to ``path``; move it to ``path`` if the block succeeds.

    The temporary name keeps the full suffix (``.nii.gz``, ``.h5``) so writers that infer the
    format from the name behave the same. On error the temporary file is removed and ``path``
    is left untouched, so a failed step never leaves a partial output behind.

    Args:
        mode: permissions of the result; default those of a plain ``open()`` (0666 less the
            umask). Pass ``0o600`` for files only their owner may read (a blinding key).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes private files; a result gets the permissions a plain open() would give
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
