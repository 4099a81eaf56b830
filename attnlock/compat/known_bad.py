"""Known-bad combinations (``data/curated/known_bad.toml``) as typed records, and when a set of builds hits one.

A record names releases that install together but fail at run time.  It cuts exactly the
combination it names: every package in range, every build label glob matched, the torch build's
CUDA variant, the platform and the GPU where the record names them.  What the caller does not know
(no GPU given, an unpinned build) makes a hit *possible* rather than definite; the resolver avoids
definite hits of confirmed records and says where a possible one would bite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from attnlock.compat.abi import label_matches
from attnlock.compat.problems import Problem, RecordError, load_strictly, source_text
from attnlock.model import ComputeCapability, Platform, canonical

STATUSES = ("known-bad", "reported")


@dataclass(frozen=True)
class Installed:
    """One package of a set being judged: its version and, where known, its build."""

    version: Version
    label: str | None = None  # the build's local label (flash-attn's cu12torch2.6cxx11abifalse)
    variant: str | None = None  # torch: the CUDA variant of the build (cu124); None: unknown
    build_known: bool = True  # False when the set says the release but not which build


@dataclass(frozen=True)
class KnownBad:
    """A judgement: these releases (and builds) together are broken, with evidence."""

    id: str
    status: str  # "known-bad" (confirmed: avoided) or "reported" (one report: a warning)
    kind: str  # the record's class (mislabelled-wheel, abi, api, ...)
    packages: Mapping[str, SpecifierSet]
    reason: str
    error: str
    fix: str
    evidence: str
    source: str
    labels: Mapping[str, str] = field(default_factory=dict)
    torch_variant: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    gpu: SpecifierSet | None = None
    unless: Mapping[str, SpecifierSet] = field(default_factory=dict)
    alternative: Mapping[str, SpecifierSet] = field(default_factory=dict)

    @classmethod
    def parse(cls, rec: Mapping[str, Any]) -> KnownBad:
        rid = rec.get("id")
        if not isinstance(rid, str) or not rid:
            raise RecordError("id", "missing or not a string")
        status = rec.get("status", "known-bad")
        if status not in STATUSES:
            raise RecordError("status", f"{status!r} is not one of {', '.join(STATUSES)}")
        packages = _specs(rec, "packages", required=True)
        labels = rec.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise RecordError("labels", "must be a table of name = glob strings")
        gpu = rec.get("gpu")
        try:
            gpu_spec = SpecifierSet(gpu) if isinstance(gpu, str) else None
        except InvalidSpecifier:
            raise RecordError("gpu", f"{gpu!r} is not a compute-capability range") from None
        return cls(
            id=rid, status=str(status), kind=str(rec.get("class", "other")), packages=packages,
            reason=str(rec.get("reason", "")), error=str(rec.get("error", "")), fix=str(rec.get("fix", "")),
            evidence=source_text(rec, "evidence"), source=source_text(rec),
            labels={canonical(k): v for k, v in labels.items()},
            torch_variant=_strings(rec, "torch_variant"), platforms=_strings(rec, "platform"),
            gpu=gpu_spec, unless=_specs(rec, "unless"), alternative=_specs(rec, "alternative"),
        )

    @property
    def confirmed(self) -> bool:
        return self.status == "known-bad"

    def excused(self, versions: Mapping[str, Version]) -> bool:
        """True when a package named in ``unless`` is present at a matching version (the set then works)."""
        return any(name in versions and spec.contains(versions[name], prereleases=True)
                   for name, spec in self.unless.items())

    def judge(self, installed: Mapping[str, Installed], *, gpu: ComputeCapability | None = None,
              platform: Platform | None = None) -> Hit | None:
        """The hit of this record on ``installed`` (None when the set is outside the record)."""
        versions = {n: i.version for n, i in installed.items()}
        if self.excused(versions):
            return None
        unknown: list[str] = []
        for name, spec in self.packages.items():
            have = installed.get(name)
            if have is None or not spec.contains(have.version, prereleases=True):
                return None
        for name, glob in self.labels.items():
            have = installed[name] if name in installed else None
            if have is None:
                return None
            if not have.build_known:
                unknown.append(f"the {name} build")
            elif not label_matches(glob, have.label):
                return None
        if self.torch_variant:
            torch = installed.get("torch")
            if torch is None:
                return None
            if torch.variant is None:
                unknown.append("the torch build's CUDA variant")
            elif torch.variant not in self.torch_variant:
                return None
        if self.platforms:
            if platform is None:
                unknown.append("the platform")
            elif str(platform) not in self.platforms:
                return None
        if self.gpu is not None:
            if gpu is None:
                unknown.append("the GPU")
            elif not self.gpu.contains(Version(gpu.dotted), prereleases=True):
                return None
        return Hit(self, not unknown, tuple(unknown))

    def members(self) -> tuple[str, ...]:
        """The packages the combination is made of, kernel packages first (torch last)."""
        return tuple(sorted(self.packages, key=lambda n: (n == "torch", n)))

    def words(self) -> str:
        """``unsloth<=2024.9.post4 + xformers==0.0.27 + torch==2.3.1`` (labels and scope in brackets)."""
        parts = []
        for name in self.members():
            spec = str(self.packages[name]) or " (any)"
            glob = self.labels.get(name)
            parts.append(f"{name}{spec}" + (f" [{glob} builds]" if glob else ""))
        scope = []
        if self.torch_variant:
            scope.append(f"torch {'/'.join(self.torch_variant)} builds")
        if self.platforms:
            scope.append(", ".join(self.platforms))
        if self.gpu is not None:
            scope.append(f"GPUs {gpu_words(self.gpu)}")
        return " + ".join(parts) + (f" ({'; '.join(scope)})" if scope else "")


@dataclass(frozen=True)
class Hit:
    """A known-bad record that a set of builds falls into: definite, or possible for want of ``unknown``."""

    record: KnownBad
    definite: bool
    unknown: tuple[str, ...] = ()


def parse_known_bad(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[KnownBad, ...], list[Problem]]:
    """Every record that parses, and a problem for each that does not."""
    return load_strictly(records, KnownBad.parse, file, "combination")


def gpu_words(spec: SpecifierSet) -> str:
    """``>=12.0`` → ``≥ sm_120``: a capability range in compute-capability words."""
    ops = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
    parts = []
    for s in spec:
        v = s.version.replace(".*", "")
        pieces = v.split(".")
        arch = "sm_" + "".join(pieces[:2]) if all(p.isdigit() for p in pieces) else v
        parts.append(f"{ops.get(s.operator, s.operator)} {arch}")
    return ", ".join(sorted(parts))


def _specs(rec: Mapping[str, Any], key: str, *, required: bool = False) -> dict[str, SpecifierSet]:
    raw = rec.get(key)
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise RecordError(key, "must be a table of name = specifier")
    out = {}
    for name, spec in raw.items():
        if not isinstance(spec, str):
            raise RecordError(f"{key}.{name}", "must be a specifier string")
        try:
            out[canonical(name)] = SpecifierSet("" if spec == "*" else spec)
        except InvalidSpecifier:
            raise RecordError(f"{key}.{name}", f"{spec!r} is not a version specifier") from None
    return out


def _strings(rec: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = rec.get(key)
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise RecordError(key, "must be a string or a list of strings")
    return tuple(raw)
