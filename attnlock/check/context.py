"""An install set and the environments it is judged in: what the rules look at.

An :class:`InstallSet` is what one installer run would see: a requirements
file with everything it includes, a pyproject's base dependencies (alone and
with each extra or dependency group), or a lock file.  :func:`environments`
lists the (platform, Python) pairs the set must work for: the target options
fix them, else the file's markers and ``requires-python`` narrow the whole
supported range (every CPython a torch wheel in the database names).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from attnlock.check.document import Entry, IndexDecl
from attnlock.model import Platform, PythonVersion, Target

if TYPE_CHECKING:
    from attnlock.database import Database, Release

#: The platforms attnlock plans for (the spellings of ``--platform``).
PLATFORMS: tuple[Platform, ...] = (
    Platform("linux", "x86_64"),
    Platform("linux", "aarch64"),
    Platform("windows", "amd64"),
    Platform("macos", "arm64"),
)


@dataclass(frozen=True)
class Env:
    """One (platform, Python) pair a set of pins is judged in.

    Envs key every memo of the rules, so the hash is computed once.
    """

    platform: Platform
    python: PythonVersion
    _hash: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        key = (self.platform.os, self.platform.arch, self.python.major, self.python.minor)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"CPython {self.python} on {self.platform}"


@dataclass
class InstallSet:
    """Entries and indexes one installer run sees, with the file kinds they came from."""

    name: str  # the top-level file, plus ``[extra]`` / ``(group)`` for pyproject parts
    kind: str  # requirements | constraints | pyproject | uv.lock | pylock
    entries: list[Entry]
    indexes: list[IndexDecl]
    requires_python: str | None = None
    envs: tuple[Env, ...] = field(default_factory=tuple)
    _active: dict[Env, list[Entry]] = field(default_factory=dict, repr=False)
    _active_ids: dict[Env, set[int]] = field(default_factory=dict, repr=False)

    def is_active(self, entry: Entry, env: Env) -> bool:
        """Whether ``entry`` (this set's own object) is active in ``env``."""
        ids = self._active_ids.get(env)
        if ids is None:
            ids = self._active_ids[env] = {id(e) for e in self.active(env)}
        return id(entry) in ids

    def active(self, env: Env) -> list[Entry]:
        """The entries whose markers hold in ``env`` (computed once per environment)."""
        cached = self._active.get(env)
        if cached is not None:
            return cached
        from attnlock.database.store import target_environment

        environment = target_environment(env.platform, env.python)
        out = []
        for e in self.entries:
            if e.requirement is None:
                continue
            if e.requirement.marker is None and e.extra_marker is None:
                out.append(e)
                continue
            extras = (e.group[6:],) if e.group.startswith("extra:") else ()
            if not _holds(e.requirement.marker, env, environment, extras):
                continue
            if e.extra_marker is not None and not _holds(e.extra_marker, env, environment, ()):
                continue
            out.append(e)
        self._active[env] = out
        return out


_MARKERS: dict[tuple[str, Env, tuple[str, ...]], bool] = {}


def _holds(marker: Marker | None, env: Env, environment: dict[str, str], extras: tuple[str, ...]) -> bool:
    """Whether ``marker`` holds in ``env``; memoised by the marker's text (files repeat markers: a
    10,000-line file with one marker per line evaluates each distinct marker once per environment)."""
    if marker is None:
        return True
    key = (_marker_text(marker), env, extras)
    found = _MARKERS.get(key)
    if found is None:
        from attnlock.database.store import marker_holds

        found = _MARKERS[key] = marker_holds(marker, environment, extras)
    return found


_TEXTS: dict[int, tuple[Marker, str]] = {}


def _marker_text(marker: Marker) -> str:
    """``str(marker)``, computed once per marker object (the object is kept, so its id is not reused)."""
    found = _TEXTS.get(id(marker))
    if found is None or found[0] is not marker:
        found = _TEXTS[id(marker)] = (marker, str(marker))
    return found[1]


_PYTHONS: weakref.WeakKeyDictionary[Database, frozenset[PythonVersion]] = weakref.WeakKeyDictionary()


def _db_pythons(db: Database | None) -> set[PythonVersion]:
    found: set[PythonVersion] = set()
    if db is None:
        return found
    cached = _PYTHONS.get(db)
    if cached is not None:
        return set(cached)
    import re

    # One scan over every torch file name (a few thousand), not one regex call per file.
    names = "\n".join(f.filename for rel in db.releases("torch") for f in rel.files)
    for major, minor in set(re.findall(r"-cp(\d)(\d+)-", names)):
        found.add(PythonVersion(int(major), int(minor)))
    _PYTHONS[db] = frozenset(found)
    return found


_WHEELS: weakref.WeakKeyDictionary[Database, dict[tuple[str, Version, Env], bool]] = weakref.WeakKeyDictionary()


def has_wheel(db: Database, release: Release, env: Env) -> bool:
    """Whether ``release`` has a wheel for ``env``; memoised per database."""
    cache = _WHEELS.get(db)
    if cache is None:
        cache = _WHEELS[db] = {}
    key = (release.package, release.version, env)
    found = cache.get(key)
    if found is None:
        found = cache[key] = release.has_wheel_for(env.platform, env.python)
    return found


def environments(target: Target, requires_python: str | None, db: Database | None,
                 marker_pythons: Iterable[PythonVersion] = (), torch: Version | None = None) -> tuple[Env, ...]:
    """The environments to judge in: the target's, else the supported range narrowed by requires-python.

    With ``torch`` (the set's unconditional exact torch pin) and no target Python or platform,
    the range is narrowed to where that torch release has wheels: the set cannot install
    anywhere else, and torch's own missing wheels are judged against the full range by
    :func:`attnlock.check.rules.release_rules` only when the target or markers fix the place.
    """
    platforms: tuple[Platform, ...] = (target.platform,) if target.platform is not None else PLATFORMS
    if target.python is not None:
        pythons: set[PythonVersion] = {target.python}
    else:
        pythons = _db_pythons(db) | set(marker_pythons)
        pythons.add(PythonVersion(sys.version_info.major, sys.version_info.minor))
        if requires_python:
            try:
                spec = SpecifierSet(requires_python)
            except InvalidSpecifier:
                spec = SpecifierSet()
            narrowed = {p for p in pythons if spec.contains(Version(f"{p}.0"), prereleases=True)}
            pythons = narrowed or pythons
    envs = tuple(Env(p, py) for p in platforms for py in sorted(pythons))
    if torch is None or db is None or (target.python is not None and target.platform is not None):
        return envs
    release = db.release("torch", torch)
    if release is None or not release.wheels():
        return envs
    keep = set(marker_pythons)
    served = tuple(e for e in envs if e.python in keep or has_wheel(db, release, e))
    return served or envs
