"""The database facts detection falls back on: GPU name → compute capability, driver → newest CUDA.

A port: :class:`DatabaseCatalog` asks ``attnlock.database`` (imported only
when a question is asked, so a machine whose probes answer everything never
reads ``data/``); tests pass any object with the same two methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from attnlock.database import Database


class Catalog(Protocol):
    """What detection may ask the database; each answer is ``(value, source)`` or None."""

    def gpu_capability(self, name: str) -> tuple[str, str] | None: ...

    def cuda_max_for_driver(self, driver: str, os_name: str) -> tuple[str, str] | None: ...


class CatalogUnavailable(Exception):
    """The database cannot answer (missing module, missing or malformed file); the message says why."""


class DatabaseCatalog:
    """:class:`Catalog` over ``attnlock.database.load()``."""

    def _db(self) -> Database:
        try:
            from attnlock.database import load
        except ImportError as exc:  # the database package is not part of this build
            raise CatalogUnavailable(f"attnlock.database unavailable ({exc})") from None
        return load()

    def gpu_capability(self, name: str) -> tuple[str, str] | None:
        from attnlock.errors import AttnlockError

        try:
            gpu = self._db().gpu(name)
        except (AttnlockError, OSError, ValueError) as exc:
            raise CatalogUnavailable(f"database: {exc}") from None
        if gpu is None:
            return None
        return gpu.compute_capability.dotted, f"data/curated/gpus.toml ({gpu.name})"

    def cuda_max_for_driver(self, driver: str, os_name: str) -> tuple[str, str] | None:
        from packaging.version import InvalidVersion, Version

        from attnlock.errors import AttnlockError

        try:
            version = Version(driver)
        except InvalidVersion:
            return None
        try:
            best = self._db().cuda_max_for_driver(version, os_name)
        except (AttnlockError, OSError, ValueError) as exc:
            raise CatalogUnavailable(f"database: {exc}") from None
        if best is None:
            return None
        return f"{best.major}.{best.minor}", "data/curated/cuda.toml (toolkit driver floors)"
