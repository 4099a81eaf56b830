"""What an installer would choose from a file: its ranges, unpinned names and markers through the resolver.

The other rules judge exact pins one by one.  This one asks the same resolver ``generate`` uses,
for each target the file's markers and the options allow, two questions: does any set of builds
in the file's ranges work together (else AL112, with the resolver's explanation and the plan that
would work), and does the newest choice an installer makes from metadata alone land in a
known-bad combination (AL111, with the plan that avoids it as the fix)?  Only packages the
database covers are resolved; the rest of the file is left to the installer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from attnlock.check.context import Env, InstallSet
from attnlock.check.document import Entry
from attnlock.check.findings import Finding
from attnlock.check.rules._base import _finding, _index_variant, _variant_of_label
from attnlock.errors import AttnlockError, NoPlanError
from attnlock.model import CudaVariant, Plan, Platform, Target

if TYPE_CHECKING:
    from attnlock.database import Database

def resolution_rules(iset: InstallSet, target: Target, db: Database) -> tuple[list[Finding], set[str]]:
    """AL112 / AL111 for one install set, and the known-bad records AL111 names (the caller runs it only
    where the exact-pin rules found no error).

    Where the options and markers do not fix the place, the set is judged where these stacks run
    (linux-x86_64) and passes when some Python the file allows resolves: AL112 only when none does
    (with the newest one's explanation), AL111 from the first one that resolves.
    """
    if iset.kind in ("uv.lock", "pylock"):
        return [], set()  # a lock is exact: the pin rules judge it build by build
    envs = _representatives(iset, target)
    reachable = frozenset(v.label for d in iset.indexes if (v := _index_variant(d)) is not None)
    failures: list[list[Finding]] = []
    for env in envs:
        found, records = _judge(iset, env, target, db, reachable)
        if not any(f.code == "AL112" for f in found):
            return found, records
        failures.append(found)
    if not failures:
        return [], set()
    # Nothing resolves on any Python the file allows: report the explanation that is not about a
    # missing wheel for one Python, where there is one (that is the real conflict).
    return next((f for f in failures if not any("has no wheel for" in x.message for x in f)), failures[0]), set()


def _representatives(iset: InstallSet, target: Target) -> list[Env]:
    """The environments to resolve in, newest Python first: the target's platform, else linux-x86_64."""
    platform = target.platform or Platform("linux", "x86_64")
    envs = [e for e in iset.envs if e.platform == platform] or list(iset.envs[:1])
    envs.sort(key=lambda e: (e.python.major, e.python.minor), reverse=True)
    return envs


class _Wanted:
    """The covered packages of one environment's active entries, as the resolver takes them."""

    def __init__(self) -> None:
        self.specs: dict[str, SpecifierSet] = {}
        self.extras: dict[str, frozenset[str]] = {}
        self.entries: dict[str, Entry] = {}
        self.variant: CudaVariant | None = None


def _collect(active: Sequence[Entry], known: frozenset[str]) -> _Wanted | None:
    w = _Wanted()
    requested = [e for e in active if e.kind == "requirement"]
    use = requested or [e for e in active if e.kind == "constraint"]  # a constraints file alone: its pins are the set
    limits = [e for e in active if e.kind == "constraint"] if requested else []
    for e in use + limits:
        name, req = e.name, e.requirement
        if name is None or req is None or name not in known or e.editable:
            continue
        if str(req.specifier) == "<0":
            continue  # attnlock's own block of a package a plan left out: nothing is installed
        if e in limits and name not in w.specs:
            continue  # a constraint limits what is installed; it installs nothing itself
        spec = SpecifierSet()
        if e.exact_version is not None:
            v = e.exact_version
            spec = SpecifierSet(f"=={v.public}")
            if name == "torch" and v.local:
                w.variant = _variant_of_label(v.local) or w.variant
        elif req.url:
            continue  # a URL whose version cannot be read: the installer takes whatever it is
        else:
            try:
                spec = SpecifierSet(",".join(str(s) for s in req.specifier if "+" not in s.version))
            except InvalidSpecifier:
                continue
        w.specs[name] = w.specs.get(name, SpecifierSet()) & spec
        w.extras[name] = w.extras.get(name, frozenset()) | frozenset(req.extras)
        w.entries.setdefault(name, e)
    kernels = [n for n in w.specs if n != "torch"]
    return w if kernels else None  # torch alone, or nothing covered: nothing to resolve together


def _judge(iset: InstallSet, env: Env, target: Target, db: Database,
           reachable: frozenset[str]) -> tuple[list[Finding], set[str]]:
    from attnlock.compat import model_for
    from attnlock.resolver import resolve
    from attnlock.resolver.resolve import installed_of_plan
    from attnlock.resolver.wanted import Wanted
    from attnlock.resolver.candidates import known_packages

    w = _collect(iset.active(env), known_packages(db))
    if w is None:
        return [], set()
    wanted = [Wanted(n, w.specs[n], w.extras.get(n, frozenset())) for n in w.specs]
    if "torch" not in w.specs:
        wanted.insert(0, Wanted("torch", SpecifierSet()))
    t = Target(torch=target.torch, cuda=target.cuda or w.variant, python=env.python, platform=env.platform,
               gpu=target.gpu, gpu_name=target.gpu_name, driver=target.driver)
    # A file that names a community source's wheel by URL has opted into that source (--source).
    model = model_for(db)
    urls = {str(e.requirement.url) for e in w.entries.values() if e.requirement is not None and e.requirement.url}
    sources = sorted({cw.source for n in w.entries for cw in model.community_wheels(n) if cw.url in urls}) if urls else []
    try:
        chosen = resolve(db, t, wanted, avoid_known_bad=False, reachable=reachable, sources=sources)
    except NoPlanError as exc:
        at = _blamed(w, exc.message)
        fix = exc.hint or "loosen the ranges named above"
        return [_finding("AL112", at, f"no set of builds in this file's ranges works together "
                         f"({_words(t)}): {exc.message}", list(w.specs), fix)], set()
    except AttnlockError:
        return [], set()  # a usage problem of the target (an unknown variant): other rules say it
    hits = [h for h in model.known_bad_hits(installed_of_plan(chosen), gpu=t.gpu, platform=t.platform)
            if h.definite and h.record.confirmed]
    if not hits:
        return [], set()
    kb = hits[0].record
    members = [n for n in kb.members() if n in w.entries]
    at = w.entries[next((n for n in members if n != "torch"), members[0] if members else next(iter(w.entries)))]
    picked = ", ".join(f"{p.package} {p.version}" for p in chosen.pins if p.package in kb.packages)
    try:
        better: Plan | None = resolve(db, t, wanted, reachable=reachable, sources=sources)
    except AttnlockError:
        better = None
    if better is not None:
        pins = [p for p in better.pins if p.package in w.specs or p.package in kb.packages]
        fix = "pin " + ", ".join(f"{p.package}=={p.version}" for p in pins) + " (attnlock generate's plan, which avoids it)"
        lead = "the newest releases this file allows (what pip or uv would install)"
    else:
        fix = kb.fix or "change the ranges: no plan inside them avoids this combination"
        lead = "the only releases this file allows"
    return [_finding("AL111", at, f"{lead} ({_words(t)}) are the known-bad "
                     f"combination {kb.id} ({picked}): {kb.reason}" + (f" [{kb.evidence}]" if kb.evidence else ""),
                     list(kb.packages), fix)], {kb.id}


def _blamed(w: _Wanted, message: str) -> Entry:
    """The entry of the first kernel package the explanation names (else torch's, else the first)."""
    for name in w.entries:
        if name != "torch" and name in message:
            return w.entries[name]
    return w.entries.get("torch") or next(iter(w.entries.values()))


def _words(t: Target) -> str:
    parts = [f"CPython {t.python}" if t.python else "", str(t.platform) if t.platform else ""]
    if t.gpu is not None:
        parts.append(f"GPU {t.gpu}")
    if t.cuda is not None:
        parts.append(t.cuda.label)
    return ", ".join(p for p in parts if p)


__all__ = ["resolution_rules"]
