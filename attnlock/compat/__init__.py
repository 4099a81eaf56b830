"""The compatibility model: builds, ABI windows, known-bad combinations — the one reader of curated records.

``model_for(db)`` returns the :class:`~attnlock.compat.model.Model` every command asks:
the resolver's candidate sources, ``check``'s rules and ``diagnose``'s fixes.
Nothing heavy is imported here.
"""

from __future__ import annotations

from attnlock.compat.abi import AbiWindow, Verdict
from attnlock.compat.builds import KernelBuild
from attnlock.compat.known_bad import Hit, Installed, KnownBad
from attnlock.compat.model import Model, model_for

__all__ = ["AbiWindow", "Hit", "Installed", "KernelBuild", "KnownBad", "Model", "Verdict", "model_for"]
