"""Candidates are builds, not versions: every installable build of a package for one target.

torch 2.3.1 from the default index (its PyPI build, cu121) and torch 2.3.1+cu118 from the
PyTorch index are two candidates; so are the PyPI xformers 0.0.27 (built for the torch named in
its ``cpp_lib.json``) and its PyTorch-index builds, and each labelled flash-attn wheel of the
GitHub release matrix.  :class:`CandidateSource` builds them from the database, best first,
drops those the target rules out and remembers why (:class:`Rejection`), so a failed resolution
can say which filter emptied a package.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.compat import KernelBuild, Model
from attnlock.compat import model_for
from attnlock.database.store import Release, marker_holds, target_environment
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, Target, canonical
from attnlock.resolver.facts import Facts
from attnlock.resolver.locations import Locations
from attnlock.resolver.requirement import Cut, Req

# Packages whose builds pair with one torch build (Requires-Dist `torch==X`): their PyTorch-index
# builds carry the torch build's variant label.
_TORCH_COMPANIONS = ("torchvision", "torchaudio")


@dataclass(frozen=True, eq=False)
class Candidate:
    """One installable build of a package."""

    name: str
    version: Version  # public version
    label: str | None  # local label of the build ("cu118", "cu122torch2.3cxx11abiFALSE"); None: plain
    source: str  # "pypi" (default index), "index" (PyTorch index), "url" (direct wheel), "sdist"
    variant: str | None = None  # CUDA variant label of the build ("cu121", "cpu"); None: unknown / n.a.
    cxx11abi: bool | None = None
    index: str | None = None
    url: str | None = None
    deps: tuple[Req, ...] = ()
    extras: frozenset[str] = frozenset()
    why: str = ""  # where the build's facts come from, for the plan's reason line
    requires_dist: tuple[str, ...] = ()
    lazy_deps: Callable[[], tuple[Req, ...]] | None = None  # computed on first use (most are never asked)
    built_for: Version | None = None  # kernel builds: the torch build the extension was compiled for
    community: str | None = None  # a community source's words (--source community): named on the pin

    @property
    def dependencies(self) -> tuple[Req, ...]:
        """``deps`` plus the lazily computed Requires-Dist edges (cached)."""
        cached = self.__dict__.get("_deps_cache")
        if cached is None:
            cached = self.deps + (self.lazy_deps() if self.lazy_deps is not None else ())
            object.__setattr__(self, "_deps_cache", cached)
        return cached

    @property
    def key(self) -> tuple[object, ...]:
        cached = self.__dict__.get("_key")
        if cached is None:
            cached = (self.name, self.version, self.label, self.source, self.variant, self.index, self.url, self.extras)
            object.__setattr__(self, "_key", cached)
        return cached

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def full_version(self) -> Version:
        """The version with its local label where the build has one (``2.3.1+cu118``)."""
        return Version(f"{self.version}+{self.label}") if self.label else self.version

    @property
    def cuda_major(self) -> int | None:
        return _variant_major(self.variant) if self.variant is not None else None

    def describe(self) -> str:
        """``torch 2.3.1+cu118`` / ``torch 2.3.1 (cu121)`` for the default-index build."""
        if self.label:
            return f"{self.name} {self.version}+{self.label}"
        if self.variant and self.name == "torch":
            return f"{self.name} {self.version} ({self.variant})"
        return f"{self.name} {self.version}"

    def __repr__(self) -> str:
        return f"<Candidate {self.describe()} from {self.source}>"


@dataclass(frozen=True)
class Rejection:
    """A build the target rules out: what, which filter (``python``, ``platform``, ``gpu``,
    ``driver``, ``cuda``, ``known-bad``, ``yanked``, ``sdist``), and the sentence to show."""

    package: str
    build: str
    filter: str
    message: str


@dataclass
class CandidateSource:
    """Builds the candidates of each package for one target (cached per package and extras)."""

    db: Facts
    target: Target
    locations: Locations
    allow_build: frozenset[str] = frozenset()
    allow_pre: frozenset[str] = frozenset()  # packages whose wanted range names a pre-release
    user_pinned: frozenset[str] = frozenset()  # packages the user pinned (==): no upload-era bound
    excluded: dict[str, list[Cut]] = field(default_factory=dict)
    reachable: frozenset[str] | None = None  # PyTorch-index variants an installer can reach (None: all)
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    base: CandidateSource | None = None  # the same target without exclusions: its builds are reused
    community: frozenset[str] = frozenset()  # community sources the user opted into (--source community)
    _cache: dict[tuple[str, frozenset[str]], list[Candidate]] = field(default_factory=dict)
    _known: frozenset[str] | None = None

    # -- public ---------------------------------------------------------------

    def known(self) -> frozenset[str]:
        """Every package the database has releases or wheels for."""
        if self._known is None:
            self._known = known_packages(self.db)
        return self._known

    def candidates(self, name: str, extras: frozenset[str] = frozenset()) -> list[Candidate]:
        """The builds of ``name`` that run on the target, best first."""
        key = (name, extras)
        if key not in self._cache and self.base is not None:
            found = self.base.candidates(name, extras)
            for r in self.base.rejections.get(name, []):
                self.reject(r.package, r.build, r.filter, r.message)
            self.rejections.setdefault(name, [])
            self._cache[key] = [c for c in found if not self._is_excluded(c)]
        if key not in self._cache:
            self.rejections.setdefault(name, [])
            found = build_source(name)(self, name, extras)
            self._cache[key] = [c for c in found if not self._is_excluded(c)]
        return self._cache[key]

    def viable(self, name: str, extras: frozenset[str] = frozenset(), depth: int = 1) -> list[Candidate]:
        """The candidates whose every edge can be met by some build that is itself viable.

        Arc consistency to ``depth`` levels, before resolvelib sees the candidates: an unsloth
        release needing torch>=2.4 never reaches a resolution whose only torch is 2.3.1, which
        would otherwise backtrack through every pair of unsloth and xformers releases.
        """
        return [c for c in self.candidates(name, extras) if self._viable(c, depth)]

    def _viable(self, cand: Candidate, depth: int) -> bool:
        memo: dict[tuple[object, int], bool] = self.__dict__.setdefault("_viable_memo", {})
        key = (cand.key, depth)
        if key not in memo:
            memo[key] = True  # a cycle is optimistic
            ok = True
            met: dict[tuple[object, ...], bool] = self.__dict__.setdefault("_met_memo", {})
            for dep in cand.dependencies:
                dkey = (dep.key, depth)
                if dkey not in met:
                    met[dkey] = True  # a cycle is optimistic
                    # Some build meets the edge and is itself viable one level down: checked build by
                    # build, newest first, stopping at the first (most edges are met by the newest).
                    met[dkey] = any(dep.satisfied_by(c) and (depth < 1 or self._viable(c, depth - 1))
                                    for c in self.candidates(dep.name, dep.extras))
                if not met[dkey]:
                    ok = False
                    break
            memo[key] = ok
        return memo[key]

    def reject(self, package: str, build: str, filter_: str, message: str) -> None:
        seen: set[tuple[str, str, str]] = self.__dict__.setdefault("_rejected", set())
        if (package, build, filter_) not in seen:
            seen.add((package, build, filter_))
            self.rejections.setdefault(package, []).append(Rejection(package, build, filter_, message))

    def _torch_versions(self) -> set[Version]:
        """Public versions of the torch builds the target allows: builds of other packages that
        need a torch outside this set can never be chosen, so they are not even made."""
        cached = self.__dict__.get("_torch_versions_cache")
        if cached is None:
            cached = {c.version for c in self.candidates("torch")}
            self.__dict__["_torch_versions_cache"] = cached
        return cached

    # -- shared filters -------------------------------------------------------

    @property
    def _platform(self) -> Platform | None:
        return self.target.platform

    @property
    def _python(self) -> PythonVersion | None:
        return self.target.python

    def _is_excluded(self, cand: Candidate) -> bool:
        if self.reachable is not None and cand.source == "index" and cand.variant not in self.reachable:
            self.reject(cand.name, cand.describe(), "index",
                        f"{cand.describe()} comes from the PyTorch index for {cand.variant}, which is not configured")
            return True
        for cut in self.excluded.get(cand.name, []):
            if cut.applies(cand):
                self.reject(cand.name, cand.describe(), "known-bad", cut.reason)
                return True
        return False

    def _release_ok(self, rel: Release, *, need_wheel: bool = True) -> bool:
        """Python range, yanked state and (unless an sdist may be built) a wheel for the target."""
        desc = f"{rel.package} {rel.version}"
        if rel.version.is_prerelease and rel.package not in self.allow_pre:
            self.reject(rel.package, desc, "pre-release", f"{desc} is a pre-release (ask for it with a range)")
            return False
        if rel.yanked:
            self.reject(rel.package, desc, "yanked", f"{desc} is yanked")
            return False
        if not rel.python_ok(self._python):
            self.reject(rel.package, desc, "python",
                        f"{desc} requires Python {rel.requires_python}; the target is Python {self._python}")
            return False
        if need_wheel and not self.db.wheel_ok(rel, self._platform, self._python):
            self.reject(rel.package, desc, "platform",
                        f"{desc} has no wheel for {self._target_words()}")
            return False
        return True

    def _target_words(self) -> str:
        parts = []
        if self._platform is not None:
            parts.append(str(self._platform))
        if self._python is not None:
            parts.append(f"Python {self._python}")
        return " / ".join(parts) or "the target"

    def _deps(self, rel: Release, extras: Iterable[str] = (), *, skip: Iterable[str] = (),
              parent: str) -> tuple[Req, ...]:
        """Requires-Dist on the target, restricted to packages the database covers.

        Names are screened before parsing: a release of unsloth lists sixty requirements of
        which a handful are packages the database covers, and parsing is the cost.
        """
        rec = rel.metadata_for(self._platform)
        if rec is None:
            return ()
        skip_set = {canonical(s) for s in skip} | {rel.package}
        known = self.known()
        env = self._env()
        extras = tuple(extras)
        holds: dict[tuple[str, tuple[str, ...]], bool] = self.__dict__.setdefault("_marker_memo", {})
        out = []
        for name, text in rec.lines_naming(known, frozenset(extras)):
            if name in skip_set:
                continue
            parts = _split_requirement(text)
            if parts is None:
                continue
            req_name, spec, req_extras, marker = parts
            if marker is not None:
                key = (marker, extras)
                if key not in holds:
                    holds[key] = marker_holds(_parse_marker(marker), env, extras)
                if not holds[key]:
                    continue
            out.append(Req(req_name, spec, extras=req_extras, parent=parent))
        return tuple(out)

    def _torch_fits(self, rel: Release, torches: set[Version], extras: frozenset[str]) -> bool:
        """Whether some allowed torch meets ``rel``'s torch requirements (only those lines are parsed)."""
        specs = self._torch_specs(rel, extras)
        return not specs or any(all(sp.contains(v, prereleases=True) for sp in specs) for v in torches)

    def _torch_specs(self, rel: Release, extras: frozenset[str]) -> list[SpecifierSet]:
        """``rel``'s torch requirements that apply on the target with ``extras`` (cached)."""
        memo: dict[tuple[str, Version, frozenset[str]], list[SpecifierSet]] = self.__dict__.setdefault(
            "_torch_specs_memo", {})
        key = (rel.package, rel.version, extras)
        if key not in memo:
            memo[key] = self._torch_specs_uncached(rel, extras)
        return memo[key]

    def _torch_specs_uncached(self, rel: Release, extras: frozenset[str]) -> list[SpecifierSet]:
        rec = rel.metadata_for(self._platform)
        if rec is None:
            return []
        holds: dict[tuple[str, tuple[str, ...]], bool] = self.__dict__.setdefault("_marker_memo", {})
        env, ex = self._env(), tuple(extras)
        specs = []
        for _name, text in rec.lines_naming(_TORCH_ONLY, extras):
            parts = _split_requirement(text)
            if parts is None:
                continue
            marker = parts[3]
            if marker is not None:
                key = (marker, ex)
                if key not in holds:
                    holds[key] = marker_holds(_parse_marker(marker), env, ex)
                if not holds[key]:
                    continue
            specs.append(parts[1])
        return specs

    def _env(self) -> dict[str, str]:
        env = self.__dict__.get("_env_cache")
        if env is None:
            env = target_environment(self._platform, self._python)
            self.__dict__["_env_cache"] = env
        return env

    def _variant_ok(self, build: str, package: str, variant: CudaVariant, torch: Version, *,
                    major_only: bool = False) -> bool:
        """The target's CUDA choice, driver and GPU architecture against one build (of torch, or of a
        kernel made for ``torch``); with ``major_only`` (an ABI window that needs only the CUDA major)
        a cu126 build serves a cu128 target."""
        t = self.target
        if t.cuda is not None and variant != t.cuda and not (
                major_only and variant.is_cuda and t.cuda.is_cuda and variant.version is not None
                and t.cuda.version is not None and variant.version.major == t.cuda.version.major):
            self.reject(package, build, "cuda", f"{build} is a {variant.label} build; the target wants {t.cuda.label}")
            return False
        if t.cuda is None and t.gpu is not None and not variant.is_cuda:
            self.reject(package, build, "cuda", f"{build} is a {variant.label} build; the target has an NVIDIA GPU "
                        f"({t.gpu}{self._gpu_suffix()}); pass --cuda {variant.label} to plan one")
            return False
        if t.cuda is None and t.driver is not None and not variant.is_cuda:
            # An NVIDIA driver was given (or detected): a CUDA build is wanted; only --cuda cpu plans a CPU one.
            self.reject(package, build, "cuda", f"{build} is a {variant.label} build; the target has NVIDIA driver "
                        f"{t.driver}; pass --cuda {variant.label} to plan one")
            return False
        if variant.is_cuda and variant.version is not None:
            if self._platform is not None and self._platform.os == "macos":
                self.reject(package, build, "platform", f"{build} is a CUDA build; macOS has no CUDA")
                return False
            if t.driver is not None and not self._driver_ok(variant.version):
                self.reject(package, build, "driver", self._driver_message(build, variant))
                return False
            if t.gpu is not None:
                archs = self.db.torch_arch_list(torch, variant)
                if archs and not _arch_runs(archs, t.gpu):
                    listed = ", ".join(str(a) for a in archs)
                    self.reject(package, build, "gpu",
                                f"{build} has no kernels for {t.gpu}{self._gpu_suffix()} (built for {listed})")
                    return False
        return True

    def _gpu_suffix(self) -> str:
        return f" ({self.target.gpu_name})" if self.target.gpu_name else ""

    def _driver_ok(self, cuda: Version) -> bool:
        driver = self.target.driver
        assert driver is not None
        tk = self.db.toolkit(cuda)
        if tk is None:
            return True  # unknown toolkit: nothing recorded to judge by
        os_name = self._platform.os if self._platform is not None else "linux"
        if os_name == "windows":
            return tk.windows_driver_min is None or driver >= tk.windows_driver_min
        if tk.linux_driver_min is not None and driver >= tk.linux_driver_min:
            return True
        # CUDA minor-version compatibility: any toolkit of a major runs on the major's floor.
        # https://docs.nvidia.com/deploy/cuda-compatibility/#minor-version-compatibility
        return tk.linux_driver_min_compat is not None and driver >= tk.linux_driver_min_compat

    def _driver_message(self, build: str, variant: CudaVariant) -> str:
        driver = self.target.driver
        assert driver is not None and variant.version is not None
        os_name = self._platform.os if self._platform is not None else "linux"
        strict = self.db.cuda_max_for_driver(driver, os_name)
        compat = self.db.cuda_max_for_driver(driver, os_name, compat=True)
        if strict is None and compat is None:
            supports = "no CUDA toolkit the database knows"
        else:
            supports = f"CUDA ≤ {strict}" if strict is not None else f"CUDA {compat} only by minor-version compatibility"
            if compat is not None and strict is not None and compat > strict:
                supports += f" ({compat.major}.x through minor-version compatibility)"
        floor = model_for(self.db).driver_floor_text(variant.version, os_name)  # as NVIDIA prints it
        upgrade = f"; or upgrade the driver to ≥ {floor}" if floor is not None else ""
        return (f"driver {driver} supports {supports}; {build} needs CUDA {variant.version} "
                f"({variant.label} build){upgrade}")



















