"""Requirements the resolver works with: a name, a version range and, for torch, the build it needs.

A PEP 508 requirement cannot say "the cu128 build of torch 2.10.0" or "any torch 2.3.x built
for CUDA 12 with the pre-C++11 ABI"; xformers' build info and flash-attn's wheel labels say
exactly that, so a :class:`Req` carries those build constraints beside the specifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet

if TYPE_CHECKING:
    from attnlock.resolver.candidates import Candidate


@dataclass(frozen=True)
class Req:
    """What one parent (or the user, when ``parent`` is None) asks of a package."""

    name: str
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    variant: str | None = None  # the torch build label that must be chosen ("cu128", "cpu")
    cuda_major: int | None = None  # the CUDA major the torch build must have (flash-attn wheels)
    cxx11abi: bool | None = None  # the C++ ABI the torch build must have (flash-attn wheels)
    extras: frozenset[str] = frozenset()
    parent: str | None = None  # "xformers 0.0.35 (built for torch 2.10.0+cu128)"; None: the user
    source: str | None = None  # the build must come from here ("pypi": the default-index build)
    # A CUDA torch build must be one the package ships a native library for (bitsandbytes loads the
    # library named after torch's CUDA): its label among these ("exact") or its CUDA major ("major").
    cuda_libs: frozenset[str] | None = None
    cuda_libs_match: str = "exact"

    def satisfied_by(self, cand: Candidate) -> bool:
        """Whether ``cand`` meets the range and every build constraint."""
        if cand.name != self.name:
            return False
        pre = self._pre
        if cand.version.is_prerelease and not pre and cand.source != "installed":
            return False  # pre-releases and dev builds only when a range names one (PEP 440); a custom
            #              torch the target names (NGC's 2.1.0a0) is the machine's, not a choice
        if not self.specifier.contains(cand.version, prereleases=True if pre else None):
            return False
        if self.variant is not None and cand.variant != self.variant:
            return False
        if self.cuda_major is not None and cand.cuda_major != self.cuda_major:
            return False
        if self.cxx11abi is not None and cand.cxx11abi is not None and cand.cxx11abi != self.cxx11abi:
            return False
        if self.source is not None and cand.source != self.source:
            return False
        if self.cuda_libs is not None and cand.variant is not None and cand.variant.startswith("cu"):
            if self.cuda_libs_match == "major":
                if cand.cuda_major not in {_label_major(lab) for lab in self.cuda_libs}:
                    return False
            elif cand.variant not in self.cuda_libs:
                return False
        return self.extras <= cand.extras

    @property
    def key(self) -> tuple[object, ...]:
        """What decides which candidates meet this requirement (the parent aside), computed once."""
        cached: tuple[object, ...] | None = self.__dict__.get("_key_cache")
        if cached is None:
            cached = (self.name, str(self.specifier), self.variant, self.cuda_major, self.cxx11abi, self.extras,
                      self.source, self.cuda_libs, self.cuda_libs_match)
            object.__setattr__(self, "_key_cache", cached)
        return cached

    @property
    def _pre(self) -> bool:
        cached = self.__dict__.get("_pre_cache")
        if cached is None:
            cached = _pre(self.specifier)
            object.__setattr__(self, "_pre_cache", cached)
        return bool(cached)

    def describe(self) -> str:
        """``torch==2.10.0 (cu128 build)``: the requirement in words."""
        text = self.name + (f"[{','.join(sorted(self.extras))}]" if self.extras else "") + str(self.specifier)
        build = []
        if self.variant is not None:
            build.append(f"{self.variant} build")
        if self.cuda_major is not None:
            build.append(f"CUDA {self.cuda_major}")
        if self.cxx11abi is not None:
            build.append(f"cxx11abi={'TRUE' if self.cxx11abi else 'FALSE'}")
        if self.source == "pypi":
            build.append("default-index build")
        if self.cuda_libs is not None:
            libs = ", ".join(sorted(self.cuda_libs, key=lambda lab: _label_major(lab) or 0))
            build.append(f"a CUDA build {'of the CUDA major of one' if self.cuda_libs_match == 'major' else 'among'} "
                         f"{libs}" if self.cuda_libs else "no CUDA build")
        return text + (f" ({', '.join(build)})" if build else "")


def _label_major(label: str) -> int | None:
    """``cu118`` -> 11, ``cu130`` -> 13 (the last digit is the minor)."""
    digits = label[2:]
    return int(digits[:-1]) if label.startswith("cu") and digits.isdigit() and len(digits) >= 2 else None


def _pre(spec: SpecifierSet) -> bool:
    return any(s.prereleases for s in spec)


@dataclass(frozen=True)
class Cut:
    """Builds of one package taken out of a search branch: a known-bad combination's member.

    The release range, and where the record names them, the build label glob and the torch
    build's CUDA variants; ``reason`` is what the plan says about it.
    """

    specifier: SpecifierSet
    reason: str
    label: str | None = None
    variants: tuple[str, ...] = ()

    def applies(self, cand: Candidate) -> bool:
        from attnlock.compat.abi import label_matches

        if not self.specifier.contains(cand.version, prereleases=True):
            return False
        if self.label is not None and not label_matches(self.label, cand.label):
            return False
        return not self.variants or cand.variant in self.variants
