"""Positions of values in a TOML document: which characters hold ``project.dependencies[2]``.

:mod:`tomllib` parses values but forgets where they were.  This small scanner
walks a document *that tomllib has already accepted* and records, for every
string value, its key path (table names, keys and array indexes, e.g.
``("package", 3, "version")``) and its exact character span, and for every
key and table header where it starts.  It is best effort by design: if it
meets something it does not follow it stops, and callers fall back to the
nearest known position, never to a wrong value (values always come from
tomllib).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["Located", "TomlLocator", "tomllib", "toml_error_position"]

Path = tuple[object, ...]

_WS = re.compile(r"(?:[ \t]|\r?\n|\r|#[^\r\n]*)*")
_INLINE_WS = re.compile(r"[ \t]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_STRINGS = (
    ('"""', re.compile(r'"""(?:\\[\s\S]|[^\\])*?"""(?!")|"""(?:\\[\s\S]|[^\\])*?""""{1,2}')),
    ("'''", re.compile(r"'''[\s\S]*?'''(?!')|'''[\s\S]*?''''{1,2}")),
    ('"', re.compile(r'"(?:\\.|[^"\\\r\n])*"')),
    ("'", re.compile(r"'[^'\r\n]*'")),
)
_SCALAR = re.compile(r"[^\s,\]\}#]+")
_ERROR_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Located:
    """A string value's span ``[start, end)`` including its quotes, and the quote used."""

    start: int
    end: int
    quote: str


class _Stop(Exception):
    """The scanner met text it does not follow; keep what was found so far."""


def toml_error_position(exc: Exception, text: str = "") -> tuple[int, int]:
    """(line, column) named in a TOMLDecodeError message; the end of ``text`` for "at end of document"."""
    m = _ERROR_POS.search(str(exc))
    if m:
        return int(m.group(1)), int(m.group(2))
    if "end of document" in str(exc):
        lines = text.splitlines(keepends=True)
        if not lines:
            return 1, 1
        if lines[-1].endswith(("\n", "\r")):
            return len(lines) + 1, 1
        return len(lines), len(lines[-1]) + 1
    lineno = getattr(exc, "lineno", None)
    colno = getattr(exc, "colno", None)
    if isinstance(lineno, int):
        return lineno, colno if isinstance(colno, int) else 1
    return 1, 1


class TomlLocator:
    """Scan ``text`` once; then look up spans of string values and starts of keys by path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.strings: dict[Path, Located] = {}
        self.keys: dict[Path, int] = {}
        self._arrays: dict[Path, int] = {}
        try:
            self._document()
        except (_Stop, IndexError, RecursionError):
            pass  # RecursionError: arrays nested hundreds deep; positions fall back to the nearest key

    # ------------------------------------------------------------ lookups
    def string(self, path: Path) -> Located | None:
        return self.strings.get(path)

    def key(self, path: Path) -> int | None:
        """Offset of the key (or table header) for ``path``, else of its nearest known ancestor."""
        p = tuple(path)
        while p:
            if p in self.keys:
                return self.keys[p]
            p = p[:-1]
        return None

    def offset(self, path: Path) -> int:
        """Best offset for ``path``: its string value, else its key, else 0."""
        located = self.strings.get(tuple(path))
        if located is not None:
            return located.start
        found = self.key(path)
        return found if found is not None else 0

    # ------------------------------------------------------------ scanner
    def _skip(self, pos: int) -> int:
        m = _WS.match(self.text, pos)
        return m.end() if m else pos

    def _document(self) -> None:
        text = self.text
        pos = 0
        table: Path = ()
        n = len(text)
        while True:
            pos = self._skip(pos)
            if pos >= n:
                return
            if text.startswith("[[", pos):
                keys, end = self._key(pos + 2)
                end = self._inline(end)
                if not text.startswith("]]", end):
                    raise _Stop
                resolved = self._resolve(keys[:-1]) + (keys[-1],)
                index = self._arrays.get(resolved, -1) + 1
                self._arrays[resolved] = index
                table = resolved + (index,)
                self.keys.setdefault(resolved, pos)
                self.keys[table] = pos
                pos = self._eol(end + 2)
            elif text[pos] == "[":
                keys, end = self._key(pos + 1)
                end = self._inline(end)
                if not text.startswith("]", end):
                    raise _Stop
                table = self._resolve(keys)
                self.keys[table] = pos
                pos = self._eol(end + 1)
            else:
                keys, end = self._key(pos)
                path = table + tuple(keys)
                self.keys[path] = pos
                end = self._inline(end)
                if not text.startswith("=", end):
                    raise _Stop
                end = self._value(self._inline(end + 1), path)
                pos = self._eol(end)

    def _resolve(self, keys: list[str]) -> Path:
        resolved: Path = ()
        for k in keys:
            resolved = resolved + (k,)
            if resolved in self._arrays:
                resolved = resolved + (self._arrays[resolved],)
        return resolved

    def _inline(self, pos: int) -> int:
        m = _INLINE_WS.match(self.text, pos)
        return m.end() if m else pos

    def _eol(self, pos: int) -> int:
        # Ignore the rest of the line (a comment, or the time part of a datetime).
        m = re.compile(r"[^\r\n]*").match(self.text, pos)
        return m.end() if m else pos

    def _key(self, pos: int) -> tuple[list[str], int]:
        keys: list[str] = []
        while True:
            pos = self._inline(pos)
            part, pos = self._simple_key(pos)
            keys.append(part)
            after = self._inline(pos)
            if self.text.startswith(".", after):
                pos = after + 1
                continue
            return keys, pos

    def _simple_key(self, pos: int) -> tuple[str, int]:
        text = self.text
        if pos < len(text) and text[pos] in "\"'":
            for quote, pattern in _STRINGS[2:]:
                if text.startswith(quote, pos):
                    m = pattern.match(text, pos)
                    if not m:
                        raise _Stop
                    raw = m.group(0)
                    if quote == "'":
                        return raw[1:-1], m.end()
                    decoded = tomllib.loads(f"k = {raw}")["k"]
                    return str(decoded), m.end()
        m = _BARE_KEY.match(text, pos)
        if not m:
            raise _Stop
        return m.group(0), m.end()

    def _value(self, pos: int, path: Path) -> int:
        text = self.text
        if pos >= len(text):
            raise _Stop
        ch = text[pos]
        if ch in "\"'":
            for quote, pattern in _STRINGS:
                if text.startswith(quote, pos):
                    m = pattern.match(text, pos)
                    if not m:
                        raise _Stop
                    self.strings[path] = Located(pos, m.end(), quote)
                    return m.end()
        if ch == "[":
            pos = self._skip(pos + 1)
            index = 0
            while True:
                pos = self._skip(pos)
                if text.startswith("]", pos):
                    return pos + 1
                self.keys[path + (index,)] = pos
                pos = self._skip(self._value(pos, path + (index,)))
                if text.startswith(",", pos):
                    pos += 1
                    index += 1
                    continue
                pos = self._skip(pos)
                if text.startswith("]", pos):
                    return pos + 1
                raise _Stop
        if ch == "{":
            pos = self._inline(pos + 1)
            while True:
                pos = self._skip(pos)
                if text.startswith("}", pos):
                    return pos + 1
                keys, pos = self._key(pos)
                sub = path + tuple(keys)
                self.keys[sub] = pos
                pos = self._inline(pos)
                if not text.startswith("=", pos):
                    raise _Stop
                pos = self._skip(self._value(self._inline(pos + 1), sub))
                if text.startswith(",", pos):
                    pos += 1
                    continue
                if text.startswith("}", pos):
                    return pos + 1
                raise _Stop
        m = _SCALAR.match(text, pos)
        if not m:
            raise _Stop
        return m.end()