# ------------------------------------------------------------------ per-package sources


class BuildSource(Protocol):
    """Makes the candidates of one package for a :class:`CandidateSource` (its target, filters, rejections)."""

    def __call__(self, src: CandidateSource, name: str, extras: frozenset[str], /) -> list[Candidate]: ...


def build_source(name: str) -> BuildSource:
    """The source of ``name``'s builds: torch, xformers, flash-attn and the torch companions have their
    own (:mod:`attnlock.resolver.sources`); every other package is read from its releases."""
    from attnlock.resolver.sources import companions, flash_attn, generic, torch, xformers

    table: dict[str, BuildSource] = {
        "torch": lambda src, _n, _e: torch.torch_candidates(src),
        "xformers": lambda src, _n, _e: xformers.xformers_candidates(src),
        "flash-attn": lambda src, _n, _e: flash_attn.flash_attn_candidates(src),
        **{c: (lambda src, n, _e: companions.companion_candidates(src, n)) for c in _TORCH_COMPANIONS},
    }
    return table.get(name, generic.generic_candidates)


def has_build_source(name: str) -> bool:
    """Whether ``name``'s builds come from a source of their own (each made for, or paired with,
    one torch build: xformers, flash-attn, the torch companions) rather than from its releases."""
    return name in ("xformers", "flash-attn", *_TORCH_COMPANIONS)


