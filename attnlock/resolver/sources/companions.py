"""torchvision / torchaudio: releases paired with one torch release, from the default index and the PyTorch indexes."""

from __future__ import annotations

from dataclasses import replace

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.model import Platform, exact_version
from attnlock.resolver.candidates import Candidate, CandidateSource
from attnlock.resolver.requirement import Req
from attnlock.resolver.sources.torch import pypi_variant


def companion_candidates(self: CandidateSource, name: str) -> list[Candidate]:
    out: list[Candidate] = []
    # Releases without an exact torch pin come last: a pinned pairing is a checked fact.
    unpinned: list[Candidate] = []
    torches = self._torch_versions()
    for rel in reversed(self.db.releases(name)):
        every = self._deps(rel, parent=f"{name} {rel.version}")
        treq = next((d for d in every if d.name == "torch"), None)
        pinned = exact_version(treq.specifier) if treq is not None else None
        if pinned is not None and pinned not in torches:
            continue  # paired with a torch the target rules out
        if not self._release_ok(rel):
            continue
        base = tuple(d for d in every if d.name != "torch")
        if pinned is None:
            # No recorded torch pin (torchaudio 2.11.0's metadata): a default-index wheel, so
            # only beside the default-index torch.
            deps = base + ((replace(treq, source="pypi") if treq is not None
                            else Req("torch", parent=f"{name} {rel.version}", source="pypi")),)
            why = "Requires-Dist" if treq is not None else (
                "declares no torch requirement, so attnlock cannot check it against the planned torch; "
                "no release pinned to that torch fits")
            unpinned.append(Candidate(name, rel.version, None, "pypi", deps=deps, why=why))
            continue
        if pinned not in self._torch_versions():
            continue
        pypi = pypi_variant(self, pinned)
        parent = f"{name} {rel.version} (pairs with torch {pinned})"
        if pypi is None or self.target.cuda is None or pypi == self.target.cuda:
            out.append(Candidate(
                name, rel.version, None, "pypi", variant=pypi.label if pypi else None,
                # The default-index build of the companion pairs with the default-index torch:
                # a torch+cuXXX from the PyTorch index needs the companion's +cuXXX build.
                deps=base + (Req("torch", SpecifierSet(f"=={pinned}"), variant=pypi.label if pypi else None,
                                 parent=parent, source="pypi"),),
                why=f"pairs with torch {pinned}" + (f" ({pypi.label})" if pypi else "")))
        tv = self.db.torch_variants(pinned)
        plat = self._platform or Platform("linux", "x86_64")
        if tv is None or plat.os not in ("linux", "windows"):
            continue
        # The torch build order: CUDA variants newest first, then the rest (a CPU build listed
        # first would drag torch to it during backtracking).
        ordered = sorted((v for v in tv.index if v.is_cuda), key=lambda v: v.version or Version("0"),
                         reverse=True) + [v for v in tv.index if not v.is_cuda]
        for variant in ordered:
            if variant == pypi:
                continue
            build = f"{name} {rel.version}+{variant.label}"
            if self.target.cuda is not None and variant != self.target.cuda:
                continue
            if not self._variant_ok(build, name, variant, pinned):
                continue
            out.append(Candidate(
                name, rel.version, variant.label, "index", variant=variant.label,
                index=self.locations.index_url(variant.label),
                deps=base + (Req("torch", SpecifierSet(f"=={pinned}"), variant=variant.label,
                                 parent=f"{build} (pairs with torch {pinned}+{variant.label})"),),
                why=f"the {variant.label} build from the PyTorch index, paired with torch {pinned}+{variant.label}",
            ))
    return out + unpinned
