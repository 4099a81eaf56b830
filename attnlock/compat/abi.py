"""ABI windows: which torch builds one kernel build serves (``data/curated/abi.toml``).

A torch-coupled binary is built against one torch build.  Before torch's stable ABI it serves
exactly that torch; a build on the stable ABI serves every later release, and some windows were
measured rather than promised.  :class:`AbiWindow` is one curated record; :func:`judge` answers
"does this build load on that torch build?" with the reasons, for the resolver, ``check`` and
``diagnose`` alike.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.compat.problems import Problem, RecordError, load_strictly, source_text
from attnlock.model import CudaVariant, canonical

SERVES = ("exact", "exact-minor", "from-built")
CUDA_RULES = ("variant", "major")
PYTHON_RULES = ("binds", "abi3")


@dataclass(frozen=True)
class AbiWindow:
    """One curated window: the builds of ``package`` it covers and the torch builds they serve."""

    package: str
    versions: SpecifierSet
    built_for: SpecifierSet
    serves: str  # one of SERVES, or a PEP 440 specifier (a measured window)
    cuda: str  # one of CUDA_RULES
    cxx11abi: bool  # the torch build's C++11 ABI must equal the build's
    python: str  # one of PYTHON_RULES
    checked_through: Version | None
    runtime: str | None  # "nvidia-cuda-runtime-cu{major}": the wheel that brings a build's CUDA runtime
    source: str
    note: str = ""

    @classmethod
    def parse(cls, rec: Mapping[str, Any]) -> AbiWindow:
        """A window from its TOML record; :class:`RecordError` names the first bad key."""
        serves = _text(rec, "serves")
        if serves not in SERVES:
            try:
                SpecifierSet(serves)
            except InvalidSpecifier:
                raise RecordError("serves", f"{serves!r} is neither one of {', '.join(SERVES)} nor a specifier") from None
        cuda = _text(rec, "cuda")
        if cuda not in CUDA_RULES:
            raise RecordError("cuda", f"{cuda!r} is not one of {', '.join(CUDA_RULES)}")
        python = _text(rec, "python")
        if python not in PYTHON_RULES:
            raise RecordError("python", f"{python!r} is not one of {', '.join(PYTHON_RULES)}")
        abi = rec.get("cxx11abi")
        if not isinstance(abi, bool):
            raise RecordError("cxx11abi", "must be true or false")
        through = rec.get("checked_through")
        runtime = rec.get("runtime")
        if runtime is not None and (not isinstance(runtime, str) or "{major}" not in runtime):
            raise RecordError("runtime", "must be a package name with a {major} placeholder")
        try:
            checked = Version(str(through)) if through is not None else None
        except InvalidVersion:
            raise RecordError("checked_through", f"{through!r} is not a version") from None
        return cls(
            package=canonical(_text(rec, "package")),
            versions=_spec(rec, "versions"),
            built_for=_spec(rec, "built_for"),
            serves=serves,
            cuda=cuda,
            cxx11abi=abi,
            python=python,
            checked_through=checked,
            runtime=runtime,
            source=source_text(rec),
            note=str(rec.get("note", "")),
        )

    def covers(self, package: str, version: Version, built: Version) -> bool:
        """Whether this record is the one for a build of ``package`` ``version`` made for torch ``built``."""
        return (canonical(package) == self.package and self.versions.contains(version, prereleases=True)
                and self.built_for.contains(Version(built.public), prereleases=True))

    def torch_range(self, built: Version) -> SpecifierSet:
        """The torch releases (public versions) a build made for ``built`` serves."""
        b = Version(built.public)
        if self.serves == "exact":
            return SpecifierSet(f"=={b}")
        if self.serves == "exact-minor":
            return SpecifierSet(f"=={b.major}.{b.minor}.*")
        if self.serves == "from-built":
            return SpecifierSet(f">={b}")
        return SpecifierSet(self.serves)

    @property
    def stable(self) -> bool:
        """Whether the window reaches past the torch the build was made for."""
        return self.serves not in ("exact", "exact-minor")

    def describe(self, built: Version) -> str:
        """``the stable-ABI window (torch >= 2.10.0, CUDA 12)`` in words, for reasons and notes."""
        rng = self.torch_range(built)
        major = _major(built.local)
        cuda = (f", CUDA {major}" if self.cuda == "major" and major is not None
                else f", {built.local} builds" if self.cuda == "variant" and built.local else "")
        kind = ("the stable-ABI window" if self.serves == "from-built" else
                "the measured window" if self.stable else "the exact-build rule")
        return f"{kind} (torch {rng}{cuda})"

    def unchecked(self, torch: Version) -> bool:
        """Whether ``torch`` lies beyond the newest release this window was checked against."""
        return self.stable and self.checked_through is not None and Version(torch.public) > self.checked_through

    def runtime_wheel(self, major: int) -> str | None:
        return self.runtime.format(major=major) if self.runtime else None


@dataclass(frozen=True)
class Verdict:
    """Whether a build loads on a torch build, and every reason it does not."""

    ok: bool
    reasons: tuple[str, ...]
    window: AbiWindow | None
    way_out: str | None = None  # what brings the build's CUDA runtime in, where that is the only miss
    note: str | None = None  # a pass with a caveat (a torch newer than the window was checked against)


def judge(window: AbiWindow | None, built: Version, cxx11abi: bool | None,
          torch: Version, torch_variant: str | None, torch_cxx11abi: bool | None) -> Verdict:
    """Does a build made for torch ``built`` (local label = its CUDA variant) load on ``torch``?

    Without a window the build is taken to be exact to the torch it was made for (the safe reading).
    """
    reasons: list[str] = []
    rng = window.torch_range(built) if window else SpecifierSet(f"=={Version(built.public)}")
    if not rng.contains(Version(torch.public), prereleases=True):
        reasons.append(f"it serves torch {rng}, not {torch.public}")
    rule = window.cuda if window else "variant"
    cuda_miss = False
    if built.local is not None and torch_variant is not None:
        if rule == "variant" and built.local != torch_variant:
            reasons.append(f"it was built for {built.local}; this torch is {torch_variant}")
        elif rule == "major":
            mine, theirs = _major(built.local), _major(torch_variant)
            if mine is None or theirs is None:  # ROCm, CPU, XPU: no CUDA major to share, the label decides
                if built.local != torch_variant:
                    reasons.append(f"it was built for {built.local}; this torch is {torch_variant}")
            elif mine != theirs:
                cuda_miss = True
                reasons.append(f"it links the CUDA {mine} runtime; this torch is a "
                               f"{'CUDA ' + str(theirs) if theirs is not None else torch_variant} build")
    if (window is None or window.cxx11abi) and cxx11abi is not None and torch_cxx11abi is not None \
            and cxx11abi != torch_cxx11abi:
        reasons.append(f"it was built with cxx11abi={'TRUE' if cxx11abi else 'FALSE'}; this torch has "
                       f"{'TRUE' if torch_cxx11abi else 'FALSE'}")
    way_out = None
    if cuda_miss and len(reasons) == 1 and window is not None and built.local is not None:
        major = _major(built.local)
        wheel = window.runtime_wheel(major) if major is not None else None
        if wheel:
            way_out = f"{wheel} on LD_LIBRARY_PATH"
    note = None
    if not reasons and window is not None and window.unchecked(torch):
        note = (f"{window.package} builds for torch {built.public} are on {window.describe(built)}; torch "
                f"{torch.public} is newer than any release it was checked against ({window.checked_through})")
    return Verdict(not reasons, tuple(reasons), window, way_out, note)


PAIRINGS = ("exact", "window", "measured")


def pairing(window: AbiWindow | None, built: Version, torch: Version) -> str:
    """How a build made for torch ``built`` serves ``torch`` (which it does: see :func:`judge`):
    ``exact`` (built for that torch release, or that minor where the rule is exact-minor),
    ``measured`` (through a window checked on a release at least as new as ``torch``) or
    ``window`` (through an ABI window resting on an upstream statement)."""
    b, t = Version(built.public), Version(torch.public)
    if window is None or b == t:
        return "exact"
    if window.serves == "exact-minor":
        return "exact"
    if window.serves not in SERVES and b.release[:2] == t.release[:2]:
        return "exact"  # a torch2.10 wheel on torch 2.10.x: the minor it was labelled for
    if window.checked_through is not None and t <= window.checked_through:
        return "measured"
    return "window"


def parse_windows(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[AbiWindow, ...], list[Problem]]:
    """Every window that parses, and a problem for each record that does not."""
    return load_strictly(records, AbiWindow.parse, file, "window")


def find(windows: Iterable[AbiWindow], package: str, version: Version, built: Version) -> AbiWindow | None:
    """The first window covering a build (records are ordered; the first match wins)."""
    return next((w for w in windows if w.covers(package, version, built)), None)


def label_matches(glob: str, label: str | None) -> bool:
    """An fnmatch glob over a build's local label, compared as packaging normalises labels (lowercase)."""
    return label is not None and fnmatch.fnmatchcase(label.lower(), glob.lower())


def _major(label: str | None) -> int | None:
    if label is None:
        return None
    try:
        v = CudaVariant.parse(label)
    except Exception:  # a label that is not a CUDA variant (rocm6.2 parses; "foo" does not)
        return None
    return v.version.major if v.is_cuda and v.version is not None else None


def _text(rec: Mapping[str, Any], key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(key, "missing or not a string")
    return value


def _spec(rec: Mapping[str, Any], key: str) -> SpecifierSet:
    text = _text(rec, key)
    try:
        return SpecifierSet("" if text == "*" else text)
    except InvalidSpecifier:
        raise RecordError(key, f"{text!r} is not a version specifier") from None
