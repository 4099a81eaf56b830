"""Serving engines that pin torch exactly (vllm, vllm-flash-attn, sglang): their torch pins and wheel builds.

Typed views of ``data/curated/engines.toml`` (``[[engine]]`` how strictly a package couples to
torch, ``[[wheel_build]]`` the torch build its default-index wheels were compiled against, where a
source says so) and of the derived releases: which torch each release pins (:func:`torch_pins`),
grouped into release lines for messages (:func:`pin_lines`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.compat.problems import Problem, RecordError, load_strictly, source_text
from attnlock.database.store import Release
from attnlock.errors import UsageError
from attnlock.model import CudaVariant, canonical, exact_version

COUPLINGS = ("exact", "exact-in-extra", "none")
DEFAULT_INDEX = "default-index"


@dataclass(frozen=True)
class Engine:
    """How one package couples to torch (``[[engine]]``)."""

    package: str
    coupling: str
    exact_since: Version | None
    other_builds: str
    source: str
    binaries: str | None = None  # "cuda": its default-index wheels carry CUDA kernels (no CPU torch build serves them)


@dataclass(frozen=True)
class WheelBuild:
    """The torch build a range of a package's default-index wheels was compiled against (``[[wheel_build]]``)."""

    package: str
    versions: SpecifierSet
    torch_build: str  # "default-index", or a PyTorch-index variant label ("cu129")
    source: str

    @property
    def variant(self) -> str | None:
        """The variant label it names; None for "default-index" (the pinned release's default build)."""
        return None if self.torch_build == DEFAULT_INDEX else self.torch_build


@dataclass(frozen=True)
class PinLine:
    """Consecutive releases of a package that pin the same torch: ``vllm 0.20.0 … 0.26.0 → torch 2.11.0``."""

    package: str
    first: Version
    last: Version
    torch: Version | None  # None: the releases declare no exact torch pin
    build: str | None = None  # [[wheel_build]] torch_build of these releases; None: not recorded

    def words(self) -> str:
        one = self.first == self.last
        span = str(self.first) if one else f"{self.first}–{self.last}"
        verb = "pins" if one else "pin"
        return f"{self.package} {span} " + (f"{verb} torch=={self.torch}" if self.torch is not None
                                             else f"{verb} no exact torch")


def _text(rec: Mapping[str, Any], key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(key, "must be a non-empty string")
    return value.strip()


def _engine(rec: Mapping[str, Any]) -> Engine:
    coupling = _text(rec, "coupling")
    if coupling not in COUPLINGS:
        raise RecordError("coupling", f"{coupling!r} is not one of {', '.join(COUPLINGS)}")
    since = rec.get("exact_since")
    try:
        exact_since = Version(str(since)) if since is not None else None
    except InvalidVersion:
        raise RecordError("exact_since", f"malformed version {since!r}") from None
    binaries = rec.get("binaries")
    if binaries is not None and binaries != "cuda":
        raise RecordError("binaries", f"{binaries!r} is not 'cuda' (leave it out when unknown)")
    return Engine(canonical(_text(rec, "package")), coupling, exact_since,
                  str(rec.get("other_builds") or "unknown"), source_text(rec), binaries)


def _wheel_build(rec: Mapping[str, Any]) -> WheelBuild:
    try:
        versions = SpecifierSet(_text(rec, "versions"))
    except InvalidSpecifier:
        raise RecordError("versions", f"malformed specifier {rec.get('versions')!r}") from None
    build = _text(rec, "torch_build")
    if build != DEFAULT_INDEX:
        try:
            parsed: CudaVariant | None = CudaVariant.parse(build)
        except UsageError:
            parsed = None
        if parsed is None or parsed.label != build:
            raise RecordError("torch_build", f"{build!r} is neither {DEFAULT_INDEX!r} nor a variant label (cu129, cpu)")
    return WheelBuild(canonical(_text(rec, "package")), versions, build, source_text(rec))


def parse_engines(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[Engine, ...], list[Problem]]:
    return load_strictly(records, _engine, file, "engine")


def parse_wheel_builds(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[WheelBuild, ...], list[Problem]]:
    return load_strictly(records, _wheel_build, file, "wheel_build")


def exact_torch_pin(rel: Release) -> Version | None:
    """The torch release ``rel`` pins with ``==`` in its base Requires-Dist (no extra), read from the
    Linux x86_64 wheel's METADATA; None when it pins none."""
    rec = rel.metadata_for(None)
    if rec is None:
        return None
    for req in rec.parsed:
        if canonical(req.name) != "torch" or (req.marker is not None and "extra" in str(req.marker)):
            continue
        pin = exact_version(req.specifier)
        if pin is not None:
            return pin
    return None


def torch_pins(releases: Sequence[Release]) -> list[tuple[Version, Version | None]]:
    """(release, its exact torch pin) for every release that has a wheel, ascending."""
    return [(r.version, exact_torch_pin(r)) for r in releases if r.wheels()]


def pin_lines(package: str, releases: Sequence[Release],
              build_of: Callable[[Version], str | None] = lambda _v: None) -> list[PinLine]:
    """The releases with wheels grouped into runs that pin the same torch and were built the same way
    (``build_of``: a release's recorded torch build), pre-releases left out."""
    lines: list[PinLine] = []
    for version, torch in torch_pins(releases):
        if version.is_prerelease or version.is_devrelease:
            continue
        build = build_of(version)
        if lines and lines[-1].torch == torch and lines[-1].build == build:
            last = lines[-1]
            lines[-1] = PinLine(package, last.first, version, torch, build)
        else:
            lines.append(PinLine(package, version, version, torch, build))
    return lines


__all__ = ["DEFAULT_INDEX", "Engine", "PinLine", "WheelBuild", "exact_torch_pin", "parse_engines", "parse_wheel_builds",
           "pin_lines", "torch_pins"]
