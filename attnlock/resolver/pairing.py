"""Pairings: which builds of a package serve one torch build on a target, and on what they rest.

The question behind ``attnlock db matrix``: "on this platform and Python, which releases of
xformers work with torch 2.6.0+cu124, the newest first, and why?".  It is answered from the
resolver's own candidate sources (:class:`~attnlock.resolver.candidates.CandidateSource`): a build
pairs with a torch build when every edge between the two holds — the build's requirement on torch
(its ABI window, its Requires-Dist) and torch's requirement on it (torch pins triton) —, its other
requirements can be met beside that torch build (one level down: unsloth's xformers must pair with
it too), and the two do not fall into a confirmed known-bad combination (``compat.known_bad``).
How a pairing is known comes from the model too (``Model.pairing``: exact / window / measured).
``generate`` with the same target and ``--with torch,PACKAGE`` plans the first build of a pairing
(``tests/test_matrix.py`` holds the two together; the resolver still decides deeper conflicts).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.compat import Hit, Installed, model_for
from attnlock.resolver.candidates import Candidate, CandidateSource, Rejection
from attnlock.resolver.requirement import Req

#: How a pairing is known, beside the model's exact / window / measured: ``declared`` (the
#: release's Requires-Dist admits the torch, no build facts), ``unknown`` (the database records no
#: torch requirement: the release is only bounded by the torch releases of its upload era).
HOWS = ("exact", "window", "measured", "declared", "unknown")


@dataclass(frozen=True)
class Paired:
    """One build that serves the torch build, how (:data:`HOWS`), and the record it rests on."""

    build: Candidate
    how: str
    source: str  # a URL or a data/ file naming the record
    words: str  # the reason in words (the candidate's own)
    possible: tuple[Hit, ...] = ()  # known-bad records it may fall into (for want of the GPU, ...)


@dataclass(frozen=True)
class Pairing:
    """The builds of ``package`` that pair with ``torch`` on the source's target, best first."""

    package: str
    torch: Candidate
    best: Paired | None  # the first build: what ``generate`` plans
    builds: tuple[Candidate, ...]  # every build that pairs, best first
    cut: tuple[tuple[Candidate, Hit], ...] = ()  # builds a confirmed known-bad record takes out
    rejected: tuple[Rejection, ...] = ()  # why builds of the package are not candidates on the target


def torch_builds(src: CandidateSource) -> list[Candidate]:
    """The torch builds of the target (the resolver's torch candidates, newest first)."""
    return [c for c in src.candidates("torch") if c.source != "installed"]


def pairing(src: CandidateSource, torch: Candidate, name: str, *, depth: int = 1) -> Pairing:
    """Every build of ``name`` that pairs with the torch build ``torch`` (see the module doc), and
    whose other requirements can be met beside it (to ``depth`` levels: unsloth needs an xformers,
    which must pair with the same torch build)."""
    pairings: dict[tuple[int, str, int], Pairing] = src.__dict__.setdefault("_pairings", {})
    found = pairings.get((id(torch), name, depth))
    if found is None:
        found = pairings[(id(torch), name, depth)] = _pairing(src, torch, name, depth)
    return found


def _pairing(src: CandidateSource, torch: Candidate, name: str, depth: int) -> Pairing:
    wants = [d for d in torch.dependencies if d.name == name]
    out: list[Candidate] = []
    best: Paired | None = None
    cut: list[tuple[Candidate, Hit]] = []
    for row in _by_version(src, name).get(torch.version, ()):
        cand, edges = row[0], row[1]
        verdict = _judge(src, torch, name, wants, row, depth)
        if verdict is None:
            continue
        bad = next((h for h in verdict if h.definite and h.record.confirmed), None)
        if bad is not None:
            cut.append((cand, bad))
            continue
        if best is None:
            how, source = _how(src, torch, cand, edges, wants)
            best = Paired(cand, how, source, cand.why, verdict)
        out.append(cand)
    return Pairing(name, torch, best, tuple(out), tuple(cut), tuple(src.rejections.get(name, ())))


def _judge(src: CandidateSource, torch: Candidate, name: str, wants: list[Req], row: _Row,
           depth: int) -> tuple[Hit, ...] | None:
    """None when the build does not pair with ``torch``; else the known-bad records the two hit."""
    cand, edges, silent, sig = row
    if not wants and silent:
        # No requirement either way, or only a bare "torch" (triton 2.0.0 lists one): the release
        # does not pair with a torch build (triton pairs through torch's pin only).
        return None
    memo: dict[tuple[object, int], bool] = src.__dict__.setdefault("_pairing_holds", {})
    key = (sig, id(torch))
    ok = memo.get(key)
    if ok is None:
        ok = memo[key] = all(e.satisfied_by(torch) for e in edges)
    if not ok or not all(w.satisfied_by(cand) for w in wants):
        return None
    if depth > 0 and not _others_met(src, torch, cand, depth):
        return None
    model = model_for(src.db)
    if not model.known_bad_within(frozenset(("torch", name))):
        return ()  # no record names only these two
    return tuple(model.known_bad_hits({"torch": Installed(torch.version, torch.label, torch.variant),
                                       name: Installed(cand.version, cand.label, cand.variant)},
                                      gpu=src.target.gpu, platform=src.target.platform))


