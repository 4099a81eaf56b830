"""Answer the diagnosis port (:class:`~attnlock.diagnose.port.CompatibilitySource`) from ``attnlock.database``.

xformers builds come from two places: the build info inside each PyPI wheel
(``cpp_lib.json``: the exact torch the extension was compiled for) and the
curated list of builds on the PyTorch indexes (``xformers.toml`` ``index_builds``).
The PyTorch index URL of a variant comes from ``torch.toml``'s ``[index]``
``url_template`` (``…/whl/{variant}``); without it, fixes name the variant only.
"""

from __future__ import annotations

from typing import Any, cast

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from attnlock.diagnose.port import CompatibilitySource, FlashAttnWheel, XformersBuild
from attnlock.errors import AttnlockError, DataError


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
    return DatabaseSource(db)


class DatabaseSource:
    """The port over an :class:`attnlock.database.Database` (duck-typed: only its query API is used)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._xformers: list[XformersBuild] | None = None

    def _safe(self, default: Any, fn: Any, *args: Any) -> Any:
        # A malformed or absent data file makes that answer unknown, not the diagnosis fail.
        try:
            return fn(*args)
        except (DataError, OSError, KeyError, ValueError, TypeError):
            return default

    def index_url(self, variant: str) -> str | None:
        raw = self._safe({}, self.db.curated_raw, "torch")
        index = raw.get("index") if isinstance(raw, dict) else None
        template = index.get("url_template") if isinstance(index, dict) else None
        if not isinstance(template, str) or "{variant}" not in template:
            return None
        return template.replace("{variant}", variant)

    def _all_xformers(self) -> list[XformersBuild]:
        if self._xformers is not None:
            return self._xformers
        out: list[XformersBuild] = []
        for rel in reversed(self._safe((), self.db.releases, "xformers")):
            seen: set[Version] = set()
            for wheel, info in sorted(rel.build_info.items()):
                try:
                    torch = Version(str(info.get("torch")))
                except InvalidVersion:
                    continue
                if torch not in seen:
                    seen.add(torch)
                    out.append(XformersBuild(rel.version, torch, None, None, wheel))
            for torch, variants, source in self._safe([], self.db.xformers_index_builds, rel.version):
                for variant in variants:
                    label = variant.label
                    out.append(XformersBuild(rel.version, Version(f"{torch.public}+{label}"), label,
                                             self.index_url(label), source))
        self._xformers = out
        return out

    def xformers_builds_for_torch(self, torch: Version) -> list[XformersBuild]:
        return [b for b in self._all_xformers() if b.torch.public == torch.public]

    def xformers_builds(self, xformers: Version) -> list[XformersBuild]:
        return [b for b in self._all_xformers() if b.xformers == xformers]

    def releases(self, package: str) -> list[Version]:
        return [r.version for r in self._safe((), self.db.releases, package)]

    def requirements(self, package: str, version: Version) -> list[Requirement] | None:
        rel = self._safe(None, self.db.release, package, version)
        if rel is None:
            return None
        rec = rel.metadata_for(None)
        return None if rec is None else list(rec.parsed)

    def flash_attn_wheels(self, version: Version | None = None) -> list[FlashAttnWheel]:
        wheels = self._safe([], self.db.flash_attn_wheels, "flash-attn", version)
        out = [FlashAttnWheel(w.version, w.url, w.torch_minor, w.cuda, w.cxx11abi, w.python, w.platform)
               for w in wheels]
        return sorted(out, key=lambda w: w.version, reverse=True)

    def torch_cxx11abi(self, torch: Version, platform: str = "linux-x86_64") -> bool | None:
        from attnlock.model import Platform

        try:
            plat = Platform.parse(platform)
        except AttnlockError:
            return None
        index = "pytorch" if torch.local else "pypi"
        answer = self._safe(None, self.db.torch_abi, Version(torch.public), plat, index)
        return answer if isinstance(answer, bool) else None
