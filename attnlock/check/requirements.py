"""Reader of pip requirements and constraints files, keeping each requirement's position and text span.

Follows pip's own file format (``pip/_internal/req/req_file.py``): physical
lines ending in ``\\`` are joined, ``#`` starts a comment at the start of a
line or after whitespace, a line starting with ``-`` is an option line, and
a requirement line is the requirement up to the first token that starts with
``-`` (per-requirement options such as ``--hash`` follow it).  ``-r``/``-c``
includes are resolved relative to the including file; a cycle is reported at
the include that closes it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from attnlock.check.document import Document, Entry, Include, IndexDecl, Span
from attnlock.check.findings import Finding
from attnlock.check.source import PIP_LINE_BREAKS, STDIN, Source, long_number, read_source
from attnlock.errors import InputError

# Physical lines end where pip's str.splitlines() ends them (see attnlock.check.source.PIP_LINE_BREAKS).
_PHYSICAL_RE = re.compile("[^" + PIP_LINE_BREAKS + "]*(?:\r\n|[" + PIP_LINE_BREAKS + "])?")
# pip's COMMENT_RE is (^|\s+)#, which backtracks quadratically on a long run of blanks; these two
# say the same in linear time: a comment line starts with optional blanks and "#", and a comment
# starts at a "#" that begins the line or follows a blank.
_COMMENT_LINE_RE = re.compile(r"\s*#")
_COMMENT_RE = re.compile(r"(?:^|(?<=\s))#")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")

# Options pip accepts on their own line of a requirements file
# (pip/_internal/req/req_file.py SUPPORTED_OPTIONS), long and short spellings.
_LINE_OPTIONS = {
    "-i": "--index-url", "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "--no-index": "--no-index",
    "-c": "--constraint", "--constraint": "--constraint",
    "-r": "--requirement", "--requirement": "--requirement",
    "-e": "--editable", "--editable": "--editable",
    "-f": "--find-links", "--find-links": "--find-links",
    "--no-binary": "--no-binary", "--only-binary": "--only-binary",
    "--prefer-binary": "--prefer-binary", "--require-hashes": "--require-hashes",
    "--pre": "--pre", "--trusted-host": "--trusted-host", "--use-feature": "--use-feature",
}
_TAKES_VALUE = {
    "--index-url", "--extra-index-url", "--constraint", "--requirement", "--editable", "--find-links",
    "--no-binary", "--only-binary", "--trusted-host", "--use-feature",
}
# Options pip accepts after a requirement on the same line.
_REQUIREMENT_OPTIONS = ("--hash", "--global-option", "--config-settings", "--install-option")


@dataclass(frozen=True)
class _Segment:
    logical: int  # offset in the logical line
    physical: int  # offset in the file text
    length: int


class _LogicalLine:
    """A logical line (continuations joined) that maps its offsets back to the file."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.parts: list[str] = []
        self.segments: list[_Segment] = []
        self.length = 0

    def add(self, piece: str, physical: int) -> None:
        self.segments.append(_Segment(self.length, physical, len(piece)))
        self.parts.append(piece)
        self.length += len(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def to_file(self, index: int) -> int:
        for seg in reversed(self.segments):
            if index >= seg.logical:
                return seg.physical + (index - seg.logical)
        return self.segments[0].physical if self.segments else 0

    def span(self, start: int, end: int) -> Span | None:
        """File span of logical ``[start, end)`` when it lies within one physical line."""
        for seg in self.segments:
            if seg.logical <= start and end <= seg.logical + seg.length:
                return Span(seg.physical + start - seg.logical, seg.physical + end - seg.logical)
        return None


def _logical_lines(text: str) -> Iterator[_LogicalLine]:
    current: _LogicalLine | None = None
    number = 0
    for m in _PHYSICAL_RE.finditer(text):
        raw = m.group(0)
        if not raw:
            break
        number += 1
        body = raw.rstrip(PIP_LINE_BREAKS)
        is_comment = bool(_COMMENT_LINE_RE.match(body))
        if body.endswith("\\") and not is_comment:
            if current is None:
                current = _LogicalLine(number)
            current.add(body[:-1], m.start())
            continue
        if current is not None:
            current.add(body, m.start())
            yield current
            current = None
        else:
            line = _LogicalLine(number)
            line.add(body, m.start())
            yield line
    if current is not None:
        yield current


def _real_dir(path: str) -> str:
    return os.path.normcase(os.path.realpath(path or "."))


def _inside(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` (links resolved) lies in one of the directories ``roots``."""
    real = os.path.normcase(os.path.realpath(path))
    for root in roots:
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


#: What a finding says instead of a line's content when the file lies outside the checked tree.
HIDDEN = "content not shown: the file is outside the checked tree"


def is_constraints_name(path: str) -> bool:
    """Whether a top-level file is a constraints file by its name (``constraints*.txt``)."""
    return "constraint" in os.path.basename(path).lower()


def _wheel_version(url: str) -> tuple[str, Version] | None:
    tail = url.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    from urllib.parse import unquote

    tail = unquote(tail)
    if not tail.endswith(".whl"):
        return None
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename  # only for a direct wheel URL

    try:
        name, version, _build, _tags = parse_wheel_filename(tail)
    except (InvalidWheelFilename, ValueError):
        return None
    return str(name), version


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid requirement"


class RequirementsReader:
    """Reads a requirements file and its includes; one instance per top-level check run.

    ``cache`` maps normalised paths to documents already read, so a file
    included twice (not in a cycle) is read once.

    The *checked tree* is the current directory and the directory of each file named on the
    command line.  A file reached through ``-r``/``-c`` outside it (``-r ../../.netrc``) is
    read, but no finding quotes its content: messages name file and line only, so a CI log of
    an untrusted pull request cannot publish a secret.
    """

    def __init__(self, roots: Sequence[str] | None = None) -> None:
        self.cache: dict[str, Document] = {}
        self._echo = True  # whether findings may quote the lines of the file being parsed
        self.roots = [_real_dir(r) for r in (roots if roots is not None else [os.getcwd()])]

    def read(self, path: str, *, constraint: bool | None = None) -> list[Document]:
        """The document for ``path`` followed by every document it includes, depth first."""
        if constraint is None:
            constraint = is_constraints_name(path)
        out: list[Document] = []
        roots = list(self.roots)
        if path != STDIN:
            roots.append(_real_dir(os.path.dirname(os.path.abspath(path))))
        seen: set[str] = set()
        # Depth first without recursion: a 1,000-deep include chain is a chain, not a RecursionError.
        # Each work item: (path, constraint, chain of real paths above it, top level?).
        work: list[tuple[str, bool, tuple[str, ...], bool]] = [(path, constraint, (), True)]
        while work:
            cur, con, chain, top = work.pop()
            key = os.path.normcase(os.path.realpath(cur)) + ("#c" if con else "#r")
            if key in seen:
                continue
            seen.add(key)
            doc = self.cache.get(key)
            if doc is None:
                doc = self._parse(cur, con, top=top, echo=top or _inside(cur, roots))
                self.cache[key] = doc
            out.append(doc)
            real = os.path.normcase(os.path.realpath(cur))
            above = set(chain) | {real}
            pending: list[tuple[str, bool, tuple[str, ...], bool]] = []
            for inc in doc.includes:
                inc_real = os.path.normcase(os.path.realpath(inc.path))
                if inc_real in above:
                    names = [os.path.basename(s) for s in (*chain, real)][-20:]
                    more = "... -> " if len(chain) + 1 > 20 else ""
                    out.append(Document(path=cur, kind=doc.kind, source=None, findings=[Finding(
                        "AL003", cur, inc.line, inc.column,
                        f"circular include: {more}{' -> '.join(names)} -> {os.path.basename(inc.path)}",
                        fix="remove this include; each file should be included once, from one place")]))
                    continue
                pending.append((inc.path, inc.constraint, (*chain, real), False))
            work.extend(reversed(pending))
        return out

    def _parse(self, path: str, constraint: bool, *, top: bool = True, echo: bool = True) -> Document:
        kind = "constraints" if constraint else "requirements"
        try:
            source = read_source(path, descriptors=top, lines="pip")
        except InputError as exc:
            return Document(path=path, kind=kind, source=None, findings=[
                Finding("AL001", path, exc.line or 1, exc.column or 1, exc.message, fix=exc.hint)])
        doc = Document(path=path, kind=kind, source=source)
        self._echo = echo
        for logical in _logical_lines(source.text):
            self._parse_line(doc, source, logical, constraint)
        return doc

    def _parse_line(self, doc: Document, source: Source, logical: _LogicalLine, constraint: bool) -> None:
        text = logical.text
        m = _COMMENT_RE.search(text)
        if m:
            text = text[: m.start()]
        stripped = text.strip()
        if not stripped:
            return
        lead = len(text) - len(text.lstrip())
        line, col = source.position(logical.to_file(lead))
        path = doc.path
        if stripped.startswith("-"):
            self._parse_option(doc, stripped, line, col, constraint)
            return
        # The requirement is everything before the first token that starts with "-".
        tokens = stripped.split(" ")
        req_tokens: list[str] = []
        for tok in tokens:
            if tok.startswith("-"):
                break
            req_tokens.append(tok)
        req_text = " ".join(req_tokens).strip()
        options = tokens[len(req_tokens):]
        hashes: list[str] = []
        i = 0
        while i < len(options):
            opt = options[i]
            name, eq, value = opt.partition("=")
            if name in _REQUIREMENT_OPTIONS:
                if not eq and i + 1 < len(options):
                    i += 1
                    value = options[i]
                if name == "--hash":
                    hashes.append(value)
            elif opt:
                doc.findings.append(Finding(
                    "AL006", path, line, col,
                    f"unknown option {name!r} after a requirement" if self._echo
                    else f"unknown option after a requirement ({HIDDEN})",
                    fix=(req_text or None) if self._echo else None))
            i += 1
        span = logical.span(lead, lead + len(req_text))
        entry_kind = "constraint" if constraint else "requirement"
        if long_number(req_text):
            doc.findings.append(Finding("AL002", path, line, col, "a number of more than 100 digits in a requirement; "
                                        "no version has one (and Python refuses to convert it)",
                                        fix="write NAME[==VERSION][; MARKER] with a real version"))
            return
        requirement, url_version, error = _parse_requirement(req_text)
        if constraint and error is None and _is_unnamed(req_text):
            doc.findings.append(Finding(
                "AL403", path, line, col, "unnamed URL or path in a constraints file: pip and uv reject it",
                packages=(str(requirement.name),) if requirement is not None else (),
                fix=f"{requirement.name} @ {req_text}" if requirement is not None and self._echo else "NAME @ URL"))
            return
        if requirement is None and error is not None:
            doc.findings.append(Finding("AL002", path, line, col,
                                        f"cannot parse requirement {req_text!r}: {error}" if self._echo
                                        else f"cannot parse this line as a requirement ({HIDDEN})",
                                        fix="write NAME[==VERSION][; MARKER] or NAME @ URL"))
            return
        entry = Entry(path=path, line=line, column=col, text=req_text, requirement=requirement, kind=entry_kind,
                      span=span if source.fixable else None, hashes=tuple(hashes), url_version=url_version)
        doc.entries.append(entry)
        if constraint and hashes:
            doc.findings.append(Finding(
                "AL402", path, line, col, "--hash in a constraints file: pip 23.x/24.0 switch to require-hashes "
                "mode and every install using the file fails",
                packages=(entry.name,) if entry.name else (), fix=req_text if self._echo else None))

    def _parse_option(self, doc: Document, stripped: str, line: int, col: int, constraint: bool) -> None:
        path = doc.path
        head, sep, rest = stripped.partition("=") if stripped.startswith("--") else ("", "", "")
        if sep and " " not in head:
            opt, value = head, rest.strip()
        else:
            parts = stripped.split(None, 1)
            opt, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if opt not in _LINE_OPTIONS and len(opt) > 2 and opt[:2] in _LINE_OPTIONS and not opt.startswith("--"):
                opt, value = opt[:2], opt[2:] + ((" " + value) if value else "")
        canonical = _LINE_OPTIONS.get(opt)
        if canonical is None:
            shown = repr(opt) if self._echo else f"({HIDDEN})"
            doc.findings.append(Finding("AL006", path, line, col, f"unknown option {shown}; pip stops with "
                                        "'no such option'", fix="remove the line"))
            return
        if canonical in _TAKES_VALUE and not value:
            doc.findings.append(Finding("AL002", path, line, col, f"{canonical} needs a value",
                                        fix=f"{canonical} VALUE"))
            return
        if canonical in ("--requirement", "--constraint"):
            target = value.split()[0] if value else value
            if _URL_RE.match(target):
                if not target.startswith("file://"):
                    shown = f"include {target}" if self._echo else "an include"
                    doc.findings.append(Finding("AL005", path, line, col,
                                                f"{shown} is a URL; attnlock check did not read it",
                                                fix=f"vendor the file and write {opt} PATH"))
                    return
                from urllib.parse import unquote, urlparse

                target = unquote(urlparse(target).path)
            inc = os.path.normpath(os.path.join(os.path.dirname(path), target)) if not os.path.isabs(target) else target
            problem = _include_problem(inc)
            if problem is not None:
                if self._echo:
                    doc.findings.append(Finding("AL004", path, line, col, f"included file {target} {problem} "
                                                f"(looked for {inc})",
                                                fix=(f"create {os.path.relpath(inc)}, or correct or remove this {opt} line"
                                                     if problem == "not found" else
                                                     f"point {opt} at a regular file, or remove the line")))
                else:
                    doc.findings.append(Finding("AL004", path, line, col, f"included file {problem} ({HIDDEN})",
                                                fix="fix or remove the include"))
                return
            doc.includes.append(Include(inc, constraint or canonical == "--constraint", line, col))
            return
        if canonical in ("--index-url", "--extra-index-url", "--find-links"):
            doc.indexes.append(IndexDecl(path, line, col, canonical, value.split()[0]))
            if constraint and canonical == "--index-url":
                doc.findings.append(Finding(
                    "AL304", path, line, col, "--index-url inside a constraints file silently replaces the index "
                    "given on pip's command line (uv ignores it when the file is reached through -r)",
                    fix=f"remove the line and pass --index-url {value.split()[0] if self._echo else 'URL'} "
                        "on the command line"))
            return
        if canonical == "--editable":
            requirement, url_version, _ = _parse_requirement(_egg_name(value) or "")
            entry = Entry(path=path, line=line, column=col, text=value, requirement=requirement,
                          kind="constraint" if constraint else "requirement", editable=True, url_version=url_version)
            doc.entries.append(entry)
            if constraint:
                doc.findings.append(Finding("AL403", path, line, col, "editable (-e) line in a constraints file: "
                                            "pip and uv reject it", fix="remove the line"))
            return


def _include_problem(path: str) -> str | None:
    """Why an included path cannot be read as a file (None when it can be tried)."""
    import errno
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if isinstance(exc, FileNotFoundError):
            return "not found"
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        # -r /dev/stdin, a FIFO, a device: reading it would wait or never end
        return "is not a regular file (a device or pipe); attnlock check does not read it"
    return None


def _is_unnamed(text: str) -> bool:
    try:
        Requirement(text)
    except InvalidRequirement:
        return True
    return False


def _egg_name(value: str) -> str | None:
    m = re.search(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)", value)
    return m.group(1) if m else None


@functools.lru_cache(maxsize=4096)
def _parse_requirement(text: str) -> tuple[Requirement | None, Version | None, str | None]:
    """(requirement, version fixed by a wheel URL/path, error message); memoised, as monorepos repeat lines."""
    if not text:
        return None, None, "empty requirement"
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        url, _, marker = text.partition(" ;")
        url = url.strip()
        looks_like_file = _URL_RE.match(url) or url.startswith((".", "/", "~")) or \
            url.split("#")[0].lower().endswith(_ARCHIVE_SUFFIXES)
        if looks_like_file:
            wheel = _wheel_version(url)
            if wheel is not None:
                name, version = wheel
                try:
                    rebuilt = Requirement(f"{name}=={version}" + (f"; {marker.strip()}" if marker.strip() else ""))
                except InvalidRequirement as exc2:
                    return None, None, _first_line(str(exc2))
                return rebuilt, version, None
            egg = _egg_name(url)
            if egg:
                try:
                    return Requirement(egg), None, None
                except InvalidRequirement:
                    pass
            return None, None, None  # a valid unnamed requirement (path, sdist URL) pip accepts
        return None, None, _first_line(str(exc))
    url_version = None
    if req.url:
        wheel = _wheel_version(req.url)
        if wheel is not None:
            url_version = wheel[1]
    return req, url_version, None
