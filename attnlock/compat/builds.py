"""Kernel builds: every installable build of xformers and flash-attn with the torch build it was made for.

This is the one reader of those facts.  xformers: the build info inside each wheel of the
default index (``cpp_lib.json``, in ``data/derived``) and the curated builds on the PyTorch
indexes (``xformers.toml [[index_builds]]``).  flash-attn: the GitHub release matrix
(``flash_attn.toml [[release]]``), expanded wheel by wheel.  The resolver makes candidates of
them, ``check`` judges pins against them and ``diagnose`` names them in fixes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.database.store import Database, FlashAttnWheel, Release
from attnlock.model import CudaVariant, Platform, PythonVersion


@dataclass(frozen=True)
class KernelBuild:
    """One build of a torch-coupled package and the torch build its extension was compiled for.

    ``built_for`` carries the build's CUDA variant as its local label (``2.10.0+cu128``; flash-attn
    wheels name a torch minor and a CUDA label: ``2.6+cu12``).  ``index`` is the PyTorch-index
    variant that serves it (None: the default index, or a direct ``url``).
    """

    package: str
    version: Version
    built_for: Version
    origin: str  # "pypi" (default index), "index" (a PyTorch index), "url" (a direct wheel)
    index: str | None = None
    url: str | None = None
    label: str | None = None  # the build's local version label, where its version carries one
    cxx11abi: bool | None = None
    python: str | None = None  # cp tag of a CPython-bound wheel
    platform: str | None = None
    evidence: str = ""  # the wheel file or curated record the fact comes from

    @property
    def variant(self) -> str | None:
        return self.built_for.local

    @property
    def cuda_major(self) -> int | None:
        if self.variant is None:
            return None
        try:
            v = CudaVariant.parse(self.variant)
        except Exception:  # not a CUDA label (rocm6.2 parses; anything else is unknown)
            return None
        return v.version.major if v.is_cuda and v.version is not None else None

    @property
    def full_version(self) -> Version:
        return Version(f"{self.version}+{self.label}") if self.label else self.version

    def describe(self) -> str:
        where = (f" from the {self.index} index" if self.origin == "index" else
                 f" ({self.url.rsplit('/', 1)[-1]})" if self.url else "")
        return f"{self.package} {self.full_version}{where}"


def xformers_builds(db: Database, rel: Release, platform: Platform | None = None,
                    python: PythonVersion | None = None) -> list[KernelBuild]:
    """The builds of one xformers release: the default-index build (its ``cpp_lib.json``, from a
    wheel that runs on ``platform``/``python`` where given) then the PyTorch-index builds."""
    out: list[KernelBuild] = []
    for wheel in sorted(rel.wheels(), key=lambda w: w.filename):
        if (platform is not None or python is not None) and not wheel.runs_on(platform, python):
            continue
        info = rel.build_info.get(wheel.filename)
        built = _version(info.get("torch")) if isinstance(info, dict) else None
        if built is not None:
            out.append(KernelBuild("xformers", rel.version, built, "pypi", evidence=wheel.filename))
            break
    return out + index_builds(db, rel.version)


def xformers_pypi_stand_in(db: Database, version: Version) -> KernelBuild | None:
    """For a release refresh has not read: the default-index build the curated record names (``pypi``)."""
    for rec in index_records(db):
        if rec.names(version) and rec.pypi is not None:
            return KernelBuild("xformers", version, Version(f"{rec.torch.public}+{rec.pypi}"), "pypi",
                               evidence=rec.evidence)
    return None


def index_builds(db: Database, version: Version) -> list[KernelBuild]:
    """The curated PyTorch-index builds of one xformers release (``xformers.toml [[index_builds]]``)."""
    return [KernelBuild("xformers", version, Version(f"{rec.torch.public}+{v.label}"), "index", index=v.label,
                        label=v.label if rec.labelled(v) else None, evidence=rec.evidence)
            for rec in index_records(db) if rec.names(version) for v in rec.variants]


@dataclass(frozen=True)
class IndexRecord:
    """One ``[[index_builds]]`` record, parsed once per database."""

    xformers: Version | SpecifierSet  # the release(s) it is about: ``0.0.27`` or ``==0.0.27``
    torch: Version
    variants: tuple[CudaVariant, ...]
    evidence: str
    labelled: _Labelled
    pypi: str | None  # the variant of the default index's build (None: not recorded)
    torch_requirement: str | None  # what the wheels' metadata declares on torch

    def names(self, version: Version) -> bool:
        if isinstance(self.xformers, Version):
            return self.xformers == version
        return self.xformers.contains(version, prereleases=True)


_PARSED: weakref.WeakKeyDictionary[Database, tuple[IndexRecord, ...]] = weakref.WeakKeyDictionary()


def index_records(db: Database) -> tuple[IndexRecord, ...]:
    """Every parseable ``[[index_builds]]`` record of ``db`` (``db validate`` reports the others)."""
    found = _PARSED.get(db)
    if found is not None:
        return found
    out = []
    for rec in db.curated_records("xformers", "index_builds"):
        raw, torch = rec.get("xformers"), _version(rec.get("torch"))
        if not isinstance(raw, str) or torch is None:
            continue
        try:
            names: Version | SpecifierSet = Version(raw) if raw.strip()[:1].isdigit() else SpecifierSet(raw)
        except (InvalidSpecifier, InvalidVersion):
            continue
        default, pypi, req = rec.get("default_variant"), rec.get("pypi"), rec.get("torch_requirement")
        src = rec.get("source")
        out.append(IndexRecord(
            names, torch, tuple(CudaVariant.parse(v) for v in rec.get("variants", []) if isinstance(v, str)),
            str(src[0]) if isinstance(src, list) and src else str(src or ""),
            _Labelled(str(rec.get("local_label", "")), default if isinstance(default, str) else None),
            pypi if isinstance(pypi, str) and pypi != "unknown" else None,
            req if isinstance(req, str) else None))
    found = _PARSED[db] = tuple(out)
    return found


class _Labelled:
    """Whether an index build's version carries its variant as a local label (``0.0.23.post1+cu118``).

    Up to 0.0.27.post2 every variant but the default is labelled; from 0.0.28 none is
    (``xformers.toml`` ``local_label``).
    """

    def __init__(self, rule: str, default: str | None) -> None:
        self.rule = rule
        self.default = default

    def __call__(self, variant: CudaVariant) -> bool:
        if self.rule == "none":
            return False
        if self.rule.startswith("+<variant>") and self.default is not None:
            return variant.label != self.default
        return True  # not recorded: the index's builds carry their variant label (the older convention)


def flash_attn_build(w: FlashAttnWheel) -> KernelBuild:
    """A GitHub flash-attn wheel as a build: made for torch ``w.torch_minor`` with CUDA ``w.cuda``."""
    return KernelBuild(w.package, w.version, Version(f"{w.torch_minor}+{w.cuda}"), "url", url=w.url,
                       label=w.local_label, cxx11abi=w.cxx11abi, python=w.python, platform=w.platform,
                       evidence=w.source)


def _version(value: object) -> Version | None:
    if not isinstance(value, str):
        return None
    try:
        return Version(value)
    except InvalidVersion:
        return None
