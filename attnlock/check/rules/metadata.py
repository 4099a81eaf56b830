"""Requires-Dist of pinned releases for an environment, memoised per database: what the dependency rules read."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.check.context import Env, has_wheel
from attnlock.model import canonical

if TYPE_CHECKING:
    from attnlock.database import Database, Release
    from attnlock.database.store import (
        MetadataRecord,
    )
from attnlock.check.rules._base import _contains

_REQS: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], tuple[Requirement, ...]]] = \
    weakref.WeakKeyDictionary()


_MEMO: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], object]] = weakref.WeakKeyDictionary()


def _memo(db: Database) -> dict[tuple[object, ...], object]:
    cache = _MEMO.get(db)
    if cache is None:
        cache = _MEMO[db] = {}
    return cache


def _reqs(db: Database, rel: Release, env: Env | None, extras: Iterable[str] = ()) -> tuple[Requirement, ...]:
    """``rel.requirements`` for ``env`` (None: any platform), memoised per database.

    The answer depends only on the metadata record read for the platform and on the marker
    variables its Requires-Dist mention, so environments that differ in nothing a marker reads
    share one evaluation (most Requires-Dist never name the Python).
    """
    cache = _REQS.get(db)
    if cache is None:
        cache = _REQS[db] = {}
    ex = frozenset(extras)
    key = (rel.package, rel.version, env, ex)
    found = cache.get(key)
    if found is not None:
        return found
    shared: tuple[object, ...] | None = None
    if env is not None:
        rec = rel.metadata_for(env.platform)
        if rec is not None:
            py_dep, plat_dep = _dependence(rec)
            shared = ("env", id(rec), env.python if py_dep else None, env.platform if plat_dep else None, ex)
            found = cache.get(shared)
    if found is None:
        found = rel.requirements(env.platform if env else None, env.python if env else None, ex)
        # Equal lists share one tuple, so callers may compare them by identity.
        # (The requirements are the metadata record's own parsed objects, so their ids identify them.)
        found = cache.setdefault(("=", rel.package, rel.version, tuple(id(r) for r in found)), found)
        if shared is not None:
            cache[shared] = found
    cache[key] = found
    return found


#: Words in a Requires-Dist marker that make it depend on the Python or on the platform (conservative:
#: ``platform_python_implementation`` counts for both).
_PY_WORDS = ("python", "implementation")


_PLATFORM_WORDS = ("platform", "sys_", "os_name")


_DEPENDENCE: dict[int, tuple[MetadataRecord, bool, bool]] = {}


def _dependence(rec: MetadataRecord) -> tuple[bool, bool]:
    """Whether any marker of ``rec``'s Requires-Dist reads the Python, the platform (memoised by identity)."""
    found = _DEPENDENCE.get(id(rec))
    if found is None or found[0] is not rec:
        texts = [t.split(";", 1)[1] for t in rec.requires_dist if ";" in t]
        py = any(w in t for t in texts for w in _PY_WORDS)
        plat = any(w in t for t in texts for w in _PLATFORM_WORDS)
        found = _DEPENDENCE[id(rec)] = (rec, py, plat)
    return found[1], found[2]


def _req_on(db: Database, rel: Release, name: str, env: Env | None) -> Requirement | None:
    for req in _reqs(db, rel, env):
        if canonical(req.name) == name:
            return req
    return None


def _db_releases(db: Database | None, name: str) -> tuple[Release, ...]:
    return db.releases(name) if db is not None else ()


def _candidate(rel: Release) -> bool:
    """A release worth proposing in a fix: not yanked, not a pre-, dev- or local release."""
    return not rel.yanked and not rel.version.is_prerelease and not rel.version.is_devrelease and \
        rel.version.local is None


def _alternatives(db: Database, name: str, want: str, version: Version, env: Env) -> list[Release]:
    """Releases of ``name`` whose requirement on ``want`` admits ``version``, newest first."""
    out = []
    for rel in reversed(db.releases(name)):
        if not _candidate(rel):
            continue
        req = _req_on(db, rel, want, env)
        if req is not None and _contains(req.specifier, version):
            out.append(rel)
    return out


def _single(db: Database, name: str, spec: SpecifierSet) -> Release | None:
    """The one release ``spec`` admits (an exact pin in metadata), else None (memoised per database)."""
    cache = _memo(db)
    key = ("single", name, str(spec))
    found = cache.get(key)
    if found is None:
        matching = [r for r in db.releases(name) if _contains(spec, r.version)]
        found = cache[key] = (matching[0] if len(matching) == 1 else None,)
    return found[0]  # type: ignore[index, no-any-return]


def _release(db: Database, name: str, version: Version) -> Release | None:
    """``db.release`` memoised per database (it scans the release list)."""
    cache = _memo(db)
    key = ("release", name, version)
    found = cache.get(key)
    if found is None:
        found = cache[key] = (db.release(name, version),)
    return found[0]  # type: ignore[index, no-any-return]


def _has_wheel(db: Database, rel: Release, env: Env) -> bool:
    return has_wheel(db, rel, env)


