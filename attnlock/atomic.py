"""Atomic writes: a file attnlock changes is either the old bytes or the new bytes.

Every write to a file the user owns (pyproject.toml, requirements files,
constraints) and to data/ goes through :func:`write_bytes_atomic`: the new
content lands in a temporary file in the same directory, is flushed to disk
and renamed over the target, keeping the target's permission bits.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from attnlock.errors import InputError


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, preserving its mode.

    Raises :class:`InputError` naming the file when it cannot be written
    (read-only file or directory, missing directory); the original is then
    untouched.
    """
    # A symlinked file (a dotfiles repo's pyproject.toml) is written where the link points,
    # and the link stays a link.
    target = Path(os.path.realpath(path))
    directory = target.parent
    mode: int | None = None
    try:
        st = target.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InputError(f"cannot stat: {exc.strerror}", path=str(target)) from exc
    else:
        mode = stat.S_IMODE(st.st_mode)
        # The mode bits say what the owner meant even when we could write anyway (root).
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
            raise InputError(
                "file is read-only; nothing was written",
                path=str(target),
                hint=f"make it writable (chmod u+w {target}) or write elsewhere with -o",
            )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".attnlock-tmp", dir=directory)
    except OSError as exc:
        raise InputError(
            f"cannot write in {directory}: {exc.strerror}; nothing was written",
            path=str(target),
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            # A new file gets what open() would give it (0666 less the umask), not mkstemp's 0600.
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InputError(f"cannot write: {exc.strerror}; nothing was written", path=str(target)) from exc


def _umask() -> int:
    """The process umask, read without changing it where the system tells (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)  # elsewhere: the only portable way, set and restored at once
    os.umask(current)
    return current


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 without newline translation (bytes stay as given)."""
    write_bytes_atomic(path, text.encode("utf-8"))