# ------------------------------------------------------------------ helpers


def known_packages(db: object) -> frozenset[str]:
    """Every package the database has releases or wheels of (what the resolver can plan)."""
    from attnlock.resolver.facts import facts_for

    facts = facts_for(db)  # type: ignore[arg-type]
    names = set(facts.packages())
    if model_for(db).flash_attn_releases():
        names.add("flash-attn")
    return frozenset(names)

_TORCH_ONLY = frozenset({"torch"})


@functools.lru_cache(maxsize=None)
def _canonical(name: str) -> str:
    return canonical(name)


@functools.lru_cache(maxsize=None)
def _variant_major(label: str) -> int | None:
    v = CudaVariant.parse(label)
    return v.version.major if v.is_cuda and v.version is not None else None


_SIMPLE = re.compile(
    r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?\s*"
    r"(?P<spec>\(?\s*[<>=!~][^;()@]*\)?)?\s*(?:;\s*(?P<marker>.+))?\s*$")


@functools.lru_cache(maxsize=None)
def _split_requirement(text: str) -> tuple[str, SpecifierSet, frozenset[str], str | None] | None:
    """(name, specifier, extras, marker text) of a Requires-Dist line; None when it does not parse.

    Markers repeat across hundreds of releases while version ranges differ, so the two are
    parsed (and cached) apart; anything unusual goes through :class:`Requirement` itself.
    """
    m = _SIMPLE.fullmatch(text)
    if m is not None:
        spec_text = (m.group("spec") or "").strip().strip("()").strip()
        try:
            spec = _specifier(spec_text)
        except InvalidSpecifier:
            m = None
        else:
            extras = frozenset(_canonical(e.strip()) for e in (m.group("extras") or "").split(",") if e.strip())
            return _canonical(m.group("name")), spec, extras, m.group("marker")
    r = _parse_requirement(text)
    if r is None:
        return None
    return (_canonical(r.name), r.specifier, frozenset(_canonical(e) for e in r.extras),
            str(r.marker) if r.marker is not None else None)


