"""What a refresh changed and how it is going: document serialization, diffs, the TTY progress line."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from packaging.version import InvalidVersion, Version


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except InvalidVersion:
        return (1, text)


def dump_document(doc: Mapping[str, Any]) -> str:
    """JSON text of a derived document: keys sorted, ``releases`` in ascending version order."""
    out = {k: _sorted(v) for k, v in sorted(doc.items()) if k != "releases"}
    releases = doc.get("releases", {})
    out["releases"] = {k: _sorted(releases[k]) for k in sorted(releases, key=_version_key)}
    ordered = {k: out[k] for k in sorted(out)}
    return json.dumps(ordered, indent=1, ensure_ascii=False) + "\n"


@dataclass
class PackageDiff:
    """Releases added, removed and changed for one package (versions as text, ascending)."""

    package: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    new_file: bool = False

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.new_file)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed, "new_file": self.new_file}

    def render(self, limit: int = 8) -> str:
        def some(vs: list[str]) -> str:
            head = ", ".join(vs[:limit])
            return head + (f", … (+{len(vs) - limit})" if len(vs) > limit else "")

        parts = []
        if self.added:
            parts.append(f"+{len(self.added)} added ({some(self.added)})")
        if self.removed:
            parts.append(f"-{len(self.removed)} removed ({some(self.removed)})")
        if self.changed:
            parts.append(f"~{len(self.changed)} changed ({some(self.changed)})")
        if not parts:
            parts.append("new file" if self.new_file else "unchanged")
        return f"{self.package}: " + "; ".join(parts)


def diff_documents(package: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> PackageDiff:
    """Compare two documents release by release (``checked`` is ignored)."""
    d = PackageDiff(package, new_file=old is None)
    old_rel = dict(old.get("releases", {})) if old else {}
    new_rel = dict(new.get("releases", {}))
    d.added = sorted(set(new_rel) - set(old_rel), key=_version_key)
    d.removed = sorted(set(old_rel) - set(new_rel), key=_version_key)
    d.changed = sorted(
        (v for v in set(new_rel) & set(old_rel) if _sorted(new_rel[v]) != _sorted(old_rel[v])),
        key=_version_key,
    )
    if old is not None and not (d.added or d.removed or d.changed):
        rest_old = {k: v for k, v in old.items() if k not in ("releases", "checked")}
        rest_new = {k: v for k, v in new.items() if k not in ("releases", "checked")}
        if _sorted(rest_old) != _sorted(rest_new):
            d.changed = ["(document header)"]
    return d


class Progress:
    """One self-rewriting status line on stderr when it is a terminal; silent otherwise."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) if enabled is None else enabled
        self._lock = threading.Lock()
        self._package = ""
        self._done = 0
        self._total = 0
        self.bytes_fn: Any = None

    def start(self, package: str, total: int) -> None:
        with self._lock:
            self._package, self._done, self._total = package, 0, total
        self._draw()

    def tick(self, _item: object = None) -> None:
        with self._lock:
            self._done += 1
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        fetched = self.bytes_fn() if self.bytes_fn else 0
        line = f"refresh {self._package}: {self._done}/{self._total} wheels read, {fetched / 2**20:.1f} MiB fetched"
        with self._lock:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
