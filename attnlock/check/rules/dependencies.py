"""Pinned packages whose metadata excludes each other (AL101, AL103, AL104) or a shared dependency (AL105)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.check.context import Env, InstallSet
from attnlock.check.document import Entry
from attnlock.check.findings import Finding
from attnlock.model import CudaVariant, canonical

if TYPE_CHECKING:
    from attnlock.database import Database, Release
from attnlock.check.rules._base import (
    _TORCH,
    _contains,
    _finding,
    _Pin,
    _spec_text,
    _variant_of_label,
    render,
)
from attnlock.check.rules.builds import _build_note
from attnlock.check.rules.metadata import (
    _alternatives,
    _candidate,
    _release,
    _reqs,
    _single,
)
from attnlock.compat import Model


class _Demand(NamedTuple):
    spec: SpecifierSet
    root: str  # the file's package whose requirements lead here
    via: str  # the package whose metadata says it ("" when root itself)
    entry: Entry


def dependency_rules(iset: InstallSet, env: Env, db: Database, pins: dict[str, _Pin]) -> list[Finding]:
    """Metadata conflicts: AL101, AL103, AL104 against the file's pins; AL105 on a shared dependency."""
    out: list[Finding] = []
    demands: dict[str, list[_Demand]] = {}
    for name, pin in pins.items():
        if pin.exact is None:
            continue
        rel = _release(db, name, pin.exact)
        if rel is None:
            continue
        extras = pin.entry.requirement.extras if pin.entry.requirement is not None else set()
        _collect(db, env, rel, extras, name, "", pin.entry, demands, pins, depth=0, out=out)
    for dep, items in demands.items():
        roots: dict[str, _Demand] = {}
        for d in items:
            roots.setdefault(d.root, d)
        if len(roots) < 2:
            continue
        known = db.releases(dep)
        ordered = sorted(roots.values(), key=lambda d: (d.entry.path, d.entry.line))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                if _compatible(a.spec, b.spec, known):
                    continue
                how_a = f" (through {a.via})" if a.via else ""
                how_b = f" (through {b.via})" if b.via else ""
                later = b if b.root != _TORCH else a
                out.append(_finding(
                    "AL105", later.entry,
                    f"{a.root} needs {dep}{_spec_text(a.spec)}{how_a} but {b.root} needs {dep}"
                    f"{_spec_text(b.spec)}{how_b}: no release of {dep} satisfies both",
                    [a.root, b.root, dep],
                    _shared_fix(db, env, later, a if later is b else b, dep)))
    return out


def _compatible(a: SpecifierSet, b: SpecifierSet, known: tuple[Release, ...]) -> bool:
    if known:
        return any(_contains(a, r.version) and _contains(b, r.version) for r in known)
    for x, y in ((a, b), (b, a)):
        for s in x:
            if s.operator in ("==", "===") and "*" not in s.version:
                try:
                    if not _contains(y, Version(s.version)):
                        return False
                except ValueError:
                    return True
    return True


def _shared_fix(db: Database, env: Env, move: _Demand, keep: _Demand, dep: str) -> str:
    pin_entry = move.entry
    name = pin_entry.name or move.root
    for rel in reversed(db.releases(name)):
        if not _candidate(rel):
            continue
        spec = _demand_on(db, env, rel, pin_entry, dep)
        if spec is not None and _compatible(spec, keep.spec, db.releases(dep)):
            return f"{name}=={rel.version}"
    return f"choose {name} and {keep.root} releases whose {dep} requirements overlap"


def _demand_on(db: Database, env: Env, rel: Release, entry: Entry, dep: str, depth: int = 0) -> SpecifierSet | None:
    extras = entry.requirement.extras if entry.requirement is not None else set()
    for req in _reqs(db, rel, env, extras):
        if canonical(req.name) == dep:
            return req.specifier
        if depth < 2:
            sub = _single(db, canonical(req.name), req.specifier)
            if sub is not None:
                found = _demand_on(db, env, sub, Entry(entry.path, entry.line, entry.column, str(req), req),
                                   dep, depth + 1)
                if found is not None:
                    return found
    return None


def _collect(db: Database, env: Env, rel: Release, extras: Iterable[str], root: str, via: str, entry: Entry,
             demands: dict[str, list[_Demand]], pins: dict[str, _Pin], *, depth: int, out: list[Finding]) -> None:
    foreign = _foreign_torch_build(db, rel, pins) if root == "torch" and depth == 0 else None
    for req in _reqs(db, rel, env, extras):
        dep = canonical(req.name)
        if dep == root:
            continue
        if foreign is not None and Model.foreign_requirement(dep, *foreign):
            continue  # read from the default-index wheel; this torch build does not require it
        pin = pins.get(dep)
        if pin is not None:
            if depth == 0 and not pin.override:
                _check_pinned(db, env, root, rel, req, pin, entry, out)
            continue
        demands.setdefault(dep, []).append(_Demand(req.specifier, root, via, entry))
        if depth < 2:
            sub = _single(db, dep, req.specifier)
            if sub is not None:
                _collect(db, env, sub, req.extras, root, f"{via + ' -> ' if via else ''}{dep} {sub.version}",
                         entry, demands, pins, depth=depth + 1, out=out)


def _foreign_torch_build(db: Database, rel: Release,
                         pins: dict[str, _Pin]) -> tuple[CudaVariant | None, CudaVariant | None] | None:
    """(the pinned torch build's CUDA variant, the default index's) when the pin names another build."""
    pin = pins.get("torch")
    label = pin.exact.local if pin is not None and pin.exact is not None else None
    variant = _variant_of_label(label)
    if variant is None:
        return None
    known = db.torch_variants(rel.version)
    return variant, (known.pypi if known is not None else None)


def _check_pinned(db: Database, env: Env, root: str, rel: Release, req: Requirement, pin: _Pin, root_entry: Entry,
                  out: list[Finding]) -> None:
    dep = pin.name
    spec = req.specifier
    if pin.exact is not None:
        if _contains(spec, pin.exact):
            return
        have = str(pin.exact)
    else:
        known = db.releases(dep)
        if not known or any(_contains(spec, r.version) and _contains(pin.spec, r.version) for r in known):
            return
        have = _spec_text(pin.spec)
    pinned_how = "pinned to" if pin.exact is not None else "limited to"
    build = _build_note(db, rel, env)
    if root == _TORCH:
        code = "AL103" if dep == "triton" else "AL101"
        target_entry = pin.entry
        line = render(target_entry.requirement, specifier=str(spec), original=target_entry.text) if (
            target_entry.requirement) else f"{dep}{spec}"
        out.append(_finding(
            code, target_entry, f"torch {rel.version} requires {dep}{spec}; {dep} is {pinned_how} {have}",
            [dep, _TORCH], line, line if pin.exact is not None else None))
        return
    code = "AL104" if root in ("torchvision", "torchaudio") and dep == _TORCH else "AL101"
    fix: str
    new: str | None = None
    if pin.exact is not None:
        alts = _alternatives(db, root, dep, pin.exact, env)
        if alts and root_entry.requirement is not None and not root_entry.requirement.url:
            new = render(root_entry.requirement, specifier=f"=={alts[0].version}", original=root_entry.text)
            fix = new
        else:
            fix = f"{dep}{spec}"
    else:
        fix = f"{dep}{spec}"
    out.append(_finding(
        code, root_entry, f"{root} {rel.version} requires {dep}{spec}{build}; {dep} is {pinned_how} {have}",
        [root, dep], fix, new))


