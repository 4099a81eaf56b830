"""Checking files: read each one, group what one installer run sees, run the rules, deduplicate.

:func:`check_paths` is the library entry point behind ``attnlock check``: it
never raises for bad input (every problem is a finding naming file and line)
and needs no network.  The database is passed in (a port), so tests and the
command choose which one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attnlock.check import rules
from attnlock.check.context import InstallSet, environments
from attnlock.check.document import Document
from attnlock.check.duplicate_pins import duplicate_pin_findings
from attnlock.check.findings import Finding
from attnlock.check.requirements import RequirementsReader
from attnlock.check.source import STDIN
from packaging.version import Version

from attnlock.model import PythonVersion, Target

if TYPE_CHECKING:
    from attnlock.database import Database

#: File names ``attnlock check`` picks up in a directory (and the pre-commit ``files`` pattern).
DEFAULT_PATTERNS = ("requirements*.txt", "constraints*.txt", "*.in", "pyproject.toml", "uv.lock", "pylock.toml",
                    "pylock.*.toml")

_PY_MARKER = re.compile(r"python_(?:full_)?version\s*(?:==|<=|>=|<|>|~=|!=)\s*[\"'](\d+)\.(\d+)")


@dataclass
class Report:
    """What a check run found: findings (sorted, deduplicated) and the files read."""

    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    #: packages the files name that the database has no releases of: not judged (a note, never a failure)
    not_judged: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")


def default_paths(directory: str = ".") -> list[str]:
    """The requirement-like files directly in ``directory``, sorted."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    import fnmatch

    out = []
    for name in names:
        if name == "MANIFEST.in":  # an sdist manifest, not pip-tools input
            continue
        if any(fnmatch.fnmatch(name, p) for p in DEFAULT_PATTERNS) and os.path.isfile(os.path.join(directory, name)):
            out.append(os.path.join(directory, name) if directory != "." else name)
    return out


def file_kind(path: str) -> str:
    """Which reader handles ``path``: pyproject, uv.lock, pylock or requirements."""
    base = os.path.basename(path).lower()
    if base == "pyproject.toml":
        return "pyproject"
    if base == "uv.lock":
        return "uv.lock"
    if base == "pylock.toml" or (base.startswith("pylock.") and base.endswith(".toml")):
        return "pylock"
    return "requirements"


def _sets_for(docs: list[Document]) -> list[InstallSet]:
    top = docs[0]
    entries = [e for d in docs for e in d.entries]
    indexes = [i for d in docs for i in d.indexes]
    if top.kind != "pyproject":
        return [InstallSet(top.path, top.kind, entries, indexes, top.requires_python)]
    base = [e for e in entries if not e.group]
    groups = sorted({e.group for e in entries if e.group})
    out = [InstallSet(top.path, top.kind, base, indexes, top.requires_python)]
    for g in groups:
        out.append(InstallSet(f"{top.path} {g}", top.kind, base + [e for e in entries if e.group == g], indexes,
                              top.requires_python))
    return out


def _marker_pythons(entries: Iterable[object]) -> set[PythonVersion]:
    found = set()
    for e in entries:
        req = getattr(e, "requirement", None)
        if req is not None and req.marker is not None:
            for m in _PY_MARKER.finditer(str(req.marker)):
                found.add(PythonVersion(int(m.group(1)), int(m.group(2))))
    return found


def _unconditional_torch(iset: InstallSet) -> Version | None:
    """The exact torch version pinned without a marker (the anchor of the environments), if any."""
    for e in iset.entries:
        if e.name == "torch" and e.exact_version is not None and e.requirement is not None \
                and e.requirement.marker is None and e.extra_marker is None and not e.requirement.url:
            return e.exact_version
    return None


def read(paths: Sequence[str]) -> list[list[Document]]:
    """Read every path: per top-level file, its document followed by those it includes."""
    reader = RequirementsReader()
    out = []
    for path in paths:
        if path == "-":  # standard input: a requirements file, named <stdin> in findings
            path = STDIN
        kind = file_kind(path)
        if kind != "requirements":  # tomllib and the locator load only when a TOML file is checked
            from attnlock.check.tomlfiles import read_pylock, read_pyproject, read_uv_lock
        if kind == "pyproject":
            out.append([read_pyproject(path)])
        elif kind == "uv.lock":
            out.append([read_uv_lock(path)])
        elif kind == "pylock":
            out.append([read_pylock(path)])
        else:
            out.append(reader.read(path))
    return out


def check_paths(paths: Sequence[str], target: Target | None = None, db: Database | None = None) -> Report:
    """Check ``paths`` against ``target`` (fields left None range over everything the database allows)."""
    target = target or Target()
    report = Report()
    seen: set[tuple[str, str, int, int, str]] = set()
    floats: dict[tuple[str, str], list[tuple[Finding, str]]] = {}

    def add(finding: Finding, part: str = "") -> None:
        key = (finding.code, finding.path, finding.line, finding.column, finding.message)
        if key in seen:
            return
        seen.add(key)
        if finding.code in GROUPED:
            floats.setdefault((finding.path, finding.packages[0] if finding.packages else ""), []).append(
                (finding, part))
        else:
            report.findings.append(finding)

    for docs in read(paths):
        report.files.append(docs[0].path)
        report.documents.extend(docs)
        for d in docs:
            for f in d.findings:
                add(f)
        for f in duplicate_pin_findings(docs):
            add(f)
        if docs[0].source is None:
            continue
        for iset in _sets_for(docs):
            iset.envs = environments(target, iset.requires_python, db, _marker_pythons(iset.entries),
                                     _unconditional_torch(iset))
            part = iset.name[len(docs[0].path):].strip()
            for f in rules.run(iset, target, db):
                add(f, part)
            if db is not None:
                report.not_judged.extend(e.name for e in iset.entries
                                         if e.name and e.name not in report.not_judged and not db.releases(e.name))
    report.findings.extend(_grouped(items) for items in floats.values())
    report.findings.sort(key=Finding.sort_key)
    return report


#: Codes reported once per (file, package): the first line, with how many more say the same.
GROUPED = frozenset({"AL201"})


def _grouped(items: list[tuple[Finding, str]]) -> Finding:
    """One finding for every line of one file where the same package is pinned while torch floats.

    A pyproject with one extra per CUDA/torch combination (unsloth: 174 ``xformers @ URL`` lines in
    dozens of extras) would otherwise print one warning per line.  The first requirement (in file
    order) keeps its message, fix and location; the message adds how many more requirements say the
    same and in which extras or groups.
    """
    items = sorted(items, key=lambda item: item[0].sort_key())
    first = items[0][0]
    lines = {(f.line, f.column) for f, _ in items}
    if len(lines) == 1:
        return first
    package = first.packages[0] if first.packages else "the package"
    parts = [p.split(":", 1)[-1] for p in dict.fromkeys(part for _, part in items) if p]
    where = ""
    if parts:
        shown = ", ".join(parts[:5]) + (f" and {len(parts) - 5} more" if len(parts) > 5 else "")
        where = f" in {len(parts)} extra(s)/group(s): {shown}"
    message = (f"{first.message} [and {len(lines) - 1} more requirement(s) of this file pin {package} while "
               f"torch floats{where}]")
    fix = (first.fix or "") + (f" (likewise for the other {len(lines) - 1} requirement(s): pin torch wherever "
                               f"{package} is pinned)")
    return Finding(first.code, first.path, first.line, first.column, message, first.packages, fix=fix,
                   edit=first.edit)