def _others_met(src: CandidateSource, torch: Candidate, cand: Candidate, depth: int) -> bool:
    """Whether every requirement of ``cand`` other than torch is met beside the torch build: by a
    build that pairs with it (one level down), or, for a package not coupled to this torch build
    (no requirement either way: triton beside a ROCm torch), by any of its builds on the target."""
    memo: dict[tuple[object, ...], bool] = src.__dict__.setdefault("_pairing_others", {})
    for d in cand.dependencies:
        if d.name == "torch":
            continue
        key = (d.name, id(d.specifier), d.extras, d.variant, d.cuda_major, d.cxx11abi, d.source, id(torch), depth)
        ok = memo.get(key)
        if ok is None:
            ok = memo[key] = _met(src, torch, d, depth - 1)
        if not ok:
            return False
    return True


def _met(src: CandidateSource, torch: Candidate, req: Req, depth: int) -> bool:
    """Whether some build meets ``req`` beside ``torch`` (stops at the first)."""
    wants = [d for d in torch.dependencies if d.name == req.name]
    if not wants and not _names_torch(src, req.name):
        return any(req.satisfied_by(c) for c in src.candidates(req.name, req.extras))
    for row in _by_version(src, req.name).get(torch.version, ()):
        if not req.satisfied_by(row[0]):
            continue
        verdict = _judge(src, torch, req.name, wants, row, depth)
        if verdict is not None and not any(h.definite and h.record.confirmed for h in verdict):
            return True
    return False


def pairs_with_torch(src: CandidateSource, name: str) -> bool:
    """Whether some build of ``name`` has a requirement on torch, or some torch build one on it."""
    return _names_torch(src, name) or any(d.name == name for t in torch_builds(src) for d in t.dependencies)


def _names_torch(src: CandidateSource, name: str) -> bool:
    """Whether some build of ``name`` on the target says something about torch."""
    memo: dict[str, bool] = src.__dict__.setdefault("_pairing_names_torch", {})
    if name not in memo:
        memo[name] = any(not row[2] for rows in _by_version(src, name).values() for row in rows)
    return memo[name]


# A candidate, its torch edges, whether they say nothing, and their signature (hundreds of releases
# repeat one torch requirement, its specifier parsed once and shared: it is judged once per torch build).
_Row = tuple[Candidate, list[Req], bool, tuple[object, ...]]


def _by_version(src: CandidateSource, name: str) -> dict[Version, list[_Row]]:
    """Per torch release of the target, the candidates of ``name`` (in the source's order) whose
    torch ranges hold it, with their torch edges: a range is checked once per torch release, the
    build constraints (variant, CUDA major, C++ ABI) once per torch build."""
    memo: dict[str, dict[Version, list[_Row]]] = src.__dict__.setdefault("_pairing_index", {})
    if name in memo:
        return memo[name]
    versions = sorted({t.version for t in torch_builds(src)})
    holds: dict[tuple[int, Version], bool] = {}
    table: dict[Version, list[_Row]] = {v: [] for v in versions}
    for cand in src.candidates(name):
        edges = [d for d in cand.dependencies if d.name == "torch"]
        silent = all(_says_nothing(e) for e in edges)
        sig = tuple((id(e.specifier), e.variant, e.cuda_major, e.cxx11abi, e.source, e.extras) for e in edges)
        for v in versions:
            ok = True
            for e in edges:
                key = (id(e.specifier), v)
                if key not in holds:
                    holds[key] = e.specifier.contains(v, prereleases=True)
                if not holds[key]:
                    ok = False
                    break
            if ok:
                table[v].append((cand, edges, silent, sig))
    memo[name] = table
    return table


def _how(src: CandidateSource, torch: Candidate, cand: Candidate, edges: list[Req],
         wants: list[Req]) -> tuple[str, str]:
    """How ``cand`` is known to serve ``torch``, and the source of that knowledge."""
    model = model_for(src.db)
    if cand.built_for is not None:
        how, window = model.pairing(cand.name, cand.version, cand.built_for, torch.version)
        if window is not None and how != "exact":
            return how, window.source
        return how, _build_source(src, cand)
    if any(_exact(w.specifier) for w in wants):
        return "exact", f"Requires-Dist of torch {torch.version} (data/derived/torch.json)"
    # The upload-era bound of a release that declares no torch requirement (generic source) is no
    # statement about torch: it names the upload in its parent.
    declared = [e for e in edges if e.parent is None or " (uploaded " not in e.parent]
    if any(_exact(e.specifier) for e in declared):
        return "exact", f"Requires-Dist of {cand.name} {cand.version} (data/derived/{cand.name}.json)"
    if declared or wants:
        return "declared", f"Requires-Dist of {cand.name} {cand.version} (data/derived/{cand.name}.json)"
    return "unknown", f"upload date of {cand.name} {cand.version} (data/derived/{cand.name}.json)"


def _build_source(src: CandidateSource, cand: Candidate) -> str:
    """Where a kernel build's own facts come from: the wheel URL, the curated index record, the
    wheel whose build info was read."""
    if cand.url:
        return cand.url
    for b in model_for(src.db).xformers_release_builds(cand.version):
        if b.origin == cand.source and (cand.source != "index" or b.index == cand.variant):
            if b.evidence.startswith("http"):
                return b.evidence
            return f"build info of {b.evidence} (data/derived/{cand.name}.json)"
    return f"data/derived/{cand.name}.json"


def _says_nothing(req: Req) -> bool:
    return len(req.specifier) == 0 and req.variant is None and req.cuda_major is None and req.source is None


def _exact(spec: SpecifierSet) -> bool:
    return any(s.operator in ("==", "===") and "*" not in s.version for s in spec)


__all__ = ["HOWS", "Paired", "Pairing", "pairing", "pairs_with_torch", "torch_builds"]
