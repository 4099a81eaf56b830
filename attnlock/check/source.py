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

from attnlock.atomic import FileIdentity, read_regular
from attnlock.errors import InputError

#: Largest file ``attnlock check`` reads.  Real requirements files are a few
#: KiB and a large uv.lock a few hundred; anything bigger is not a
#: hand-maintained dependency file.
MAX_BYTES = 8 * 1024 * 1024

#: Line breaks, by the tool that reads the file.  pip splits a requirements file with
#: ``str.splitlines()``: LF, CR, CRLF and also VT, FF, FS, GS, RS, NEL (U+0085), U+2028 and
#: U+2029 end a line.  uv's requirements parser ends lines only at LF, CRLF and CR; attnlock
#: reads requirements files as pip does (the superset), so a requirement one installer sees is
#: never hidden from the check.  TOML (tomllib, uv) knows only LF and CRLF; a lone CR is
#: invalid TOML anyway, so TOML files keep the CR/LF splitting.
PIP_LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_BREAKS = {
    "pip": re.compile("\r\n|[" + PIP_LINE_BREAKS + "]"),
    "toml": re.compile(r"\r\n|\r|\n"),
}

#: Longest run of digits a version may hold; longer ones exceed Python's int conversion
#: limit (4300 digits) or make comparisons slow, and no real version has one.
MAX_DIGITS = 100
_LONG_NUMBER = re.compile(r"\d{%d}" % (MAX_DIGITS + 1))


def long_number(text: str) -> bool:
    """Whether ``text`` holds a run of more than :data:`MAX_DIGITS` digits (no version does)."""
    return _LONG_NUMBER.search(text) is not None


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
    lines: str = "toml"  # which line breaks end a line: "pip" (str.splitlines) or "toml" (CR, LF, CRLF)
    identity: FileIdentity | None = None  # the file as read, so --fix can see a change before it writes
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.split_lines(self.lines)

    def split_lines(self, lines: str) -> None:
        """Recompute line starts for the line breaks of ``lines`` ("pip" or "toml")."""
        self.lines = lines
        starts = [0]
        starts.extend(m.end() for m in _BREAKS[lines].finditer(self.text))
        self._starts = starts

    @property
    def line_breaks(self) -> str:
        """The characters that may end a line of this file."""
        return PIP_LINE_BREAKS if self.lines == "pip" else "\r\n"

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
        return self.text[start:end].rstrip(self.line_breaks)

    def encode(self, text: str) -> bytes:
        """The bytes to write for ``text`` (same BOM and encoding as read)."""
        return self.bom + text.encode(self.encoding)


def _first_bad_byte(data: bytes, exc: UnicodeDecodeError) -> tuple[int, int]:
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    col = exc.start - (before.rfind(b"\n") + 1) + 1
    return line, col


def decode(path: str, data: bytes, *, lines: str = "toml") -> Source:
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
                    info = codecs.lookup(name)
                    if not getattr(info, "_is_text_encoding", True):
                        raise LookupError(name)
                    encoding = info.name
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
    except (UnicodeError, ValueError, TypeError) as exc:  # a codec such as punycode failing its own way
        raise InputError(f"cannot decode as {encoding}: {type(exc).__name__}", path=path, line=1,
                         hint="save the file as UTF-8 and remove the coding line") from None
    return Source(path=path, text=text, encoding=encoding, bom=bom, lines=lines)


#: The name standard input goes by in findings (``attnlock check -``).
STDIN = "<stdin>"

#: Paths naming an already-open descriptor (``/dev/fd/3`` from a shell's ``<(...)``, ``/dev/stdin``):
#: the pipe behind them has a writer, so reading it ends; other pipes and devices are refused.
_OPEN_DESCRIPTOR = re.compile(r"^/(?:dev/fd|proc/self/fd)/\d+$|^/dev/stdin$")


def read_stdin(*, lines: str = "toml") -> Source:
    """Read and decode standard input (named :data:`STDIN`), with the same size cap and checks as a file.

    ``lines`` names the line breaks (see :data:`PIP_LINE_BREAKS`).
    """
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("standard input is closed", path=STDIN, line=1,
                         hint="pipe a requirements file in: attnlock check - < requirements.txt")
    try:
        data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=STDIN, line=1) from None
    source = decode(STDIN, data, lines=lines)
    source.writable = False
    return source


def read_source(path: str, *, descriptors: bool = True, lines: str = "toml") -> Source:
    """Read and decode the file at ``path`` with the size cap applied before reading it all.

    :data:`STDIN` reads standard input; ``/dev/fd/N`` (process substitution) reads that descriptor
    when ``descriptors`` (a path named on the command line; never a path named inside a file,
    where ``-r /dev/stdin`` would wait forever).  FIFOs and devices are refused without blocking.
    """
    if descriptors and path == STDIN:
        return read_stdin(lines=lines)
    if descriptors and _OPEN_DESCRIPTOR.match(path):
        return _read_descriptor(path, lines=lines)
    try:
        data, ident = read_regular(path, limit=MAX_BYTES)
    except FileNotFoundError:
        import errno

        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError("symbolic link loop", path=path, line=1,
                                 hint="the link points (eventually) back to itself; fix or remove it") from None
        raise InputError("file not found", path=path, line=1) from None
    except InputError as exc:
        if "bytes; attnlock reads at most" in exc.message:
            raise InputError(exc.message.replace("attnlock reads", "attnlock check reads"), path=path, line=1,
                             hint="a dependency file this large is not one a person maintains; "
                                  "check the file name") from None
        raise InputError(exc.message, path=path, line=1, hint=exc.hint) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path, line=1) from None
    source = decode(path, data, lines=lines)
    source.identity = ident
    return source


def _read_descriptor(path: str, *, lines: str = "toml") -> Source:
    """Read ``/dev/fd/N``: a pipe or a regular file already opened by the caller's shell."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError("no such open file descriptor", path=path, line=1) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path, line=1) from None
    source = decode(path, data, lines=lines)
    source.writable = False
    return source

