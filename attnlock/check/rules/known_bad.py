"""Pins that match a known-bad combination (AL106) or a reported one, through the compatibility model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnlock.check.findings import Finding
from attnlock.model import Target

if TYPE_CHECKING:
    from attnlock.database import Database
    from attnlock.database.store import (
        KnownBad,
    )
from attnlock.check.rules._base import _finding, _Pin
from attnlock.check.rules.metadata import _memo


def _known_bad(db: Database) -> tuple[KnownBad, ...]:
    cache = _memo(db)
    found = cache.get(("known_bad",))
    if found is None:
        found = cache[("known_bad",)] = db.known_bad()
    return found  # type: ignore[return-value]


def known_bad_rules(db: Database, pins: dict[str, _Pin], target: Target) -> list[Finding]:
    """Combinations the curated database records as broken."""
    out: list[Finding] = []
    versions = {n: p.exact for n, p in pins.items() if p.exact is not None}
    for kb in _known_bad(db):
        if not kb.matches(versions, target.gpu):
            continue
        involved = [pins[n] for n in kb.packages if n in pins]
        if not involved:
            continue
        at = max(involved, key=lambda p: (p.entry.path, p.entry.line)).entry
        message = kb.reason or kb.id
        if kb.error:
            message += f" (fails with: {kb.error.strip().splitlines()[0]})"
        out.append(_finding("AL106", at, f"known-bad combination {kb.id}: {message}", list(kb.packages),
                            kb.fix or None))
    return out


