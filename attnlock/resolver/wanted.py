"""What the user asks the resolver for: package names with ranges (``--with``), and the default set.

``covered`` reads the default package set from the data; ``torch_target`` moves a local label out
of a torch range (``==2.3.1+cu118`` is torch 2.3.1, the cu118 build).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from attnlock.database.store import Database
from attnlock.errors import UsageError
from attnlock.model import Target, canonical


def covered(db: Database) -> tuple[str, ...]:
    """The packages `generate` plans by default, in plan order: ``refresh.toml [covered] packages``."""
    from attnlock.compat import model_for

    names = model_for(db).covered()
    if names is None:
        from attnlock.errors import DataError

        raise DataError("the database does not say which packages generate covers",
                        path=str(db.root / "curated" / "refresh.toml"),
                        hint='add [covered] packages = ["torch", ...] (data/SCHEMA.md)')
    return names


@dataclass(frozen=True)
class Wanted:
    """One package the user asked for, with an optional range (``xformers==0.0.27``)."""

    name: str
    specifier: SpecifierSet
    extras: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Wanted:
        try:
            req = Requirement(text.strip())
        except InvalidRequirement:
            raise UsageError(f"malformed package {text!r} in --with",
                             hint="write names, optionally with a range: torch,xformers==0.0.27") from None
        if req.url or req.marker:
            raise UsageError(f"--with takes names and ranges, not URLs or markers: {text!r}")
        return cls(canonical(req.name), req.specifier, frozenset(canonical(e) for e in req.extras))


def parse_with(text: str | Sequence[str] | None) -> tuple[Wanted, ...] | None:
    """``--with torch,xformers==0.0.27`` → wanted packages; None/empty means the default set."""
    if text is None:
        return None
    items = [text] if isinstance(text, str) else list(text)
    parts = [p for item in items for p in re.split(r",(?![^\[]*\])", item) if p.strip()]
    if not parts:
        return None
    return tuple(Wanted.parse(p) for p in parts)


_VARIANT = re.compile(r"cu\d{2,3}|cpu|rocm\d+(?:\.\d+){0,2}|xpu")


def torch_target(target: Target) -> tuple[SpecifierSet | None, str | None]:
    """The target's torch range with any local label moved out: ``==2.3.1+cu118`` → (==2.3.1, cu118)."""
    if target.torch is None:
        return None, target.cuda.label if target.cuda else None
    variant = target.cuda.label if target.cuda else None
    specs = []
    for s in target.torch:
        m = re.fullmatch(r"([^+]+)\+(.+)", s.version)
        if m and s.operator in ("==", "==="):
            specs.append(f"=={m.group(1)}")
            if _VARIANT.fullmatch(m.group(2).lower()):
                variant = m.group(2).lower()  # another label is a custom build's: the release is the target
        else:
            specs.append(str(s))
    return SpecifierSet(",".join(specs)), variant
