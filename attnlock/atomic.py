"""Atomic writes: a file attnlock changes is either the old bytes or the new bytes.

Every write to a file the user owns (pyproject.toml, requirements files,
constraints) and to data/ goes through :func:`write_bytes_atomic` (one file) or
:func:`write_many_atomic` (several files, all or nothing): the new content lands
in a temporary file in the same directory, is flushed to disk and renamed over
the target, keeping the target's permission bits and owner.

What is not a regular file is never renamed over: a character device or a
FIFO (``-o /dev/null``, ``-o /dev/stdout``, a named pipe with a reader) is
written through; a directory, socket or block device is refused.  A file with
several hard links is refused (a rename would split them), and so is one owned
by another user that attnlock cannot give back to that user.  With ``expect``
(the identity of the file when it was read) a file changed by someone else in
the meantime is refused instead of overwritten.

:func:`read_regular_bytes` is the reading counterpart: a bounded read that
refuses FIFOs and devices instead of blocking or reading forever.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attnlock.errors import InputError

#: A temporary file of ours older than this is debris of a killed run, removed by the next write.
STALE_TMP_SECONDS = 15 * 60
_TMP_SUFFIX = ".attnlock-tmp"


@dataclass(frozen=True)
class FileIdentity:
    """What a file was when it was read: a later change of any field means someone else wrote it."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def identity(path: str | os.PathLike[str]) -> FileIdentity | None:
    """The :class:`FileIdentity` of ``path`` now (None when it cannot be stat'ed)."""
    try:
        return FileIdentity.of(os.stat(path))
    except OSError:
        return None