@functools.lru_cache(maxsize=None)
def _specifier(text: str) -> SpecifierSet:
    return SpecifierSet(text)


@functools.lru_cache(maxsize=None)
def _parse_marker(text: str) -> Marker:
    return Marker(text)


@functools.lru_cache(maxsize=None)
def _parse_requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None



def _req(r: Requirement, parent: str | None) -> Req:
    return Req(_canonical(r.name), r.specifier, extras=frozenset(_canonical(e) for e in r.extras), parent=parent)




def _cuda_major(label: str) -> int | None:
    m = re.fullmatch(r"cu(\d+)", label)
    if not m:
        return None
    digits = m.group(1)
    return int(digits) if len(digits) <= 2 else int(digits[:-1])


def _series(package: str, spec_text: str) -> str:
    """``flash-attn >=2.7.4.post1,<=2.8.3.post1`` → ``flash-attn 2.x`` when the range stays in one
    major (a user thinks in release series, not in the record's bounds); else the range itself."""
    majors: set[int] = set()
    try:
        for sp in SpecifierSet(spec_text):
            v = Version(sp.version.replace(".*", ""))
            if sp.operator == "<" and v.release[1:] and not any(v.release[1:]):
                majors.add(v.major - 1)  # <3.0 ends the 2.x series
            else:
                majors.add(v.major)
    except (InvalidSpecifier, InvalidVersion):
        return f"{package} {spec_text}"
    return f"{package} {majors.pop()}.x" if len(majors) == 1 else f"{package} {spec_text}"


