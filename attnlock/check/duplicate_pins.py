"""Duplicate and contradictory pins of one package in what one installer run reads.

``torch==2.3.1`` and ``torch==2.4.1`` in one requirements file (or in a file and one it
includes, or in ``[project] dependencies`` and an extra) make pip and uv fail with "no
solution" (ResolutionImpossible); the same pin written twice works, but ``--fix`` then edits
one line and leaves the other, now contradicting it.  A pin that conflicts with another
requirement of the same package (``torch==2.3.1`` with ``torch>=2.4``) is the same error.

Only requirements that apply together are compared: same marker (both unmarked, or the same
marker text), and in a pyproject the same extra or dependency group, or one of them in the
always-installed part.  Locked entries (uv.lock keeps one version per resolution fork),
overrides and editables are not compared.

Call :func:`duplicate_pin_findings` with the documents of ONE top-level file (the list
:func:`attnlock.check.checker.read` returns per path: the file and everything it includes).
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.version import Version

from attnlock.check.document import Document, Entry
from attnlock.check.findings import Finding

_COMPARED_KINDS = frozenset({"requirement", "constraint"})
#: Distinct requirements of one package kept for comparison (a generated file never has more).
_KEEP = 64


def _marker_key(entry: Entry) -> str:
    req = entry.requirement
    marker = str(req.marker) if req is not None and req.marker is not None else ""
    extra = str(entry.extra_marker) if entry.extra_marker is not None else ""
    return f"{marker}|{extra}"


def _allows(entry: Entry, version: Version) -> bool:
    """Whether ``entry`` admits ``version``."""
    req = entry.requirement
    if req is None:
        return True
    if req.url:
        return entry.url_version is None or entry.url_version == version
    return req.specifier.contains(version, prereleases=True)


def _same_run(a: Entry, b: Entry) -> bool:
    return a.group == b.group or not a.group or not b.group


def _shown(entry: Entry) -> str:
    req = entry.requirement
    if req is None:
        return entry.name or "?"
    if req.url:
        return f"{entry.name} @ {entry.url_version or 'URL'}"
    return f"{entry.name}{req.specifier}"


def _key(entry: Entry) -> tuple[str, str, str, str, str]:
    req = entry.requirement
    spec = str(req.specifier) if req is not None else ""
    url = (req.url or "") if req is not None else ""
    return entry.kind, entry.group, spec, url, str(entry.url_version or "")


class _Rep:
    """A distinct requirement of one package, and what comparing it with the earlier ones found."""

    __slots__ = ("entry", "conflict")

    def __init__(self, entry: Entry, conflict: Entry | None) -> None:
        self.entry = entry
        self.conflict = conflict


def duplicate_pin_findings(documents: Iterable[Document]) -> list[Finding]:
    """AL110 for a pin another requirement of the same package contradicts; AL007 for the same pin twice.

    Each finding sits at the later requirement (file order, includes after their includer) and
    names the earlier one's file and line.  Linear in the number of requirements: a requirement
    written exactly like an earlier one reuses that one's comparison.
    """
    reps: dict[tuple[str, str], dict[tuple[str, str, str, str, str], _Rep]] = {}
    places: set[tuple[str, int, int]] = set()
    out: list[Finding] = []
    for doc in documents:
        for entry in doc.entries:
            if entry.kind not in _COMPARED_KINDS or entry.editable or entry.name is None:
                continue
            place = (entry.path, entry.line, entry.column)
            if place in places:  # a document read twice (included from two places)
                continue
            places.add(place)
            known = reps.setdefault((entry.name, _marker_key(entry)), {})
            key = _key(entry)
            same = known.get(key)
            if same is not None:  # written like an earlier one: the same verdict, or a duplicate of it
                if same.conflict is not None:
                    out.append(_contradiction(entry, same.conflict))
                elif entry.exact_version is not None:
                    out.append(_duplicate(entry, same.entry))
                continue
            conflict, duplicate = _compare(entry, [r.entry for r in known.values()])
            if conflict is not None:
                out.append(_contradiction(entry, conflict))
            elif duplicate is not None:
                out.append(_duplicate(entry, duplicate))
            if len(known) < _KEEP:
                known[key] = _Rep(entry, conflict)
    return out


def _compare(entry: Entry, earlier: list[Entry]) -> tuple[Entry | None, Entry | None]:
    """(the first earlier requirement ``entry`` contradicts, else the first it repeats)."""
    duplicate: Entry | None = None
    for other in earlier:
        if not _same_run(entry, other):
            continue
        mine, theirs = entry.exact_version, other.exact_version
        if mine is None and theirs is None:
            continue
        if (mine is not None and not _allows(other, mine)) or (theirs is not None and not _allows(entry, theirs)):
            return other, None
        if duplicate is None and mine is not None and theirs is not None and entry.kind == other.kind:
            duplicate = other
    return None, duplicate


def _contradiction(entry: Entry, other: Entry) -> Finding:
    return Finding(
        "AL110", entry.path, entry.line, entry.column,
        f"{_shown(entry)} contradicts {_shown(other)} at {other.path}:{other.line}: pip and uv find no "
        f"version of {entry.name} that satisfies both and stop",
        packages=(entry.name or "",),
        fix=f"keep one pin of {entry.name}: remove this requirement or make both the same")


def _duplicate(entry: Entry, first: Entry) -> Finding:
    return Finding(
        "AL007", entry.path, entry.line, entry.column,
        f"{entry.name} is pinned again (first at {first.path}:{first.line}); a change to one pin "
        "(by hand or by --fix) leaves the other contradicting it",
        packages=(entry.name or "",), fix=f"remove this requirement; keep the pin at line {first.line}")