def read_regular_bytes(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (see :func:`read_regular`)."""
    return read_regular(path, limit=limit)[0]


def read_regular(path: str | os.PathLike[str], *, limit: int) -> tuple[bytes, FileIdentity]:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    A FIFO, device, socket or directory raises :class:`InputError` without blocking (the file
    is opened non-blocking and checked with fstat before anything is read); so does a file over
    ``limit`` bytes.  :class:`FileNotFoundError` passes through for callers to whom absence is
    normal.  The identity is the file's when it was opened (for ``write_bytes_atomic(expect=...)``).
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path=name) from None
    except PermissionError:
        raise InputError("permission denied", path=name, hint=f"make it readable (chmod u+r {name})") from None
    except OSError as exc:
        raise InputError(f"cannot read: {_why(exc)}", path=name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"not a regular file ({_kind(st.st_mode)}); attnlock reads only regular files",
                             path=name, hint="pass a regular file, not a device, pipe or directory")
        if st.st_size > limit:
            raise InputError(f"file is {st.st_size:,} bytes; attnlock reads at most {limit:,}", path=name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        got = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got > limit:
                raise InputError(f"file grew past {limit:,} bytes while it was read", path=name)
        return b"".join(chunks), FileIdentity.of(st)
    except OSError as exc:
        raise InputError(f"cannot read: {_why(exc)}", path=name) from None
    finally:
        os.close(fd)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


class _Staged:
    """One prepared write: checked, its new bytes in a temporary file next to the target (or a device)."""

    def __init__(self, path: str | os.PathLike[str], data: bytes, expect: FileIdentity | None) -> None:
        self.name = str(path)
        self.data = data
        self.expect = expect
        self.tmp: str | None = None
        self.through = False  # a device or FIFO: written through at commit time
        self.old: bytes | None = None  # previous bytes (for write_many's roll back); None: a new file
        try:
            st_follow: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            st_follow = None
        except OSError as exc:
            raise InputError(f"cannot stat: {_why(exc)}", path=self.name) from exc
        if st_follow is not None and not stat.S_ISREG(st_follow.st_mode):
            if stat.S_ISCHR(st_follow.st_mode) or stat.S_ISFIFO(st_follow.st_mode):
                self.through = True
                self.target = Path(self.name)
                return
            raise InputError(f"is {_kind(st_follow.st_mode)}, not a regular file; nothing was written",
                             path=self.name, hint="name a regular file to write")
        # A symlinked file (a dotfiles repo's pyproject.toml) is written where the link points,
        # and the link stays a link.
        self.target = Path(os.path.realpath(path))
        target = self.target
        self.mode: int | None = None
        self.owner: tuple[int, int] | None = None
        if st_follow is not None:
            st = st_follow
            self.mode = stat.S_IMODE(st.st_mode)
            # The mode bits say what the owner meant even when we could write anyway (root).
            if not self.mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
                raise InputError("file is read-only; nothing was written", path=str(target),
                                 hint=f"make it writable (chmod u+w {target})")
            if st.st_nlink > 1:
                raise InputError(
                    f"file has {st.st_nlink} hard links; replacing it would split them, so nothing was written",
                    path=str(target),
                    hint="edit it in place by hand, or break the link first (cp FILE FILE.new && mv FILE.new FILE)",
                )
            self.owner = (st.st_uid, st.st_gid)
            if expect is not None and FileIdentity.of(st) != expect:
                raise _changed(target)
        _clean_stale(target)
        try:
            import tempfile  # only when writing: the read paths (check) do without it

            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TMP_SUFFIX, dir=target.parent)
        except OSError as exc:
            raise InputError(f"cannot write in {target.parent}: {_why(exc)}; nothing was written",
                             path=str(target)) from exc
        self.tmp = tmp
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if self.mode is None:
                # A new file gets what open() would give it (0666 less the umask), not mkstemp's 0600.
                self.mode = 0o666 & ~_umask()
            os.chmod(tmp, self.mode)
            if self.owner is not None:
                tst = os.stat(tmp)
                if (tst.st_uid, tst.st_gid) != self.owner:
                    try:
                        os.chown(tmp, *self.owner)
                    except OSError:
                        self.abort()
                        raise InputError(
                            "file belongs to another user or group; replacing it would change its owner, "
                            "so nothing was written", path=str(target),
                            hint="run attnlock as the file's owner") from None
                    os.chmod(tmp, self.mode)  # chown clears set-id bits
        except OSError as exc:
            self.abort()
            raise InputError(f"cannot write: {_why(exc)}; nothing was written", path=str(target)) from exc

    def keep_old(self) -> None:
        """Remember the target's current bytes so that :meth:`restore` can put them back."""
        if self.through or self.owner is None:
            return
        try:
            self.old = self.target.read_bytes()
        except OSError as exc:
            self.abort()
            raise InputError(f"cannot read: {_why(exc)}; nothing was written", path=str(self.target)) from exc

    def commit(self) -> None:
        if self.through:
            _write_through(self.name, self.data)
            return
        assert self.tmp is not None
        if self.expect is not None and identity(self.target) != self.expect:
            self.abort()
            raise _changed(self.target)
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.abort()
            raise InputError(f"cannot write: {_why(exc)}; nothing was written", path=str(self.target)) from exc
        self.tmp = None

    def abort(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None

    def restore(self) -> None:
        """Undo a commit (best effort): the old bytes back, or the new file removed."""
        if self.through:
            return
        try:
            if self.old is None and self.owner is None:
                os.unlink(self.target)
            elif self.old is not None:
                _Staged(self.target, self.old, None).commit()
        except (OSError, InputError):
            pass


def _changed(target: Path) -> InputError:
    return InputError("file changed while attnlock was working on it; nothing was written",
                      path=str(target), hint="rerun the command once nothing else is editing the file")


def _write_through(name: str, data: bytes) -> None:
    """Write ``data`` into a device or FIFO (never replacing it); a FIFO without a reader is refused."""
    try:
        fd = os.open(name, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InputError("is a FIFO with no reader; nothing was written", path=name,
                             hint="start the reader first, or write to a regular file") from None
        raise InputError(f"cannot write: {_why(exc)}; nothing was written", path=name) from None
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as exc:
        raise InputError(f"cannot write: {_why(exc)}", path=name) from None
    finally:
        os.close(fd)


def _clean_stale(target: Path) -> None:
    """Remove temporary files of ours for ``target`` left by a killed run (old enough to be no one's)."""
    prefix = f".{target.name}."
    now = time.time()
    try:
        with os.scandir(target.parent) as it:
            for entry in it:
                if entry.name.startswith(prefix) and entry.name.endswith(_TMP_SUFFIX):
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TMP_SECONDS:
                            os.unlink(entry.path)
                    except OSError:
                        pass
    except OSError:
        pass


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, expect: FileIdentity | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, preserving its mode and owner.

    Raises :class:`InputError` naming the file when it cannot be written (read-only file or
    directory, missing directory, hard links, another owner, a change since ``expect``); the
    original is then untouched.  A device or FIFO is written through, never replaced; ``-`` is
    standard output (``-o -``), never a file named ``-``.
    """
    if os.fspath(path) == "-":
        import sys

        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except (OSError, AttributeError, ValueError) as exc:
            raise InputError(f"cannot write to standard output: {exc}", path="-") from None
        return
    _Staged(path, data, expect).commit()


def write_many_atomic(items: Sequence[tuple[str | os.PathLike[str], bytes]]) -> None:
    """Write several files all or nothing: every one is staged (and checked) before any is replaced.

    A failure while staging leaves every file untouched; a failure while replacing puts back
    the files already replaced (their old bytes, or removes the new ones).
    """
    staged: list[_Staged] = []
    try:
        for path, data in items:
            s = _Staged(path, data, None)
            staged.append(s)
            s.keep_old()
    except BaseException:
        for s in staged:
            s.abort()
        raise
    done: list[_Staged] = []
    try:
        for s in staged:
            s.commit()
            done.append(s)
    except BaseException:
        for s in staged:
            s.abort()
        for s in reversed(done):
            s.restore()
        raise


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


def write_text_atomic(path: str | os.PathLike[str], text: str, *, expect: FileIdentity | None = None) -> None:
    """Write ``text`` as UTF-8 without newline translation (bytes stay as given)."""
    write_bytes_atomic(path, text.encode("utf-8"), expect=expect)