def _window_words(model: Model, minor: str) -> str:
    from attnlock.compat import abi

    w = abi.find(model.windows(), "flash-attn", Version("2"), Version(minor))
    return ("measured: " + w.source.split()[0]) if w is not None and w.source else "ABI window"


def _build_order(item: tuple[KernelBuild, SpecifierSet]) -> tuple[int, int, int]:
    """The default-index build first (no extra index, and what an installer picks anyway), then the
    PyTorch-index builds, CUDA before other variants, the newest CUDA first."""
    b = item[0]
    variant = CudaVariant.parse(b.variant) if b.variant else None
    cuda = variant.version if variant is not None and variant.is_cuda and variant.version is not None else None
    return (0 if b.origin == "pypi" else 1, 0 if cuda is not None else 1,
            -(cuda.major * 100 + (cuda.minor if len(cuda.release) > 1 else 0)) if cuda is not None else 0)


def _arch_runs(archs: Iterable[ComputeCapability], gpu: ComputeCapability) -> bool:
    """Whether code built for ``archs`` runs on ``gpu``: a cubin for sm_XY runs on sm_XZ, Z ≥ Y.

    https://docs.nvidia.com/cuda/cuda-c-programming-guide/#binary-compatibility
    """
    return any(a.major == gpu.major and a.minor <= gpu.minor for a in archs)
