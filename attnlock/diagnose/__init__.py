"""Diagnose error logs: name the cause of a failure and the fix, from the error signatures in ``data/``.

Public API (stable; ``attnlock verify`` uses it)::

    from attnlock.diagnose import diagnose, Diagnosis
    diagnoses = diagnose(log_text, target=target, db=db)

``diagnose`` returns every :class:`Diagnosis` the log supports, root causes first;
an empty list means the log matched no known signature.  ``db`` is an
:class:`attnlock.database.Database` or anything implementing
:class:`attnlock.diagnose.port.CompatibilitySource`; when omitted, the shipped
database is loaded if it can be, and fixes fall back to the signatures' texts
when it cannot.
"""

from __future__ import annotations

from pathlib import Path

from attnlock.diagnose.diagnosis import Diagnosis
from attnlock.model import Target

__all__ = ["Diagnosis", "diagnose"]


def diagnose(
    text: str,
    *,
    target: Target | None = None,
    db: object | None = None,
    signatures_path: Path | None = None,
) -> list[Diagnosis]:
    """Diagnose ``text`` (an error log) for ``target`` against the database ``db``."""
    from attnlock.diagnose.database_source import source_for
    from attnlock.diagnose.engine import run
    from attnlock.diagnose.signatures import load_signatures

    sigs = load_signatures(signatures_path)
    return run(text, sigs, target=target, source=source_for(db))
