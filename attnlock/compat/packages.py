"""Packages planned on request: their torch pairing, end of life and index presence (``packages.toml``),
and the CUDA versions of bitsandbytes' native libraries (derived ``members``).

Typed views parsed strictly: a record that does not parse is a problem for ``db validate``, never a
crash here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.compat.problems import Problem, RecordError, load_strictly, source_text
from attnlock.database.store import Release
from attnlock.model import canonical


@dataclass(frozen=True)
class TorchPairing:
    """``[[torch_pairing]]``: the torch releases a package's releases work with, beyond its metadata."""

    package: str
    versions: SpecifierSet
    torch: SpecifierSet
    source: str


@dataclass(frozen=True)
class EndOfLife:
    """``[[end_of_life]]``: the package's last release and upstream's words."""

    package: str
    last: Version
    announced: str
    source: str


@dataclass(frozen=True)
class IndexPresence:
    """``[[index_presence]]``: what the default index carries of a package (placeholder, absent, partial)."""

    package: str
    served: str
    what: str
    index: str | None
    source: str
    versions: SpecifierSet | None = None  # the releases the record is about (None: the package as a whole)


SERVED = ("placeholder", "absent", "partial")


@dataclass(frozen=True)
class CudaLibraryRule:
    """``[[cuda_library]]``: how a package picks its native library by torch's CUDA version."""

    package: str
    versions: SpecifierSet
    match: str  # "exact": the library named after torch's CUDA must ship; "major": one of the same major
    source: str


MATCHES = ("exact", "major")


def parse_pairings(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[TorchPairing, ...], list[Problem]]:
    return load_strictly(records, _pairing, file, "torch_pairing")


def parse_end_of_life(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[EndOfLife, ...], list[Problem]]:
    return load_strictly(records, _eol, file, "end_of_life")


def parse_presence(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[IndexPresence, ...], list[Problem]]:
    return load_strictly(records, _presence, file, "index_presence")


def parse_cuda_libraries(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[CudaLibraryRule, ...],
                                                                                 list[Problem]]:
    return load_strictly(records, _cuda_library, file, "cuda_library")


def _cuda_library(rec: Mapping[str, Any]) -> CudaLibraryRule:
    match = _text(rec, "match")
    if match not in MATCHES:
        raise RecordError("match", f"{match!r} is not one of {', '.join(MATCHES)}")
    return CudaLibraryRule(canonical(_text(rec, "package")), _spec(rec, "versions"), match, source_text(rec))


def _text(rec: Mapping[str, Any], key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(key, "must be a non-empty string")
    return value


def _spec(rec: Mapping[str, Any], key: str) -> SpecifierSet:
    try:
        return SpecifierSet(_text(rec, key))
    except InvalidSpecifier:
        raise RecordError(key, f"malformed specifier {rec.get(key)!r}") from None


def _pairing(rec: Mapping[str, Any]) -> TorchPairing:
    return TorchPairing(canonical(_text(rec, "package")), _spec(rec, "versions"), _spec(rec, "torch"),
                        source_text(rec))


def _eol(rec: Mapping[str, Any]) -> EndOfLife:
    try:
        last = Version(_text(rec, "last"))
    except InvalidVersion:
        raise RecordError("last", f"malformed version {rec.get('last')!r}") from None
    return EndOfLife(canonical(_text(rec, "package")), last, _text(rec, "announced"), source_text(rec))


def _presence(rec: Mapping[str, Any]) -> IndexPresence:
    served = _text(rec, "served")
    if served not in SERVED:
        raise RecordError("served", f"{served!r} is not one of {', '.join(SERVED)}")
    index = rec.get("index")
    if index is not None and not isinstance(index, str):
        raise RecordError("index", "must be a URL string")
    versions = _spec(rec, "versions") if "versions" in rec else None
    return IndexPresence(canonical(_text(rec, "package")), served, _text(rec, "what"), index, source_text(rec),
                         versions)


# bitsandbytes names each native library after the CUDA it was built with: libbitsandbytes_cuda118.so,
# libbitsandbytes_cuda121_nocublaslt.so, libbitsandbytes_cuda124.dll (no CUDA: _cpu, _mps, _rocm62, _xpu).
_CUDA_LIB = re.compile(r"libbitsandbytes_cuda(\d+)(?:_nocublaslt)?\.(?:so|dll|dylib)$")


def binary_cuda(rel: Release) -> dict[str, tuple[str, ...]]:
    """Per wheel of ``rel``: the CUDA labels (``cu118``) its native libraries were built for, from the
    member names refresh listed (``refresh.toml [members]``); wheels whose members were not listed are
    absent (unknown)."""
    out: dict[str, tuple[str, ...]] = {}
    for wheel, names in rel.members.items():
        labels = {f"cu{m.group(1)}" for n in names if (m := _CUDA_LIB.search(n))}
        out[wheel] = tuple(sorted(labels, key=lambda lab: int(lab[2:])))
    return out


__all__ = ["CudaLibraryRule", "EndOfLife", "IndexPresence", "TorchPairing", "binary_cuda", "parse_cuda_libraries", "parse_end_of_life", "parse_pairings",
           "parse_presence"]
