"""The matrix as data: one row per torch build of the target, one cell per package that pairs with torch.

Every cell is a :class:`~attnlock.resolver.pairing.Pairing` the resolver's candidate sources
answered, put in words: the newest release that works there (what ``generate`` plans), the range
of releases that do, how the newest is known (exact / window / measured / declared / unknown),
the record it rests on, the known-bad records that take builds out, and with a GPU what that GPU
cannot run.  The text, Markdown, JSON and HTML outputs all render this one structure.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace

from packaging.specifiers import SpecifierSet

from attnlock.compat import model_for
from attnlock.database.store import Database
from attnlock.model import CudaVariant, Platform, PythonVersion, Target
from attnlock.resolver.candidates import Candidate, CandidateSource, has_build_source
from attnlock.resolver.facts import facts_for
from attnlock.resolver.locations import DatabaseLocations
from attnlock.resolver.pairing import Pairing, pairing, torch_builds

#: Presentation order: the attention kernels first, then the rest of the covered set.
_FIRST = ("xformers", "flash-attn", "triton")
#: The platform a matrix is for when none is named (the one every package publishes for).
DEFAULT_PLATFORM = Platform("linux", "x86_64")


@dataclass(frozen=True)
class Cell:
    """What pairs with one torch build for one package."""

    package: str
    newest: str | None  # the newest release that works (what generate plans); None: none does
    build: str | None  # that build in words ("xformers 0.0.29.post3", "flash-attn 2.7.4.post1+cu12torch2.6…")
    oldest: str | None  # the oldest release that works
    releases: int  # how many releases work
    how: str  # exact | window | measured | declared | unknown | none
    source: str | None  # the record the newest's pairing rests on (URL or data/ file)
    why: str  # the reason in words
    known_bad: tuple[str, ...] = ()  # "id: reason (releases it takes out)"
    possible: tuple[str, ...] = ()  # known-bad records the newest may fall into, and what is not known
    gpu: str | None = None  # with a GPU: why it cannot run what would otherwise pair
    missing: str | None = None  # no release pairs: why (the filters that emptied it)
    command: str = ""  # the generate command whose plan this cell is

    @property
    def range(self) -> str:
        if self.newest is None:
            return ""
        if self.oldest is None or self.oldest == self.newest:
            return self.newest
        return f"{self.oldest} – {self.newest}"

    def to_json(self) -> dict[str, object]:
        return {"package": self.package, "newest": self.newest, "build": self.build, "oldest": self.oldest,
                "releases": self.releases, "range": self.range, "how": self.how, "source": self.source,
                "why": self.why, "known_bad": list(self.known_bad), "possible": list(self.possible),
                "gpu": self.gpu, "missing": self.missing, "command": self.command}


@dataclass(frozen=True)
class Row:
    """One torch build and its cells."""

    torch: str  # public version
    variant: str | None  # cu124, cpu, rocm6.2 (None: not recorded)
    build: str  # "torch 2.6.0 (cu124)", "torch 2.6.0+cu118"
    origin: str  # "pypi" (the default index) or "index" (the PyTorch index)
    cells: tuple[Cell, ...]
    gpu: str | None = None  # with a GPU: why this torch build cannot run on it

    def to_json(self) -> dict[str, object]:
        return {"torch": self.torch, "variant": self.variant, "build": self.build, "origin": self.origin,
                "gpu": self.gpu, "cells": [c.to_json() for c in self.cells]}


@dataclass(frozen=True)
class Matrix:
    """Rows of torch builds, columns of packages, for one target (platform, Python, GPU, ranges)."""

    target: Target
    packages: tuple[str, ...]
    rows: tuple[Row, ...]
    checked: str | None  # the newest checked date of the facts behind it

    def target_words(self) -> dict[str, str]:
        t = self.target
        return {"platform": str(t.platform or DEFAULT_PLATFORM), "python": str(t.python or "any"),
                "gpu": (f"{t.gpu_name} ({t.gpu})" if t.gpu_name else str(t.gpu)) if t.gpu else "any",
                "cuda": t.cuda.label if t.cuda else "any", "torch": str(t.torch) if t.torch else "any"}

    def to_json(self) -> dict[str, object]:
        return {"target": self.target_words(), "packages": list(self.packages), "checked": self.checked,
                "rows": [r.to_json() for r in self.rows]}


def build(db: Database, target: Target, packages: tuple[str, ...] | None = None,
          sources: dict[Target, CandidateSource] | None = None) -> Matrix:
    """The matrix of ``target`` (its torch range, CUDA variant, platform, Python and GPU) over
    ``packages`` (default: every covered package that pairs with some torch build).  ``sources``
    keeps the candidate sources of targets between calls (the page builds many matrices)."""
    target = replace(target, platform=target.platform or DEFAULT_PLATFORM, driver=None)
    sources = {} if sources is None else sources
    anyone = _source(db, replace(target, gpu=None, gpu_name=None), sources)
    gpu_src = _source(db, target, sources) if target.gpu is not None else None
    torches = torch_builds(anyone)
    names = packages if packages is not None else _columns(db, anyone)
    gpu_torch = {c.key: c for c in torch_builds(gpu_src)} if gpu_src is not None else {}
    rows = []
    for torch in torches:
        row_gpu = None
        cells = []
        on_gpu = gpu_torch.get(torch.key) if gpu_src is not None else None
        if gpu_src is not None and on_gpu is None:
            row_gpu = (_rejection(gpu_src, "torch", torch.describe(), "gpu")
                       or _rejection(gpu_src, "torch", torch.describe(), None) or "the GPU rules this torch build out")
        for name in names:
            base = pairing(anyone, torch, name)
            shown = pairing(gpu_src, on_gpu, name) if gpu_src is not None and on_gpu is not None else base
            cells.append(_cell(target, torch, base, shown, gpu_src, row_gpu))
        rows.append(Row(str(torch.version), torch.variant, torch.describe(), torch.source, tuple(cells), row_gpu))
    return Matrix(target, tuple(names), tuple(rows), _checked(db, ("torch", *names)))


def _source(db: Database, target: Target, sources: dict[Target, CandidateSource]) -> CandidateSource:
    if target not in sources:
        sources[target] = CandidateSource(facts_for(db), target, DatabaseLocations(db))
    return sources[target]


def _columns(db: Database, src: CandidateSource) -> tuple[str, ...]:
    """The covered packages (``refresh.toml [covered]``) whose builds are made for torch builds
    (xformers, flash-attn, torchvision, torchaudio) or that torch builds pin (triton).  Packages
    that only declare a torch range (unsloth) are columns when asked for (``--with``)."""
    covered = [n for n in model_for(db).covered() or () if n != "torch" and n in src.known()]
    pinned = {d.name for t in torch_builds(src) for d in t.dependencies}
    keep = [n for n in covered if has_build_source(n) or n in pinned]  # the same columns whatever the filters
    return tuple(sorted(keep, key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), covered.index(n))))


def _cell(target: Target, torch: Candidate, base: Pairing, shown: Pairing, gpu_src: CandidateSource | None,
          row_gpu: str | None) -> Cell:
    name = base.package
    best = shown.best
    gpu = None  # a torch build the GPU rules out is marked on its row (Row.gpu), not in each cell
    if row_gpu is None and gpu_src is not None and base.best is not None and (
            best is None or best.build.version != base.best.build.version):
        reason = _rejection(gpu_src, name, None, "gpu") or "the GPU rules its builds out"
        gpu = (f"{base.best.build.describe()} cannot run on it: {reason}" if best is not None else reason)
    cut = _cut_words(shown)
    command = generate_command(target, torch, name)
    if best is None:
        unknown = any(r.filter == "unknown" for r in shown.rejected)
        return Cell(name, None, None, None, 0, "unknown" if unknown else "none", None, "", cut, (), gpu,
                    _missing(shown) if gpu is None else None, command)
    versions = sorted({c.version for c in shown.builds})
    possible = tuple(f"{h.record.id}: {h.record.reason}" + (f" (depends on {', '.join(h.unknown)})" if h.unknown else "")
                     for h in best.possible)
    return Cell(name, str(best.build.version), best.build.describe(), str(versions[0]), len(versions), best.how,
                best.source, best.words, cut, possible, gpu, None, command)


def _cut_words(p: Pairing) -> tuple[str, ...]:
    by_record: dict[str, list[str]] = {}
    words: dict[str, str] = {}
    for cand, hit in p.cut:
        by_record.setdefault(hit.record.id, [])
        if str(cand.version) not in by_record[hit.record.id]:
            by_record[hit.record.id].append(str(cand.version))
        words[hit.record.id] = hit.record.reason
    return tuple(f"{rid}: {words[rid]} (takes out {', '.join(vs)})" for rid, vs in by_record.items())


def _missing(p: Pairing) -> str:
    """Why no build pairs: the target's filters that emptied the package, else no build for this torch."""
    if p.rejected:
        seen: list[str] = []
        for r in p.rejected:
            if r.filter not in ("torch-era", "pre-release", "yanked") and r.message not in seen:
                seen.append(r.message)
        if seen:
            return "; ".join(seen[:2]) + (f" (and {len(seen) - 2} more)" if len(seen) > 2 else "")
    return f"no {p.package} release was built for or declares {p.torch.describe()}"


