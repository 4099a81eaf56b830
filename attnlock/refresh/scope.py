"""The refresh scope: ``data/curated/refresh.toml`` parsed into :class:`PackageScope` values."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from attnlock.errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

READ_MODES = ("metadata", "list")
PRERELEASE_RULES = ("newest-line", "all")


@dataclass(frozen=True)
class PackageScope:
    """Which releases of one package refresh covers, and what it reads from them."""

    name: str
    specifier: SpecifierSet
    prereleases: str | None = None
    read: str = "metadata"
    build_info: str | None = None
    members: str | None = None  # glob of member names listed from every wheel (bitsandbytes' CUDA libraries)

    def select(self, versions: set[Version]) -> list[Version]:
        """The versions in scope, ascending.

        Final releases matching the specifier; pre-/dev releases only under a rule:
        ``all``, or ``newest-line`` (those whose release segment is the newest one among the
        matching versions, e.g. 0.0.35.devN when 0.0.35 is the newest).
        """
        matching = [v for v in versions if self.specifier.contains(v, prereleases=True)]
        finals = {v for v in matching if not (v.is_prerelease or v.is_devrelease)}
        chosen = set(finals)
        pres = [v for v in matching if v not in finals]
        if self.prereleases == "all":
            chosen.update(pres)
        elif self.prereleases == "newest-line" and matching:
            newest = max(v.release for v in matching)
            chosen.update(v for v in pres if v.release == newest)
        return sorted(chosen)


def load_scope(path: Path) -> list[PackageScope]:
    """Parse ``refresh.toml``; raises :class:`DataError` naming file and key."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError("refresh scope file is missing", path=str(path)) from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read refresh scope: {exc}", path=str(path)) from exc
    packages = doc.get("packages")
    if not isinstance(packages, dict) or not packages:
        raise DataError("[packages] must map package names to specifiers", path=str(path))
    tables: dict[str, dict[str, str]] = {}
    for table in ("prereleases", "read", "build_info", "members"):
        raw = doc.get(table, {})
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise DataError(f"[{table}] must map package names to strings", path=str(path))
        tables[table] = {canonicalize_name(k): v for k, v in raw.items()}
        for k in tables[table]:
            if k not in {canonicalize_name(p) for p in packages}:
                raise DataError(f"[{table}] names {k!r}, which [packages] does not", path=str(path))
    out = []
    for name, spec in packages.items():
        if not isinstance(spec, str):
            raise DataError(f"packages.{name}: must be a specifier string", path=str(path))
        try:
            specifier = SpecifierSet("" if spec.strip() == "*" else spec)
        except InvalidSpecifier as exc:
            raise DataError(f"packages.{name}: malformed specifier {spec!r}", path=str(path)) from exc
        key = canonicalize_name(name)
        pre = tables["prereleases"].get(key)
        if pre is not None and pre not in PRERELEASE_RULES:
            raise DataError(f"prereleases.{name}: {pre!r} is not one of {PRERELEASE_RULES}", path=str(path))
        read = tables["read"].get(key, "metadata")
        if read not in READ_MODES:
            raise DataError(f"read.{name}: {read!r} is not one of {READ_MODES}", path=str(path))
        out.append(PackageScope(key, specifier, pre, read, tables["build_info"].get(key), tables["members"].get(key)))
    return out
