"""The default package set of a plan: every covered package that fits the newest torch the target allows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.resolver.candidates import CandidateSource
from attnlock.resolver.explain import explain, explain_empty
from attnlock.resolver.run import Unsolvable
from attnlock.resolver.wanted import Wanted, covered

if TYPE_CHECKING:
    from attnlock.resolver.resolve import _Session


def default_wanted(self: _Session, source: CandidateSource, among: Sequence[Wanted] | None = None,
                   ) -> tuple[tuple[Wanted, ...], list[str]]:
    """Every covered package (or each of ``among``) with a release for the target that fits
    with the ones before it.

    The default set (``among`` None) is chosen so that the newest torch the target allows
    wins: a package with no build for that torch would hold torch back, so it is left out with
    a note saying so (``--with`` naming it plans it, on the torch it needs).  Packages the
    user named (``among``) are never left out for that reason."""
    chosen: list[Wanted] = []
    notes: list[str] = []
    pool = list(among) if among is not None else [Wanted(n, SpecifierSet()) for n in covered(self.db)]
    pool = [w for w in pool if w.name in source.known()]
    # Fast path: one solve for the whole set.  Packages without a single build whose edges can
    # be met (arc consistency, no resolvelib run) are left out first; if the rest resolves
    # together, every one of them fits with the ones before it.
    torch_first = [w for w in pool if w.name == "torch"]
    newest: Version | None = None
    if torch_first:
        try:
            _src, alone, _applied = self._solve(self._roots(torch_first))
        except Unsolvable as exc:
            raise explain(self, self._roots(torch_first), exc.source, exc.causes, exc.applied) from None
        if among is None and "torch" in alone:
            newest = alone["torch"].version
            torch_first = [Wanted("torch", SpecifierSet(f"=={newest}"))]
            pool = [torch_first[0] if w.name == "torch" else w for w in pool]

    def holds_back(wanted: Wanted, together: bool = False) -> str:
        """Why a package was left out for holding torch back: the torch it would need."""
        words = "with the rest of the default set " if together else ""
        why = f"no build of it fits torch {newest} {words}(the newest torch for the target)"
        try:
            _src, result, _applied = self._solve(self._roots([Wanted("torch", SpecifierSet()), wanted]))
        except Unsolvable:
            held = ""
        else:
            older = result.get("torch")
            held = f" at {older.version}" if older is not None and older.version != newest else ""
        return (f"it would hold torch back{held}: {why}; to plan it anyway, name it: "
                f"--with torch,{wanted.name}")

    hopeless: set[str] = set()
    holders: dict[str, str] = {}
    top = self.source(replace(self.target, torch=SpecifierSet(f"=={newest}"))) if newest is not None else None
    for w in pool:
        if w.name != "torch":
            root = self._roots([*torch_first, w])[-1]
            if not source.viable(root.name, root.extras):
                hopeless.add(w.name)
            elif top is not None and not top.viable(root.name, root.extras):
                holders[w.name] = holds_back(w)
    for name, why in holders.items():
        notes.append(f"{name}: left out, {why}")
    pool = [w for w in pool if w.name not in holders]
    hopeful = [w for w in pool if w.name not in hopeless]
    if hopeful:
        try:
            self._solve(self._roots(hopeful))
        except Unsolvable:
            pass
        else:
            for w in pool:
                if w.name in hopeless:
                    err = explain(self, self._roots([*hopeful, w]), source, [], [], search=False)
                    notes.append(f"{w.name}: left out, {err.message}")
            return tuple(hopeful), notes
    for w in pool:
        name = w.name
        if name == "torch":
            # torch is never optional: every covered package depends on it, and a plan without
            # it would pin kernels for no torch at all.
            try:
                self._solve(self._roots([*chosen, w]))
            except Unsolvable as exc:
                raise explain(self, self._roots([*chosen, w]), exc.source, exc.causes, exc.applied) from None
            chosen.append(w)
            continue
        if not source.candidates(name):
            err = explain(self, self._roots([*chosen, w]), source, [], [], search=False)
            notes.append(f"{name}: left out, {err.message}")
            continue
        try:
            self._solve(self._roots([*chosen, w]))
        except Unsolvable as exc:
            if newest is not None and name not in hopeless:
                notes.append(f"{name}: left out, {holds_back(w, together=True)}")
                continue
            err = explain(self, self._roots([*chosen, w]), exc.source, exc.causes, exc.applied, search=False)
            notes.append(f"{name}: left out, {err.message}")
            continue
        chosen.append(w)
    if not chosen:
        raise explain_empty(self, "torch", source)
    return tuple(chosen), notes
