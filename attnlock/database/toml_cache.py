"""A validated JSON rendering of the large curated TOML files, kept in the user's cache directory.

tomllib takes ~15 ms for flash_attn.toml alone; the JSON rendering of the same tables loads in
~0.5 ms.  The TOML stays the source of truth: an entry is used only when the file's size, mtime and
SHA-256 all match the ones it was made from, and any problem with it means parsing the TOML.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


CACHE_FORMAT = 1


_CACHE_MIN_BYTES = 8 * 1024  # smaller files parse in about a millisecond: not worth an entry


_CACHE_MAX_ENTRIES = 64


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/attnlock`` (an absolute path), else ``~/.cache/attnlock``; None without a home."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "attnlock"
    try:
        return Path.home() / ".cache" / "attnlock"
    except (RuntimeError, KeyError):
        return None


def load_toml(path: Path) -> dict[str, Any]:
    """``tomllib`` of ``path``, through a validated JSON rendering in :func:`cache_dir` when the file is large.

    tomllib and hashlib are imported when needed, not at module level: a warm cache needs no
    tomllib, and a command that reads only small curated files (check: known_bad) no hashlib.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
        st = os.fstat(fh.fileno())
    if len(raw) < _CACHE_MIN_BYTES:
        return _parse_toml(raw)
    import hashlib

    key = {
        "format": CACHE_FORMAT,
        "python": "%d.%d" % sys.version_info[:2],  # tomllib, or tomli before 3.11
        "source": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    entry = _cache_entry(key)
    cached = _read_cache(entry, key) if entry is not None else None
    if cached is not None:
        return cached
    data = _parse_toml(raw)
    if entry is not None:
        _write_cache(entry, key, data)
    return data


def _parse_toml(raw: bytes) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    data: dict[str, Any] = tomllib.loads(raw.decode())
    return data


def _cache_entry(key: Mapping[str, Any]) -> Path | None:
    """One entry per source file (and format, Python): an edited file's entry is replaced, not added."""
    root = cache_dir()
    if root is None:
        return None
    import hashlib

    where = {k: key[k] for k in ("format", "python", "source")}
    name = hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()[:32]
    return root / "toml" / f"{name}.json"


def _read_cache(entry: Path, key: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        with open(entry, "rb") as fh:
            doc = json.loads(fh.read())
        if not isinstance(doc, dict) or any(doc.get(k) != v for k, v in key.items()):
            return None
        data = doc["data"]
        if doc.get("tagged"):
            data = _untag(data)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _write_cache(entry: Path, key: Mapping[str, Any], data: dict[str, Any]) -> None:
    """Store ``data`` for ``key``; a cache that cannot be written is no error (the TOML was parsed)."""
    from attnlock.atomic import write_bytes_atomic
    from attnlock.errors import AttnlockError

    import datetime

    try:
        tagged = _needs_tags(data, (datetime.date, datetime.time))
        if tagged is None:
            return  # a table with a "$toml" key: the rendering would be ambiguous
        doc = dict(key, tagged=tagged, data=data)
        text = json.dumps(doc, default=_tag, ensure_ascii=False, separators=(",", ":"))
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(entry, text.encode())
        _prune(entry.parent)
    except (OSError, ValueError, TypeError, RecursionError, AttnlockError):
        return


def _prune(directory: Path) -> None:
    """Keep the newest :data:`_CACHE_MAX_ENTRIES` entries (edited and temporary files leave old ones)."""
    entries = [p for p in directory.glob("*.json") if p.is_file()]
    if len(entries) <= _CACHE_MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[_CACHE_MAX_ENTRIES:]:
        try:
            old.unlink()
        except OSError:
            continue


_TOML_TAG = "$toml"


def _needs_tags(value: object, kinds: tuple[type, ...]) -> bool | None:
    """Whether ``value`` holds TOML dates or times (``kinds``; JSON has none); None if a table has a ``$toml`` key."""
    if isinstance(value, dict):
        if _TOML_TAG in value:
            return None
        items: Iterable[object] = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return isinstance(value, kinds)
    found = False
    for v in items:
        sub = _needs_tags(v, kinds)
        if sub is None:
            return None
        found = found or sub
    return found


def _tag(value: object) -> dict[str, str]:
    import datetime

    if isinstance(value, datetime.datetime):
        return {_TOML_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {_TOML_TAG: "date", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {_TOML_TAG: "time", "v": value.isoformat()}
    raise TypeError(f"not a TOML value: {type(value).__name__}")


def _untag(value: Any) -> Any:
    import datetime

    if isinstance(value, dict):
        if _TOML_TAG in value:
            kind, text = value[_TOML_TAG], value["v"]
            if kind == "datetime":
                return datetime.datetime.fromisoformat(text)
            if kind == "date":
                return datetime.date.fromisoformat(text)
            if kind == "time":
                return datetime.time.fromisoformat(text)
            raise ValueError(f"unknown tag {kind!r}")
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value
