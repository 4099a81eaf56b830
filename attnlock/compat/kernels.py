"""Kernel facts the resolver, check and diagnose share: flash-attn release summaries and the GPU range of each kernel.

Typed views of ``flash_attn.toml`` (``[[release]]`` summaries, ``[[requirement]]`` GPU ranges), parsed
strictly: a record that does not parse is a problem for ``db validate``, never a crash here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.compat.problems import Problem, RecordError, load_strictly
from attnlock.errors import UsageError
from attnlock.model import ComputeCapability, canonical


@dataclass(frozen=True)
class FlashAttnRelease:
    """One GitHub release of flash-attn: where its wheels exist (the matrix expands them), or unknown."""

    package: str
    version: Version
    matrix_unknown: bool
    platforms: tuple[str, ...]
    pythons: tuple[str, ...]
    archs_by_cuda: Mapping[str, tuple[ComputeCapability, ...]]


@dataclass(frozen=True)
class GpuRange:
    """The compute capabilities a kernel package's releases run on (``[[requirement]]``)."""

    package: str
    versions: SpecifierSet
    low: ComputeCapability | None
    high: ComputeCapability | None
    series: str  # "flash-attn >=2.0" as the record names its releases

    def excludes(self, gpu: ComputeCapability) -> bool:
        return (self.low is not None and gpu < self.low) or (self.high is not None and gpu > self.high)

    def need(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low} … {self.high}"
        return f"{self.low}+" if self.low is not None else f"≤ {self.high}"


def parse_releases(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[FlashAttnRelease, ...], list[Problem]]:
    return load_strictly(records, _release, file, "release")


def parse_ranges(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[GpuRange, ...], list[Problem]]:
    return load_strictly(records, _range, file, "requirement")


def _range(rec: Mapping[str, Any]) -> GpuRange:
    try:
        versions = SpecifierSet(str(rec.get("versions", "")))
    except InvalidSpecifier:
        raise RecordError("versions", "not a version specifier") from None
    try:
        lo, hi = rec.get("min_compute_capability"), rec.get("max_compute_capability")
        low = ComputeCapability.parse(str(lo)) if lo else None
        high = ComputeCapability.parse(str(hi)) if hi else None
    except UsageError as exc:
        raise RecordError("min_compute_capability", str(exc)) from None
    return GpuRange(canonical(str(rec.get("package", ""))), versions, low, high, str(rec.get("versions", "")))


def _release(rec: Mapping[str, Any]) -> FlashAttnRelease:
    try:
        version = Version(str(rec["version"]))
    except (KeyError, InvalidVersion):
        raise RecordError("version", "missing or not a version") from None
    archs: dict[str, tuple[ComputeCapability, ...]] = {}
    raw = rec.get("archs_by_cuda")
    if isinstance(raw, dict):
        try:
            archs = {str(k): tuple(ComputeCapability.parse(a) for a in v if isinstance(a, str))
                     for k, v in raw.items() if isinstance(v, list)}
        except UsageError as exc:
            raise RecordError("archs_by_cuda", str(exc)) from None
    return FlashAttnRelease(
        package=canonical(str(rec.get("package", "flash-attn"))), version=version,
        matrix_unknown=rec.get("matrix") == "unknown",
        platforms=tuple(str(p) for p in rec.get("platforms", ["linux-x86_64"])),
        pythons=tuple(str(p) for p in rec.get("python", [])), archs_by_cuda=archs)
