"""What the readers produce: requirements and indexes found in a file, each with its position.

A :class:`Document` is one file read; an :class:`Entry` is one requirement in
it with the exact text span it came from (for ``--fix``); an
:class:`IndexDecl` is an index or find-links location it names.  Readers never
judge compatibility: problems with the input itself come back as
:class:`attnlock.check.findings.Finding` objects in ``Document.findings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

from attnlock.check.findings import Finding
from attnlock.check.source import Source


@dataclass(frozen=True)
class Span:
    """Character offsets ``[start, end)`` of a text in its file's decoded text."""

    start: int
    end: int


@dataclass
class Entry:
    """One requirement as written in a file.

    ``kind`` says how an installer treats it: ``requirement`` (installed),
    ``constraint`` (limits versions only: pip ``-c`` files, uv
    ``constraint-dependencies``), ``override`` (uv ``override-dependencies``)
    or ``locked`` (an exact entry of ``uv.lock`` / ``pylock.toml``).
    ``group`` names an optional part (``extra:gpu``, ``group:dev``) or ``""``
    for what is always installed.  ``span`` covers the requirement text (not
    options, comments or line continuations); None when it cannot be edited
    in place.  ``quote`` is the TOML string delimiter of the value (``"`` or
    ``'``), empty for requirements files.
    """

    path: str
    line: int
    column: int
    text: str
    requirement: Requirement | None
    kind: str = "requirement"
    group: str = ""
    span: Span | None = None
    quote: str = ""
    hashes: tuple[str, ...] = ()
    editable: bool = False
    url_version: Version | None = None
    index: str | None = None  # the index a lock file says the package came from
    extra_marker: Marker | None = None  # markers a lock adds (uv resolution-markers)

    @cached_property
    def name(self) -> str | None:
        from attnlock.model import canonical

        return canonical(self.requirement.name) if self.requirement is not None else None

    @cached_property
    def exact_version(self) -> Version | None:
        """The version this entry fixes (``==X``, ``===X``, a wheel URL's version), else None."""
        if self.url_version is not None:
            return self.url_version
        req = self.requirement
        if req is None:
            return None
        specs = list(req.specifier)
        for spec in specs:
            if spec.operator in ("==", "===") and "*" not in spec.version:
                try:
                    return Version(spec.version)
                except ValueError:
                    return None
        return None


@dataclass(frozen=True)
class IndexDecl:
    """An index or find-links location a file names.

    ``option`` is the spelling used (``--index-url``, ``--extra-index-url``,
    ``--find-links``, ``tool.uv.index``).  ``packages`` lists the packages an
    explicit uv index is pinned to through ``[tool.uv.sources]``; ``explicit``
    is uv's ``explicit = true`` (serves only packages that name it).
    """

    path: str
    line: int
    column: int
    option: str
    url: str
    name: str | None = None
    explicit: bool = False
    default: bool = False
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Include:
    """A ``-r``/``-c`` line: the file it names (resolved), whether it holds constraints, and where."""

    path: str
    constraint: bool
    line: int
    column: int


@dataclass
class Document:
    """Everything read from one file (and, for requirements files, the files it includes)."""

    path: str
    kind: str  # requirements | constraints | pyproject | uv.lock | pylock
    source: Source | None
    entries: list[Entry] = field(default_factory=list)
    indexes: list[IndexDecl] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    requires_python: str | None = None
    includes: list[Include] = field(default_factory=list)
