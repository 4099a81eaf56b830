"""Answer the diagnosis port (:class:`~attnlock.diagnose.port.CompatibilitySource`) from ``attnlock.database``."""

from __future__ import annotations

from typing import cast

from attnlock.diagnose.port import CompatibilitySource


def source_for(db: object | None) -> CompatibilitySource | None:
    """A port over ``db``: used as is when it already is one, else adapted; None when no database loads."""
    if db is not None and hasattr(db, "xformers_builds_for_torch"):
        return cast(CompatibilitySource, db)
    from attnlock.errors import DataError

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
        from attnlock.diagnose._database_adapter import DatabaseSource
    except ImportError:
        return None
    return DatabaseSource(db)
