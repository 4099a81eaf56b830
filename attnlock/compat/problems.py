"""What strict record constructors raise, and the provenance text every record carries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from attnlock.database.store import Problem


class RecordError(ValueError):
    """A curated record that does not parse: the key at fault and what is wrong with it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def source_text(rec: Mapping[str, Any], key: str = "source") -> str:
    """A record's ``source`` (a URL or a list of them) as one space-separated string."""
    src = rec.get(key)
    if isinstance(src, list):
        return " ".join(str(s) for s in src)
    return str(src) if src is not None else ""


T = TypeVar("T")


def load_strictly(records: Iterable[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T], file: str,
                  table: str) -> tuple[tuple[T, ...], list[Problem]]:
    """Every record ``parse`` accepts, and a problem naming file, table index and key for each it rejects."""
    out: list[T] = []
    problems: list[Problem] = []
    for i, rec in enumerate(records):
        try:
            out.append(parse(rec))
        except RecordError as exc:
            problems.append(Problem(file, f"{table}[{i}].{exc.key}", exc.message))
    return tuple(out), problems


__all__ = ["Problem", "RecordError", "load_strictly", "source_text"]
