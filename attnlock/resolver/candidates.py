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
from dataclasses import dataclass, field, replace

from packaging.requirements import InvalidRequirement, Requirement
from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.compat import AbiWindow, KernelBuild, Model, model_for
from attnlock.database.store import Release, TorchVariants, marker_holds, target_environment
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
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    base: CandidateSource | None = None  # the same target without exclusions: its builds are reused
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
            if name == "torch":
                found = self._torch()
            elif name == "xformers":
                found = self._xformers()
            elif name == "flash-attn":
                found = self._flash_attn()
            elif name in _TORCH_COMPANIONS:
                found = self._companion(name)
            else:
                found = self._generic(name, extras)
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
                dkey = (dep.name, str(dep.specifier), dep.variant, dep.cuda_major, dep.cxx11abi, dep.extras, depth)
                if dkey not in met:
                    met[dkey] = True  # a cycle is optimistic
                    met[dkey] = any(dep.satisfied_by(c) for c in self._viable_list(dep.name, dep.extras, depth - 1))
                if not met[dkey]:
                    ok = False
                    break
            memo[key] = ok
        return memo[key]

    def _viable_list(self, name: str, extras: frozenset[str], depth: int) -> list[Candidate]:
        """The candidates of ``name`` viable to ``depth`` (every candidate when depth < 0), cached."""
        if depth < 0:
            return self.candidates(name, extras)
        lists: dict[tuple[str, frozenset[str], int], list[Candidate]] = self.__dict__.setdefault("_vlists", {})
        key = (name, extras, depth)
        if key not in lists:
            lists[key] = []  # a cycle sees no candidates yet: pessimistic only within the cycle
            lists[key] = [c for c in self.candidates(name, extras) if self._viable(c, depth)]
        return lists[key]

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
        for text in rec.requires_dist:
            m = _NAME.match(text)
            if m is None or (name := _canonical(m.group(1))) in skip_set or name not in known:
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
        for text in rec.requires_dist:
            if text[:5].lower() != "torch":
                continue  # cheap screen: unsloth lists ~340 lines per release, a handful name torch*
            m = _NAME.match(text)
            if m is None or _canonical(m.group(1)) != "torch":
                continue
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
        tk = self.db.toolkit(variant.version)
        floor = None
        if tk is not None:
            key = "windows_driver_min" if os_name == "windows" else "linux_driver_min"
            raw = next((r.get(key) for r in self.db.curated_records("cuda", "toolkit")
                        if str(r.get("version")) == str(tk.version)), None)
            floor = raw if isinstance(raw, str) and raw != "unknown" else None  # as NVIDIA prints it
        upgrade = f"; or upgrade the driver to ≥ {floor}" if floor is not None else ""
        return (f"driver {driver} supports {supports}; {build} needs CUDA {variant.version} "
                f"({variant.label} build){upgrade}")

    # -- torch ----------------------------------------------------------------

    def _pypi_variant(self, version: Version) -> CudaVariant | None:
        """The CUDA variant of torch's default-index build on the target platform."""
        plat = self._platform
        if plat is not None and plat.os == "macos":
            return CudaVariant("cpu")  # macOS builds of torch are CPU (MPS) builds: no CUDA on macOS
        tv: TorchVariants | None = self.db.torch_variants(version)
        if tv is None:
            return None
        if plat is not None and str(plat) in tv.pypi_by_platform:
            return tv.pypi_by_platform[str(plat)]
        if plat is None or str(plat) == "linux-x86_64":
            return tv.pypi
        return None  # not recorded for this platform: unknown

    def _torch(self) -> list[Candidate]:
        out: list[Candidate] = []
        spec = self.target.torch
        for rel in reversed(self.db.releases("torch")):
            if spec is not None and not spec.contains(rel.version, prereleases=True):
                self.reject("torch", f"torch {rel.version}", "torch-target", f"torch {rel.version} is outside --torch {spec}")
                continue
            if not self._release_ok(rel):
                continue
            tv = self.db.torch_variants(rel.version)
            pypi = self._pypi_variant(rel.version)
            plat = self._platform or Platform("linux", "x86_64")
            builds: list[tuple[CudaVariant | None, str]] = [(pypi, "pypi")]
            if tv is not None and plat.os in ("linux", "windows"):
                rest = [v for v in tv.index if v != pypi]
                cuda = sorted((v for v in rest if v.is_cuda), key=lambda v: v.version or Version("0"), reverse=True)
                builds += [(v, "index") for v in cuda] + [(v, "index") for v in rest if not v.is_cuda]
            for variant, source in builds:
                label = None if source == "pypi" else variant.label if variant else None
                build = f"torch {rel.version}+{label}" if label else f"torch {rel.version}" + (
                    f" ({variant.label})" if variant else "")
                if variant is None:
                    if self.target.gpu is not None and self.target.cuda is None:
                        # A GPU machine needs a CUDA build; an unrecorded default-index build may be a
                        # CPU one (Windows' is), so the PyTorch index's CUDA builds are planned instead.
                        self.reject("torch", build, "cuda",
                                    f"the CUDA variant of {build} on {plat} is not recorded (it may be a CPU build); "
                                    f"a GPU target takes a CUDA build from the PyTorch index")
                        continue
                    if self.target.driver is not None and self.target.cuda is None:
                        self.reject("torch", build, "driver",
                                    f"the CUDA variant of {build} on {plat} is not recorded, so it cannot be "
                                    f"checked against driver {self.target.driver}")
                        continue
                    if self.target.cuda is not None:
                        self.reject("torch", build, "cuda",
                                    f"the CUDA variant of {build} on {plat} is not recorded; the target wants "
                                    f"{self.target.cuda.label}")
                        continue
                elif not self._variant_ok(build, "torch", variant, rel.version):
                    continue
                out.append(self._torch_candidate(rel, variant, source, label, pypi))
        return out

    def _torch_candidate(self, rel: Release, variant: CudaVariant | None, source: str, label: str | None,
                         pypi: CudaVariant | None) -> Candidate:
        plat = self._platform or Platform("linux", "x86_64")
        name = f"torch {rel.version}+{label}" if label else f"torch {rel.version}"
        skip: list[str] = []
        if variant != pypi:
            # Requires-Dist was read from the default-index wheel; the CUDA library pins of other
            # builds differ (cu118 builds pin -cu11 packages, CPU builds pin none, and need no triton).
            skip = [n for n in self.known() if n.startswith("nvidia-") or n == "cuda-toolkit"]
            if variant is not None and not variant.is_cuda:
                skip.append("triton")
        abi = self.db.torch_abi(rel.version, plat, "pypi" if source == "pypi" else "pytorch")
        return Candidate(
            name="torch", version=rel.version, label=label, source=source,
            variant=variant.label if variant else None, cxx11abi=abi,
            index=self.locations.index_url(variant.label) if source == "index" and variant else None,
            lazy_deps=functools.partial(self._deps, rel, skip=skip, parent=name),
            why=("the default-index build" + (f" ({variant.label})" if variant else "")) if source == "pypi"
            else f"the {label} build from the PyTorch index",
        )

    # -- xformers -------------------------------------------------------------

    def _xformers(self) -> list[Candidate]:
        """Every build of every release (the compatibility model's list), each with the torch range
        its ABI window serves, intersected with what the release's metadata admits (an installer
        enforces Requires-Dist whatever the window says: 0.0.34 declares torch==2.10.0)."""
        out: list[Candidate] = []
        model = model_for(self.db)
        torches = self._torch_versions()
        for rel in reversed(self.db.releases("xformers")):
            builds = model.xformers_builds(rel, self._platform, self._python)
            if not builds:
                cand = self._xformers_unbuilt(rel)
                if cand is not None and self._release_ok(rel):
                    out.append(cand)
                continue
            meta = self._torch_specs(rel, frozenset())
            served = []
            for b in builds:
                spec = model.torch_range(b)
                for m in meta:
                    spec &= m
                if any(spec.contains(v, prereleases=True) for v in torches):
                    served.append((b, spec))
            if not served or not self._release_ok(rel):
                continue
            for b, spec in sorted(served, key=_build_order):
                cand = self._xformers_candidate(rel, b, spec, model.window(b))
                if cand is not None:
                    out.append(cand)
        return out

    def _xformers_candidate(self, rel: Release, b: KernelBuild, spec: SpecifierSet,
                            window: AbiWindow | None) -> Candidate | None:
        variant = CudaVariant.parse(b.variant) if b.variant else None
        major_only = window is not None and window.cuda == "major"
        where = f"the {b.index} index's build" if b.origin == "index" else "cpp_lib.json of the default-index wheel"
        build = f"xformers {b.version}" + (f"+{b.index}" if b.origin == "index" else "")
        if variant is not None and not self._variant_ok(build, "xformers", variant, Version(b.built_for.public),
                                                        major_only=major_only):
            return None
        admitted = window.describe(b.built_for) if window is not None else "the exact-build rule"
        parent = f"{build} (built for torch {b.built_for}; {admitted})"
        req = Req("torch", spec, variant=None if major_only else b.variant,
                  cuda_major=b.cuda_major if major_only else None, parent=parent)
        return Candidate(
            name="xformers", version=rel.version, label=b.label, source=b.origin, variant=b.variant,
            index=self.locations.index_url(b.index) if b.origin == "index" and b.index else None,
            deps=(req,), lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=parent),
            why=f"built for torch {b.built_for} ({where}); {admitted}", built_for=b.built_for,
        )

    def _xformers_unbuilt(self, rel: Release) -> Candidate | None:
        """A release without build info or index record (pure-Python dev builds): Requires-Dist is all there is."""
        desc = f"xformers {rel.version}"
        req = rel.requirement_on("torch", self._platform, self._python)
        torch_req = _req(req, desc) if req is not None else None
        if torch_req is not None and not any(torch_req.specifier.contains(v, prereleases=True)
                                             for v in self._torch_versions()):
            return None
        return Candidate("xformers", rel.version, None, "pypi", deps=(torch_req,) if torch_req else (),
                         lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=desc),
                         why="Requires-Dist (no build info recorded)")

    # -- flash-attn -----------------------------------------------------------

    def _flash_attn(self) -> list[Candidate]:
        out: list[Candidate] = []
        py = self._python.cp_tag if self._python is not None else None
        plat = str(self._platform) if self._platform is not None else None
        archs_of: dict[str, dict[str, list[str]]] = {}
        for rec in reversed(self.db.curated_records("flash_attn", "release")):  # newest first
            if canonical(str(rec.get("package", "flash-attn"))) != "flash-attn":
                continue
            version = rec.get("version")
            if isinstance(rec.get("archs_by_cuda"), dict):
                archs_of[str(version)] = rec["archs_by_cuda"]
            if rec.get("matrix") == "unknown":
                self.reject("flash-attn", f"flash-attn {version}", "unknown",
                            f"flash-attn {version}'s prebuilt wheels are not recorded (its release matrix is unknown)")
            elif plat is not None and plat not in rec.get("platforms", ["linux-x86_64"]):
                self.reject("flash-attn", f"flash-attn {version}", "platform",
                            f"flash-attn {version} has no prebuilt wheel for {plat}")
            elif py is not None and py not in rec.get("python", []):
                self.reject("flash-attn", f"flash-attn {version}", "python",
                            f"flash-attn {version} has no prebuilt wheel for Python {self._python}")
        # A wheel serves the torch releases of its ABI window (a torch2.10 wheel serves 2.10-2.12):
        # keep the wheels whose window holds some torch the target allows.
        model = model_for(self.db)
        torches = self._torch_versions()
        built_minors = {w.torch_minor for w in self.db.flash_attn_wheels_for("flash-attn", plat, py, None)}
        served = {m: model.torch_minors_served(m) for m in built_minors}
        minors = frozenset(m for m, rng in served.items() if any(rng.contains(v, prereleases=True) for v in torches))
        wheels = self.db.flash_attn_wheels_for("flash-attn", plat, py, minors)
        seen: set[tuple[Version, str]] = set()
        by_version: dict[Version, list[Candidate]] = {}
        gpu_ok: dict[Version, bool] = {}
        releases: dict[Version, Release | None] = {}
        for w in sorted(wheels, key=lambda w: (w.version, w.python), reverse=True):
            if w.torch_minor not in minors:
                continue
            if w.version not in gpu_ok:
                gpu_ok[w.version] = self._gpu_ok_for_kernel("flash-attn", w.version)
            if not gpu_ok[w.version] or (w.version, w.local_label) in seen or (
                    w.version.is_prerelease and "flash-attn" not in self.allow_pre):
                continue
            sass = archs_of.get(str(w.version), {}).get(w.cuda)
            if self.target.gpu is not None and isinstance(sass, list) and sass:
                archs = [ComputeCapability.parse(a) for a in sass if isinstance(a, str)]
                if archs and not _arch_runs(archs, self.target.gpu):
                    self.reject("flash-attn", f"flash-attn {w.version}+{w.local_label}", "gpu",
                                f"flash-attn {w.version} wheels for {w.cuda} have no kernels for {self.target.gpu}"
                                f"{self._gpu_suffix()} (built for {', '.join(str(a) for a in archs)})")
                    continue
            seen.add((w.version, w.local_label))
            build = f"flash-attn {w.version}+{w.local_label}"
            major = _cuda_major(w.cuda)
            parent = f"{build} ({w.filename})"
            if w.version not in releases:
                releases[w.version] = self.db.release("flash-attn", w.version)
            rel = releases[w.version]
            by_version.setdefault(w.version, []).append(Candidate(
                name="flash-attn", version=w.version, label=w.local_label, source="url",
                built_for=Version(f"{w.torch_minor}+{w.cuda}"),
                url=self.locations.wheel_url(w.url), cxx11abi=w.cxx11abi,
                deps=(Req("torch", served[w.torch_minor], cuda_major=major, cxx11abi=w.cxx11abi,
                          parent=parent),),
                lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=parent) if rel else None,
                why=f"the prebuilt wheel for torch {w.torch_minor}, CUDA {major}, "
                    f"cxx11abi={'TRUE' if w.cxx11abi else 'FALSE'}, {w.python}"
                    + (f"; serves torch {served[w.torch_minor]} ({_window_words(model, w.torch_minor)})"
                       if str(served[w.torch_minor]) != f"=={w.torch_minor}.*" else ""),
            ))
        for version in sorted(by_version, reverse=True):
            # Within a release prefer the newest CUDA label; ABI order does not matter (torch decides).
            out.extend(sorted(by_version[version], key=lambda c: c.label or "", reverse=True))
        if "flash-attn" in self.allow_build:
            for rel in reversed(self.db.releases("flash-attn")):
                if not self._release_ok(rel, need_wheel=False) or not self._gpu_ok_for_kernel("flash-attn", rel.version):
                    continue
                rec = rel.metadata[0] if rel.metadata else None
                out.append(Candidate(
                    name="flash-attn", version=rel.version, label=None, source="sdist",
                    deps=self._deps(rel, parent=f"flash-attn {rel.version} (sdist)"),
                    why="built from the sdist on the target (--allow-build flash-attn)",
                    requires_dist=rec.requires_dist if rec else (),
                ))
        elif self.db.releases("flash-attn"):
            self.reject("flash-attn", "flash-attn (sdist)", "sdist",
                        "flash-attn's releases on the index are sdists only; attnlock never plans a build "
                        "unless asked (--allow-build flash-attn)")
        return out

    def _gpu_ok_for_kernel(self, package: str, version: Version) -> bool:
        gpu = self.target.gpu
        if gpu is None:
            return True
        for rec in self.db.curated_records("flash_attn", "requirement"):
            if canonical(str(rec.get("package", ""))) != package:
                continue
            try:
                if not SpecifierSet(str(rec.get("versions", ""))).contains(version, prereleases=True):
                    continue
            except ValueError:
                continue
            lo, hi = rec.get("min_compute_capability"), rec.get("max_compute_capability")
            low = ComputeCapability.parse(str(lo)) if lo else None
            high = ComputeCapability.parse(str(hi)) if hi else None
            if (low is not None and gpu < low) or (high is not None and gpu > high):
                need = f"{low}+" if low is not None else f"≤ {high}"
                if low is not None and high is not None:
                    need = f"{low} … {high}"
                self.reject(package, f"{package} {version}", "gpu",
                            f"{_series(package, str(rec.get('versions')))} needs {need}; this GPU is "
                            f"{gpu}{self._gpu_suffix()}")
                return False
        return True

    # -- torchvision / torchaudio ---------------------------------------------

    def _companion(self, name: str) -> list[Candidate]:
        out: list[Candidate] = []
        # Releases without an exact torch pin come last: a pinned pairing is a checked fact.
        unpinned: list[Candidate] = []
        torches = self._torch_versions()
        for rel in reversed(self.db.releases(name)):
            every = self._deps(rel, parent=f"{name} {rel.version}")
            treq = next((d for d in every if d.name == "torch"), None)
            pinned = _exact(treq.specifier) if treq is not None else None
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
            pypi = self._pypi_variant(pinned)
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

    # -- everything else ------------------------------------------------------

    def _generic(self, name: str, extras: frozenset[str]) -> list[Candidate]:
        """Releases newest first; for a package that pairs with torch (some release declares a torch
        requirement: unsloth), those whose metadata admits a torch explicitly come before those that
        declare none, and each release is bounded to the torch minors that existed when it was
        uploaded — a release uploaded before torch X.Y cannot have been made for it (unless the user
        pins the release)."""
        out: list[Candidate] = []
        silent: list[Candidate] = []
        may_build = name in self.allow_build
        torches = self._torch_versions() if "torch" in self.known() else None
        releases = self.db.releases(name)
        # Pairs with torch: a recent release requires torch itself (not only under an extra: triton's
        # test extra names torch, but torch requires triton, not the reverse).
        pairs = torches is not None and name != "torch" and name not in self.user_pinned and any(
            self._mentions_torch(rel, frozenset()) for rel in releases[-5:])
        for rel in reversed(releases):
            if torches is not None and not self._torch_fits(rel, torches, extras):
                continue  # its torch range misses every torch the target allows (unsloth: most releases)
            era: Req | None = None
            if pairs:
                era = self._torch_era(rel)
                if era is not None and torches is not None and not any(era.specifier.contains(v) for v in torches):
                    self.reject(name, f"{name} {rel.version}", "torch-era", f"{era.parent}")
                    continue
            if not self._release_ok(rel, need_wheel=not may_build):
                continue
            if name == "jax" and "jaxlib" in self.known() and not any(
                    d.name == "jaxlib" for d in self._deps(rel, extras, parent="")):
                # jax runs on jaxlib; releases that reach it only through an extra (0.4.21's [cpu])
                # would install a jax that cannot import.
                self.reject(name, f"jax {rel.version}", "platform",
                            f"jax {rel.version}{'[' + ','.join(sorted(extras)) + ']' if extras else ''} "
                            f"requires no jaxlib on {self._target_words()}")
                continue
            sdist = not self.db.wheel_ok(rel, self._platform, self._python)
            explicit = not pairs or self._mentions_torch(rel, extras)
            (out if explicit else silent).append(Candidate(
                name, rel.version, None, "sdist" if sdist else "pypi", extras=extras,
                deps=(era,) if era is not None else (),
                lazy_deps=functools.partial(self._deps, rel, extras, parent=f"{name} {rel.version}"),
                why=("Requires-Dist of the release" if explicit else
                     "declares no torch requirement; bounded to the torch releases that existed when it was uploaded")
                if not sdist else "built from the sdist (--allow-build)",
                requires_dist=rel.metadata[0].requires_dist if sdist and rel.metadata else (),
            ))
        return out + silent

    def _mentions_torch(self, rel: Release, extras: frozenset[str] | None = None) -> bool:
        """Whether ``rel``'s metadata has a torch requirement (with ``extras``: one that applies on the
        target with those extras; without: under any extra or marker)."""
        rec = rel.metadata_for(self._platform)
        if rec is None:
            return False
        if extras is None:
            return any((m := _NAME.match(t)) is not None and _canonical(m.group(1)) == "torch"
                       for t in rec.requires_dist)
        return bool(self._torch_specs(rel, extras))

    def _torch_era(self, rel: Release) -> Req | None:
        """``torch<X.(Y+1)``: the torch minors released before ``rel`` was uploaded (None: unknown)."""
        if not rel.upload_time:
            return None
        firsts: dict[tuple[int, int], str] = self.__dict__.get("_torch_minor_firsts") or {}
        if not firsts:
            for t in self.db.releases("torch"):
                if t.upload_time and not t.version.is_prerelease:
                    key = (t.version.major, t.version.minor)
                    if key not in firsts or t.upload_time < firsts[key]:
                        firsts[key] = t.upload_time
            self.__dict__["_torch_minor_firsts"] = firsts
        before = [k for k, when in firsts.items() if when <= rel.upload_time]
        if not before or len(before) == len(firsts):
            return None
        major, minor = max(before)
        return Req("torch", SpecifierSet(f"<{major}.{minor + 1}"),
                   parent=f"{rel.package} {rel.version} (uploaded {rel.upload_time[:10]}, before torch "
                          f"{major}.{minor + 1} existed)")


# ------------------------------------------------------------------ helpers


def known_packages(db: object) -> frozenset[str]:
    """Every package the database has releases or wheels of (what the resolver can plan)."""
    from attnlock.resolver.facts import facts_for

    facts = facts_for(db)  # type: ignore[arg-type]
    names = set(facts.packages())
    if facts.curated_records("flash_attn", "release"):
        names.add("flash-attn")
    return frozenset(names)

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


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


def _exact(spec: SpecifierSet) -> Version | None:
    for s in spec:
        if s.operator in ("==", "===") and "*" not in s.version:
            try:
                return Version(Version(s.version).public)
            except InvalidVersion:
                return None
    return None


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
