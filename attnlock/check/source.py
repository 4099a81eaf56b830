"""Reading one input file safely: size cap, binary and encoding detection, offset → line:column.

Every reader of ``attnlock check`` starts here, so bad input (a directory, an
unreadable, huge or binary file, an unknown encoding) becomes an
:class:`attnlock.errors.InputError` naming the file and line, never a
traceback.  The decoded text keeps its line endings exactly, so ``--fix`` can
rewrite one span and leave every other byte as it was.
"""

from __future__ import annotations

import bisect
import codecs
import os
import re
from dataclasses import dataclass, field

from attnlock.errors import InputError

#: Largest file ``attnlock check`` reads.  Real requirements files are a few
#: KiB and a large uv.lock a few hundred; anything bigger is not a
#: hand-maintained dependency file.
MAX_BYTES = 8 * 1024 * 1024

# PEP 263 style declaration, which pip honours in requirements files.
_CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class Source:
    """The decoded text of one file and what is needed to write it back byte for byte."""

    path: str
    text: str
    encoding: str = "utf-8"
    bom: bytes = b""
    writable: bool = True  # False for standard input and /dev/fd/N: nothing to write back to
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        text = self.text
        for m in re.finditer(r"\r\n|\r|\n", text):
            starts.append(m.end())
        self._starts = starts

    @property
    def fixable(self) -> bool:
        """Only UTF-8 files are rewritten by ``--fix`` (re-encoding is then exact); never stdin or a pipe."""
        return self.writable and self.encoding == "utf-8"

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line ending."""
        if line < 1 or line > len(self._starts):
            return ""
        start = self._starts[line - 1]
        end = self._starts[line] if line < len(self._starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def encode(self, text: str) -> bytes:
        """The bytes to write for ``text`` (same BOM and encoding as read)."""
        return self.bom + text.encode(self.encoding)


def _first_bad_byte(data: bytes, exc: UnicodeDecodeError) -> tuple[int, int]:
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    col = exc.start - (before.rfind(b"\n") + 1) + 1
    return line, col


def decode(path: str, data: bytes) -> Source:
    """Decode ``data`` read from ``path``; raise :class:`InputError` naming file and line."""
    if len(data) > MAX_BYTES:
        raise InputError(
            f"file is {len(data):,} bytes; attnlock check reads at most {MAX_BYTES:,}",
            path=path,
            line=1,
            hint="a dependency file this large is not one a person maintains; check the file name",
        )
    bom = b""
    encoding: str | None = None
    for mark, name in _BOMS:
        if data.startswith(mark):
            bom, encoding = mark, name
            break
    body = data[len(bom):]
    if encoding is None:
        if b"\x00" in body[:8192]:
            line = body[: body.index(b"\x00")].count(b"\n") + 1
            raise InputError(
                "binary file (NUL byte); not a requirements, pyproject or lock file",
                path=path,
                line=line,
                hint="pass only text dependency files to attnlock check",
            )
        for number, raw in enumerate(body.splitlines()[:2], start=1):
            m = _CODING_RE.match(raw)
            if m:
                name = m.group(1).decode("ascii", "replace")
                try:
                    encoding = codecs.lookup(name).name
                except LookupError:
                    raise InputError(
                        f"unknown encoding {name!r} declared",
                        path=path,
                        line=number,
                        hint="save the file as UTF-8 and remove the coding line",
                    ) from None
                break
    if encoding is None:
        encoding = "utf-8"
    if encoding in ("utf-8", "utf_8", "utf8"):
        encoding = "utf-8"
        # The BOM was stripped above; decode the rest.
        codec = "utf-8"
    else:
        codec = encoding
        if bom:
            body = data  # utf-16/32 codecs consume their own BOM
            bom = b""
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line, col = _first_bad_byte(body, exc)
        raise InputError(
            f"not valid {encoding} text (byte 0x{body[exc.start]:02x})",
            path=path,
            line=line,
            column=col,
            hint="save the file as UTF-8",
        ) from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", path=path, line=1) from None
    return Source(path=path, text=text, encoding=encoding, bom=bom)


#: The name standard input goes by in findings (``attnlock check -``).
STDIN = "<stdin>"

#: Paths naming an already-open descriptor (``/dev/fd/3`` from a shell's ``<(...)``, ``/dev/stdin``):
#: the pipe behind them has a writer, so reading it ends; other pipes and devices are refused.
_OPEN_DESCRIPTOR = re.compile(r"^/(?:dev/fd|proc/self/fd)/\d+$|^/dev/stdin$")


def read_stdin() -> Source:
    """Read and decode standard input (named :data:`STDIN`), with the same size cap and checks as a file."""
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("standard input is closed", path=STDIN, line=1,
                         hint="pipe a requirements file in: attnlock check - < requirements.txt")
    try:
        data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=STDIN, line=1) from None
    source = decode(STDIN, data)
    source.writable = False
    return source


def read_source(path: str) -> Source:
    """Read and decode the file at ``path`` with the size cap applied before reading it all.

    :data:`STDIN` reads standard input; ``/dev/fd/N`` (process substitution) reads that descriptor.
    """
    if path == STDIN:
        return read_stdin()
    if _OPEN_DESCRIPTOR.match(path):
        return _read_descriptor(path)
    try:
        # stat first: opening a FIFO or a device would block or read forever.
        if not _is_regular(os.stat(path).st_mode):
            raise InputError("not a regular file", path=path, line=1,
                             hint="pass requirements, pyproject or lock files, not devices or pipes")
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not _is_regular(st.st_mode):
                raise InputError("not a regular file", path=path, line=1)
            if st.st_size > MAX_BYTES:
                raise InputError(
                    f"file is {st.st_size:,} bytes; attnlock check reads at most {MAX_BYTES:,}",
                    path=path,
                    line=1,
                    hint="a dependency file this large is not one a person maintains; check the file name",
                )
            data = fh.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path=path, line=1) from None
    except FileNotFoundError:
        raise InputError("file not found", path=path, line=1) from None
    except PermissionError:
        raise InputError(
            "permission denied", path=path, line=1, hint=f"make it readable (chmod u+r {path})"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path, line=1) from None
    return decode(path, data)


def _read_descriptor(path: str) -> Source:
    """Read ``/dev/fd/N``: a pipe or a regular file already opened by the caller's shell."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError("no such open file descriptor", path=path, line=1) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path, line=1) from None
    source = decode(path, data)
    source.writable = False
    return source


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
