"""The compatibility model over one database: the questions every command asks, answered once.

The resolver's candidate sources, ``check``'s rules, ``diagnose``'s fixes and ``db`` ask a
:class:`Model`; none of them reads curated compatibility records itself.  Answers are
memoised per model (one model per database object, :func:`model_for`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.compat import abi
from attnlock.compat.abi import AbiWindow, Verdict
from attnlock.compat.builds import (
    KernelBuild,
    flash_attn_build,
    index_builds,
    index_records,
    xformers_builds,
    xformers_pypi_stand_in,
)
from attnlock.compat.engines import Engine, PinLine, WheelBuild, parse_engines, parse_wheel_builds, pin_lines
from attnlock.compat.kernels import FlashAttnRelease, GpuRange, parse_ranges, parse_releases
from attnlock.compat.community import CommunitySource, CommunityWheel, parse_sources, parse_wheels
from attnlock.compat.known_bad import Hit, Installed, KnownBad, parse_known_bad
from attnlock.compat.packages import (
    CudaLibraryRule,
    EndOfLife,
    IndexPresence,
    TorchPairing,
    parse_cuda_libraries,
    parse_end_of_life,
    parse_pairings,
    parse_presence,
)
from attnlock.compat.problems import Problem
from attnlock.database.store import Database, Release
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, canonical

_MODELS: weakref.WeakKeyDictionary[Database, Model] = weakref.WeakKeyDictionary()
_T = TypeVar("_T")


def model_for(db: object) -> Model:
    """The model of ``db`` (the same one for the same database object; the resolver's memoising
    wrapper is taken for the database it wraps)."""
    inner = cast(Database, getattr(db, "db", db))
    found = _MODELS.get(inner)
    if found is None:
        found = _MODELS[inner] = Model(inner)
    return found


class Model:
    """Typed, memoised answers over a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._windows: tuple[AbiWindow, ...] | None = None
        self._known_bad: tuple[KnownBad, ...] | None = None
        self._problems: list[Problem] = []
        self._xf: dict[tuple[Version, Platform | None, PythonVersion | None], list[KernelBuild]] = {}
        self._fa: dict[tuple[str | None, str | None, frozenset[str] | None], list[KernelBuild]] = {}

    # -- records ----------------------------------------------------------------

    def _loaded(self, stem: str, table: str,
                parse: Callable[[Iterable[Mapping[str, Any]], str], tuple[tuple[_T, ...], list[Problem]]],
                ) -> tuple[_T, ...]:
        """``[[table]]`` of ``curated/<stem>.toml`` through its strict parser, once; what the parser
        rejects joins :meth:`problems`."""
        memo: dict[tuple[str, str], tuple[Any, ...]] = self.__dict__.setdefault("_loaded_records", {})
        key = (stem, table)
        if key not in memo:
            found, problems = parse(self.db.curated_records(stem, table), f"curated/{stem}.toml")
            self._problems += problems
            memo[key] = found
        return cast("tuple[_T, ...]", memo[key])

    def windows(self) -> tuple[AbiWindow, ...]:
        if self._windows is None:
            self._windows, problems = abi.parse_windows(self.db.curated_records("abi", "window"), "curated/abi.toml")
            self._problems += problems
        return self._windows

    def known_bad(self) -> tuple[KnownBad, ...]:
        if self._known_bad is None:
            self._known_bad, problems = parse_known_bad(self.db.curated_records("known_bad", "combination"),
                                                        "curated/known_bad.toml")
            self._problems += problems
        return self._known_bad

    def flash_attn_releases(self) -> tuple[FlashAttnRelease, ...]:
        """Every flash-attn GitHub release record, oldest first (as the file lists them)."""
        return self._loaded("flash_attn", "release", parse_releases)

    def gpu_ranges(self, package: str) -> tuple[GpuRange, ...]:
        """The GPU ranges recorded for a kernel package's releases."""
        return tuple(r for r in self._loaded("flash_attn", "requirement", parse_ranges) if r.package == package)

    def gpu_miss(self, package: str, version: Version, gpu: ComputeCapability) -> GpuRange | None:
        """The range that rules ``gpu`` out for ``package`` ``version``, if any."""
        return next((r for r in self.gpu_ranges(package)
                     if r.versions.contains(version, prereleases=True) and r.excludes(gpu)), None)

    def engines(self) -> tuple[Engine, ...]:
        """The packages that pin torch exactly (``engines.toml [[engine]]``)."""
        return self._loaded("engines", "engine", parse_engines)

    def engine(self, package: str) -> Engine | None:
        """The ``[[engine]]`` record of ``package`` (vllm, sglang …), None for other packages."""
        return next((e for e in self.engines() if e.package == package), None)

    def engine_wheel_build(self, package: str, version: Version) -> WheelBuild | None:
        """The torch build ``package`` ``version``'s default-index wheels were compiled against, where recorded."""
        builds = self._loaded("engines", "wheel_build", parse_wheel_builds)
        return next((b for b in builds if b.package == package and b.versions.contains(version, prereleases=True)),
                    None)

    def engine_pin_lines(self, package: str) -> tuple[PinLine, ...]:
        """``package``'s releases grouped by the torch they pin exactly (derived METADATA)."""
        memo: dict[str, tuple[PinLine, ...]] = self.__dict__.setdefault("_pin_lines", {})
        if package not in memo:
            memo[package] = tuple(pin_lines(package, self.db.releases(package),
                                            lambda v: b.torch_build if (b := self.engine_wheel_build(package, v)) else None))
        return memo[package]
    # -- packages planned on request (packages.toml) ------------------------------------

    def torch_pairing(self, package: str, version: Version) -> TorchPairing | None:
        """The curated torch range of ``package`` ``version`` (``[[torch_pairing]]``), None when none is recorded."""
        found = self._loaded("packages", "torch_pairing", parse_pairings)
        return next((p for p in found if p.package == package and p.versions.contains(version, prereleases=True)),
                    None)

    def cuda_library_rule(self, package: str, version: Version) -> CudaLibraryRule | None:
        """How ``package`` ``version`` picks its native library by torch's CUDA (``[[cuda_library]]``)."""
        found = self._loaded("packages", "cuda_library", parse_cuda_libraries)
        return next((r for r in found if r.package == package and r.versions.contains(version, prereleases=True)),
                    None)

    def end_of_life(self, package: str) -> EndOfLife | None:
        """The package's recorded end of life (``[[end_of_life]]``)."""
        return next((e for e in self._loaded("packages", "end_of_life", parse_end_of_life) if e.package == package),
                    None)

    def index_presence(self, package: str) -> IndexPresence | None:
        """What the default index carries of ``package`` when it is a placeholder, absent or partial."""
        return next((p for p in self._loaded("packages", "index_presence", parse_presence) if p.package == package),
                    None)

    # -- community wheel sources (community.toml; read only on --source community) -------------

    def community_sources(self) -> dict[str, CommunitySource]:
        """The recorded community sources by name."""
        return {s.name: s for s in self._loaded("community", "source", parse_sources)}

    def community_wheels(self, package: str) -> tuple[CommunityWheel, ...]:
        """Every recorded community wheel of ``package``, newest version first."""
        found = self.__dict__.get("_community_wheels")
        if found is None:
            found, problems = parse_wheels(self.db.curated_records("community", "wheels"), self.community_sources(),
                                           "curated/community.toml")
            self._problems += problems
            found = self.__dict__["_community_wheels"] = tuple(sorted(found, key=lambda w: w.version, reverse=True))
        return tuple(w for w in found if w.package == package)

    def covered(self) -> tuple[str, ...] | None:
        """The default package set (``refresh.toml [covered] packages``), None when not recorded."""
        raw = self.db.curated_raw("refresh").get("covered", {})
        names = raw.get("packages") if isinstance(raw, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return tuple(canonical(n) for n in names)

    def driver_floor_text(self, cuda: Version, os_name: str) -> str | None:
        """A toolkit's driver floor as NVIDIA prints it (``535.104.05``), for messages."""
        key = "windows_driver_min" if os_name == "windows" else "linux_driver_min"
        want = f"{cuda.major}.{cuda.minor}"
        raw = next((r.get(key) for r in self.db.curated_records("cuda", "toolkit") if str(r.get("version")) == want),
                   None)
        return raw if isinstance(raw, str) and raw != "unknown" else None

    def problems(self) -> list[Problem]:
        """What the strict constructors rejected (``db validate`` reports it)."""
        self.windows()
        self.known_bad()
        self.flash_attn_releases()
        self.gpu_ranges("flash-attn")
        self.engines()
        self.engine_wheel_build("", Version("0"))
        self.torch_pairing("", Version("0"))
        self.end_of_life("")
        self.cuda_library_rule("", Version("0"))
        self.index_presence("")
        self.community_wheels("")
        return list(self._problems)

    # -- ABI windows --------------------------------------------------------------

    def window(self, build: KernelBuild) -> AbiWindow | None:
        return abi.find(self.windows(), build.package, build.version, build.built_for)

    def pairing(self, package: str, version: Version, built_for: Version, torch: Version) -> tuple[str, AbiWindow | None]:
        """How a build of ``package`` ``version`` made for ``built_for`` serves ``torch`` (one of
        :data:`abi.PAIRINGS`), and the window it rests on (None: the exact-build rule)."""
        w = abi.find(self.windows(), package, version, built_for)
        return abi.pairing(w, built_for, torch), w

    def torch_range(self, build: KernelBuild) -> SpecifierSet:
        """The torch releases ``build`` serves (its window; exact to its torch when no window covers it)."""
        w = self.window(build)
        return w.torch_range(build.built_for) if w is not None else SpecifierSet(f"=={build.built_for.public}")

    def judge(self, build: KernelBuild, torch: Version, torch_variant: str | None = None,
              torch_cxx11abi: bool | None = None) -> Verdict:
        """Whether ``build`` loads on torch ``torch`` (of CUDA variant ``torch_variant``), with reasons."""
        variant = torch_variant if torch_variant is not None else torch.local
        return abi.judge(self.window(build), build.built_for, build.cxx11abi, torch, variant, torch_cxx11abi)

    # -- builds ---------------------------------------------------------------------

    def xformers_builds(self, rel: Release, platform: Platform | None = None,
                        python: PythonVersion | None = None) -> list[KernelBuild]:
        key = (rel.version, platform, python)
        if key not in self._xf:
            found = xformers_builds(self.db, rel, platform, python)
            if not any(b.origin == "pypi" for b in found) and not rel.build_info:
                stand_in = xformers_pypi_stand_in(self.db, rel.version)
                if stand_in is not None:
                    found.insert(0, stand_in)
            self._xf[key] = found
        return self._xf[key]

    def xformers_release_builds(self, version: Version) -> list[KernelBuild]:
        """Every build of one xformers release, also of a release refresh has not read."""
        rel = self.db.release("xformers", version)
        if rel is not None:
            return self.xformers_builds(rel)
        stand_in = xformers_pypi_stand_in(self.db, version)
        return ([stand_in] if stand_in is not None else []) + index_builds(self.db, version)

    def xformers_curated_versions(self) -> dict[Version, str | None]:
        """Releases the curated index records name, with the torch requirement their wheels declare
        (``torch_requirement``: a stand-in for releases refresh has not read)."""
        return {rec.xformers: rec.torch_requirement for rec in index_records(self.db)
                if isinstance(rec.xformers, Version)}

    def flash_attn_builds(self, platform: str | None = None, python: str | None = None,
                          torch_minors: frozenset[str] | None = None) -> list[KernelBuild]:
        """The GitHub flash-attn wheels for a platform (``linux-x86_64``), cp tag and torch minors; newest first."""
        key = (platform, python, torch_minors)
        if key not in self._fa:
            wheels = self.db.flash_attn_wheels_for("flash-attn", platform, python, torch_minors)
            self._fa[key] = [flash_attn_build(w) for w in sorted(wheels, key=lambda w: (w.version, w.python),
                                                                   reverse=True)]
        return self._fa[key]

    def flash_attn_release_builds(self, version: Version) -> list[KernelBuild]:
        return [flash_attn_build(w) for w in self.db.flash_attn_wheels("flash-attn", version)]

    def torch_minors_served(self, build_minor: str) -> SpecifierSet:
        """The torch releases a flash-attn wheel labelled ``torch{build_minor}`` serves."""
        w = abi.find(self.windows(), "flash-attn", Version("2"), Version(build_minor))
        return w.torch_range(Version(build_minor)) if w else SpecifierSet(f"=={build_minor}.*")

    # -- torch builds -------------------------------------------------------------------

    @staticmethod
    def foreign_requirement(name: str, variant: CudaVariant | None, default: CudaVariant | None) -> bool:
        """Whether a Requires-Dist entry named ``name``, read from the default index's torch wheel, does
        not hold for the torch build of ``variant``: another build pins other CUDA libraries (cu118
        builds pin -cu11 packages; a CPU build pins none) and a non-CUDA build needs no triton."""
        if variant is None or variant == default:
            return False
        if name.startswith("nvidia-") or name == "cuda-toolkit":
            return True
        return name == "triton" and not variant.is_cuda

    # -- indexes ----------------------------------------------------------------------

    def index_url(self, variant: str) -> str | None:
        """The PyTorch index serving ``variant`` builds (``torch.toml [[index]]``), None when not recorded."""
        return self.db.index_url(variant)

    # -- known bad ------------------------------------------------------------------------

    def known_bad_hits(self, installed: Mapping[str, Installed], *, gpu: ComputeCapability | None = None,
                       platform: Platform | None = None, allow: frozenset[str] = frozenset()) -> list[Hit]:
        """Every record ``installed`` falls into (definite or possible), except the ``allow``-ed ids."""
        out = []
        for kb in self.known_bad_within(frozenset(installed)):
            if kb.id in allow:
                continue
            hit = kb.judge(installed, gpu=gpu, platform=platform)
            if hit is not None:
                out.append(hit)
        return out

    def known_bad_within(self, names: frozenset[str]) -> tuple[KnownBad, ...]:
        """The records every member of which is among ``names`` (no other record can hit such a set)."""
        memo: dict[frozenset[str], tuple[KnownBad, ...]] = self.__dict__.setdefault("_kb_within", {})
        found = memo.get(names)
        if found is None:
            found = memo[names] = tuple(kb for kb in self.known_bad() if names.issuperset(kb.packages))
        return found


__all__ = ["Model", "model_for"]
