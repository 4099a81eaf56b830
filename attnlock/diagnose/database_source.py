"""Answer the diagnosis port (:class:`~attnlock.diagnose.port.CompatibilitySource`) from ``attnlock.database``.

xformers builds come from two places: the build info inside each PyPI wheel
(``cpp_lib.json``: the exact torch the extension was compiled for) and the
curated list of builds on the PyTorch indexes (``xformers.toml`` ``index_builds``).
The PyTorch index URL of a variant comes from ``torch.toml``'s ``[index]``
``url_template`` (``…/whl/{variant}``); without it, fixes name the variant only.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from attnlock.diagnose.port import CompatibilitySource, FlashAttnWheel, XformersBuild
from attnlock.errors import AttnlockError, DataError


# One adapter per database object, so its merged build list is computed once (verify
# diagnoses every failed check against the same database).
_ADAPTERS: weakref.WeakKeyDictionary[object, DatabaseSource] = weakref.WeakKeyDictionary()


def source_for(db: object | None) -> CompatibilitySource | None:
    """A port over ``db``: used as is when it already is one, else adapted; None when no database loads."""
    if db is not None and hasattr(db, "xformers_builds_for_torch"):
        return cast(CompatibilitySource, db)
    if db is None:
        try:
            from attnlock.database import load
        except ImportError:
            return None
        try:
            db = load()
        except DataError:
            return None
    try:
        cached = _ADAPTERS.get(db)
    except TypeError:  # not weak-referenceable or not hashable: adapt afresh
        return DatabaseSource(db)
    if cached is None:
        cached = _ADAPTERS[db] = DatabaseSource(db)
    return cached


class DatabaseSource:
    """The port over an :class:`attnlock.database.Database` (duck-typed: only its query API is used)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._xformers: list[XformersBuild] | None = None
        # Curated torch requirements of xformers releases, for releases refresh has not read.
        self._requirements: dict[Version, list[Requirement]] = {}

    def _safe(self, default: Any, fn: Any, *args: Any) -> Any:
        # A malformed or absent data file makes that answer unknown, not the diagnosis fail.
        try:
            return fn(*args)
        except (DataError, OSError, KeyError, ValueError, TypeError):
            return default

    def index_url(self, variant: str) -> str | None:
        model = self._model()
        return self._safe(None, model.index_url, variant) if model is not None else None

    def _model(self) -> Any:
        from attnlock.compat import model_for
        from attnlock.database.store import Database

        return model_for(self.db) if isinstance(self.db, Database) else None

    def _all_xformers(self) -> list[XformersBuild]:
        """Every known xformers build, newest release first, from the compatibility model (each
        default-index wheel's cpp_lib.json, the curated PyTorch-index builds, and for releases refresh
        has not read the curated default-index build)."""
        if self._xformers is not None:
            return self._xformers
        model = self._model()
        by_version: dict[Version, list[XformersBuild]] = {}
        if model is not None:
            versions = {r.version for r in self._safe((), self.db.releases, "xformers")}
            curated = self._safe({}, model.xformers_curated_versions)
            for version in sorted(versions | set(curated)):
                for b in self._safe([], model.xformers_release_builds, version):
                    idx = b.index if b.origin == "index" else None
                    by_version.setdefault(version, []).append(XformersBuild(
                        version, b.built_for, idx, self.index_url(idx) if idx else None, b.evidence))
            for version, req in curated.items():
                if req is not None and version not in self._requirements:
                    try:
                        self._requirements[version] = [Requirement(f"torch{req}")]
                    except InvalidRequirement:
                        pass
        # Final releases before pre-releases and dev builds, newest first within each.
        order = sorted(by_version, key=lambda v: (not (v.is_prerelease or v.is_devrelease), v), reverse=True)
        self._xformers = [b for v in order for b in by_version[v]]
        return self._xformers

    def xformers_builds_for_torch(self, torch: Version) -> list[XformersBuild]:
        return [b for b in self._all_xformers() if b.torch.public == torch.public]

    def xformers_builds(self, xformers: Version) -> list[XformersBuild]:
        return [b for b in self._all_xformers() if b.xformers == xformers]

    def releases(self, package: str) -> list[Version]:
        found = {r.version for r in self._safe((), self.db.releases, package)}
        if package == "xformers":
            self._all_xformers()
            found |= set(self._requirements)
        return sorted(found)

    def requirements(self, package: str, version: Version) -> list[Requirement] | None:
        rel = self._safe(None, self.db.release, package, version)
        rec = rel.metadata_for(None) if rel is not None else None
        if rec is not None:
            return list(rec.parsed)
        if package == "xformers":
            self._all_xformers()
            return self._requirements.get(version)
        return None

    def flash_attn_wheels(self, version: Version | None = None) -> list[FlashAttnWheel]:
        wheels = self._safe([], self.db.flash_attn_wheels, "flash-attn", version)
        out = [FlashAttnWheel(w.version, w.url, w.torch_minor, w.cuda, w.cxx11abi, w.python, w.platform)
               for w in wheels]
        return sorted(out, key=lambda w: w.version, reverse=True)

    def flash_attn_min_capability(self) -> tuple[int, int] | None:
        model = self._model()
        ranges = self._safe((), model.gpu_ranges, "flash-attn") if model is not None else ()
        lows = {(r.low.major, r.low.minor) for r in ranges if r.low is not None}
        if not ranges or len(lows) != 1 or any(r.low is None for r in ranges):
            return None
        return lows.pop()

    def torch_default_variant(self, torch: Version) -> str | None:
        variants = self._safe(None, self.db.torch_variants, Version(torch.public))
        pypi = getattr(variants, "pypi", None)
        return pypi.label if pypi is not None else None

    def torch_cxx11abi(self, torch: Version, platform: str = "linux-x86_64") -> bool | None:
        from attnlock.model import Platform

        try:
            plat = Platform.parse(platform)
        except AttnlockError:
            return None
        index = "pytorch" if torch.local else "pypi"
        answer = self._safe(None, self.db.torch_abi, Version(torch.public), plat, index)
        return answer if isinstance(answer, bool) else None