def _rejection(src: CandidateSource, name: str, build: str | None, filter_: str | None) -> str | None:
    return next((r.message for r in src.rejections.get(name, ())
                 if filter_ in (None, r.filter) and (build is None or r.build == build)), None)


def generate_command(target: Target, torch: Candidate, package: str) -> str:
    """The ``attnlock generate`` command whose plan is this cell: the torch build, the target
    (nothing left to this machine's detection) and the package."""
    argv = ["attnlock", "generate", "--torch", str(torch.version)]
    if torch.variant is not None:
        argv += ["--cuda", torch.variant]
    argv += ["--platform", str(target.platform or DEFAULT_PLATFORM)]
    if target.python is not None:
        argv += ["--python", str(target.python)]
    argv += ["--gpu", target.gpu_name or (f"sm_{target.gpu.major}{target.gpu.minor}" if target.gpu else "any")]
    # torch is named in --with: a package torch pins (triton) is planned beside it, not alone.
    argv += ["--driver", "any", "--with", f"torch,{package}"]
    return shlex.join(argv)


def _checked(db: Database, names: tuple[str, ...]) -> str | None:
    dates = [d for d in (db.checked(n) for n in names) if d]
    return max(dates) if dates else None


def target_of(torch: str | None, cuda: str | None, python: str | None, platform: str | None) -> Target:
    """A matrix target from option text (no detection: the matrix describes the database)."""
    return Target(torch=SpecifierSet(torch) if torch else None,
                  cuda=CudaVariant.parse(cuda) if cuda else None,
                  python=PythonVersion.parse(python) if python and python != "any" else None,
                  platform=Platform.parse(platform) if platform else None)
