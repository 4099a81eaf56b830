"""Where builds that the default index does not carry come from: a port the resolver asks.

The default answers from the database (``torch.toml [[index]] url_template`` and the
flash-attn release matrix), so URLs stay data.  Tests and mirrors hand the resolver another
implementation (:class:`MirrorLocations`) instead of patching anything.
"""

from __future__ import annotations

from typing import Protocol

from attnlock.database.store import Database
from attnlock.errors import DataError


class Locations(Protocol):
    """Answers where a PyTorch-index variant and a direct wheel URL live."""

    def index_url(self, variant: str) -> str:
        """The index serving the ``variant`` builds (``cu121``, ``cpu``)."""
        ...

    def wheel_url(self, url: str) -> str:
        """The URL to use for a wheel the database records at ``url``."""
        ...


class DatabaseLocations:
    """The locations recorded in the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def index_url(self, variant: str) -> str:
        url = self._db.index_url(variant)
        if url is None:
            raise DataError(
                "the database does not say where the PyTorch index is",
                path=str(self._db.root / "curated" / "torch.toml"),
                hint='add [[index]] name = "pytorch", url_template = ".../whl/{variant}" with source and checked',
            )
        return url

    def wheel_url(self, url: str) -> str:
        return url


class MirrorLocations:
    """A mirror: variant indexes under ``index_base/<variant>/``, wheels by file name under ``wheel_base``."""

    def __init__(self, index_base: str, wheel_base: str | None = None) -> None:
        self._index_base = index_base.rstrip("/")
        self._wheel_base = wheel_base.rstrip("/") if wheel_base else None

    def index_url(self, variant: str) -> str:
        return f"{self._index_base}/{variant}/"

    def wheel_url(self, url: str) -> str:
        if self._wheel_base is None:
            return url
        return f"{self._wheel_base}/{url.rsplit('/', 1)[-1]}"
