"""Memoised database answers: the resolver asks the same questions for every target.

``facts_for(db)`` wraps a :class:`~attnlock.database.store.Database` (one wrapper per database,
kept while the database lives) and remembers each answer by its arguments, so regenerating
two hundred popular targets parses each specifier and expands each wheel matrix once.
"""

from __future__ import annotations

import weakref
from typing import Any

from attnlock.database.store import Database, Release
from attnlock.model import Platform, PythonVersion

_WRAPPERS: weakref.WeakKeyDictionary[Database, Facts] = weakref.WeakKeyDictionary()


class Facts:
    """A :class:`Database` whose query methods remember their answers (callers must not mutate them)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._memo: dict[tuple[Any, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.db, name)
        if not callable(attr):
            return attr
        memo = self._memo

        def call(*args: Any, **kwargs: Any) -> Any:
            key = (name, args, tuple(sorted(kwargs.items())))
            try:
                return memo[key]
            except KeyError:
                value = memo[key] = attr(*args, **kwargs)
                return value
            except TypeError:  # an unhashable argument: ask the database
                return attr(*args, **kwargs)

        setattr(self, name, call)  # later lookups skip __getattr__
        return call

    def wheel_ok(self, rel: Release, platform: Platform | None, python: PythonVersion | None) -> bool:
        """``rel.has_wheel_for(platform, python)``, remembered."""
        key = ("wheel_ok", rel.package, rel.version, platform, python)
        if key not in self._memo:
            self._memo[key] = rel.has_wheel_for(platform, python)
        return bool(self._memo[key])


def facts_for(db: Database | Facts) -> Facts:
    """The memoising wrapper of ``db`` (the same one for the same database)."""
    if isinstance(db, Facts):
        return db
    found = _WRAPPERS.get(db)
    if found is None:
        found = _WRAPPERS[db] = Facts(db)
    return found


__all__ = ["Facts", "facts_for"]
