"""Releases the database does not know (AL202), without a wheel for the target (AL203), and torch floating under pinned kernels (AL201)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.check.context import InstallSet
from attnlock.check.findings import Finding

if TYPE_CHECKING:
    from attnlock.database import Database
from attnlock.check.rules._base import _TORCH, _finding
from attnlock.check.rules.metadata import _candidate, _has_wheel, _release, _req_on


def release_rules(iset: InstallSet, db: Database) -> list[Finding]:
    """Pins the database does not know (AL202) and pins without a wheel for the target (AL203)."""
    out: list[Finding] = []
    for e in iset.entries:
        version = e.exact_version
        name = e.name
        if version is None or name is None or (e.requirement is not None and e.requirement.url):
            continue
        known = db.releases(name)
        if not known:
            continue
        rel = _release(db, name, version)
        if rel is None:
            if version.local and any(r.version == Version(version.public) for r in known):
                continue
            out.append(_finding("AL202", e, f"{name} {version} is not a release the database knows "
                                f"(checked {db.checked(name) or 'unknown'}); newest known: {known[-1].version}",
                                [name], "check the version, or refresh the database (attnlock db refresh)"))
            continue
        if version.local:
            variants = db.torch_variants(Version(version.public)) if name == _TORCH else None
            pypi = variants.pypi.label if variants is not None and variants.pypi is not None else None
            if version.local != pypi:
                continue  # a build of another index: its files are not in the derived data
        if not rel.wheels():
            continue
        if e.requirement is not None and e.requirement.marker is None and e.extra_marker is None:
            active = list(iset.envs)
        else:
            active = [env for env in iset.envs if iset.is_active(e, env)]
        if not active or any(_has_wheel(db, rel, env) for env in active):
            continue
        where = ", ".join(str(env) for env in active[:3]) + (f" and {len(active) - 3} more" if len(active) > 3 else "")
        later = [r for r in known if r.version > rel.version and _candidate(r)
                 and all(_has_wheel(db, r, env) for env in active)]
        fix = f"{name}=={later[0].version} is the first later release with a wheel there" if later else (
            f"choose a Python and platform {name} {version} has wheels for")
        out.append(_finding("AL203", e, f"{name} {version} has no wheel for {where}", [name], fix))
    return out


def torch_floats_rules(iset: InstallSet, db: Database) -> list[Finding]:
    """A package pinned whose metadata bounds torch while the set leaves torch unpinned."""
    if iset.kind in ("uv.lock", "pylock"):
        return []
    out: list[Finding] = []
    torch_entries = [e for e in iset.entries if e.name == _TORCH]
    if any(e.exact_version is not None for e in torch_entries):
        return []
    torch_spec = SpecifierSet()
    for e in torch_entries:
        if e.requirement is not None:
            torch_spec &= e.requirement.specifier
    for e in iset.entries:
        if e.name in (None, _TORCH) or e.exact_version is None or e.kind == "override":
            continue
        rel = _release(db, e.name, e.exact_version)
        if rel is None:
            continue
        req = _req_on(db, rel, _TORCH, None)
        if req is None or not any(s.operator in ("==", "===", "<", "<=", "~=") for s in req.specifier):
            continue
        exact = [s.version for s in req.specifier if s.operator == "==" and "*" not in s.version]
        fix = f"add torch=={exact[0]}" if exact else f"pin torch to one version in {req.specifier}"
        here = f" (the file says only torch{torch_spec})" if torch_entries and str(torch_spec) else ""
        out.append(_finding(
            "AL201", e, f"{e.name} {e.exact_version} requires torch{req.specifier} but torch is not pinned{here}: "
            "the installer will move torch to satisfy it", [e.name or "", _TORCH], fix))
    return out


