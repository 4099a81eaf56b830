"""The compiled database: each file of data/ as a marshalled, read-only entry that opens in about a millisecond.

data/ (JSON written by ``db refresh``, TOML reviewed by hand) stays the source of truth.  Parsing
it costs: 7 MB of unsloth JSON take ~30 ms to decode, flash_attn.toml ~15 ms under tomllib.  An
entry holds the parsed file as :mod:`marshal` data (built-in, no code runs on load, repeated
strings stored once), behind a small header that says what it was made from.

Where entries are
  * shipped: ``<data>/.compiled/`` inside the wheel, made by the build hook (``hatch_build.py``
    calls :func:`compile_into`);
  * made on first use: ``<cache>/db/<key>/`` under :func:`cache_dir`, written atomically, one
    directory per data root (the key hashes its real path), the oldest dropped beyond a bound.
Read lazily: a command opens the entries of the files it reads, nothing else.

When an entry is used (the staleness check: one ``stat`` of the source)
  * its size and mtime equal the source's, and the source was not modified within
    :data:`RACY_NS` of the entry being made (a file edited twice within the filesystem's
    timestamp granularity could keep its size and mtime: such an entry is checked by content,
    as git checks "racily clean" index entries); or
  * the size is equal and the source's SHA-256 is the one recorded (a shipped entry: installing
    the wheel gave the files new mtimes); the entry is then re-written to the cache with the
    source's stamp, so the next run needs only the ``stat``.
Anything else (another format or Python, a corrupt or truncated entry, another root) is a miss:
the source is parsed, and an entry written when the cache is writable.  A cache that cannot be
written is no error.  ``db validate`` compares every entry with its source.
"""

from __future__ import annotations

import dataclasses
import marshal
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

FORMAT = 2  # bump when the header or payload layout changes (1 was the JSON-rendered TOML cache)
MAGIC = b"ATTNLOCK-DB\x00"
SHIPPED_DIR = ".compiled"
RACY_NS = 2_000_000_000  # FAT's 2 s granularity bounds every filesystem's
MAX_ROOTS = 16  # cache directories kept, one per data root
# What decides whether an entry reads back: the marshal format (plain data — dicts, lists, tuples,
# strings, numbers — reads the same on every Python that writes this version), so a wheel built on
# one Python serves every Python that installs it.
_RUNTIME = "marshal/%d" % marshal.version

Parse = Callable[[bytes], Any]
Shape = Callable[[Any], bool]  # whether a loaded payload has the form its parser returns


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/attnlock`` (an absolute path), else ``~/.cache/attnlock``; None without a home."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "attnlock"
    try:
        return Path.home() / ".cache" / "attnlock"
    except (RuntimeError, KeyError):
        return None


@dataclasses.dataclass(frozen=True)
class Header:
    """What an entry was made from: the file (relative to the data root), its stamp and content hash."""

    runtime: str
    root: str
    rel: str
    size: int
    mtime_ns: int  # -1 in a shipped entry: the installed file's mtime is not known at build time
    sha256: str
    made_ns: int
    tagged: bool

    def as_tuple(self) -> tuple[int | str | bool, ...]:
        return (FORMAT, self.runtime, self.root, self.rel, self.size, self.mtime_ns, self.sha256,
                self.made_ns, self.tagged)


# ------------------------------------------------------------------ reading


def read(root: Path, rel: str, parse: Parse, shape: Shape | None = None) -> Any:
    """The parsed content of ``root/rel``, from its compiled entry when that is fresh.

    Raises what opening the source raises (FileNotFoundError when it is absent) and what
    ``parse`` raises on a bad source; a bad entry is only ever a miss, and so is one whose
    payload ``shape`` refuses (its callers then never see a form ``parse`` does not return).
    """
    source = root / rel
    st = os.stat(source)
    root_key = _root_text(root)
    entry = _cache_entry(root_key, rel)
    if entry is not None:
        found = _load(entry, source, root_key, rel, st, shipped=False, shape=shape)
        if found is not None:
            if found.checked and time.time_ns() - RACY_NS > st.st_mtime_ns:
                # Checked by content because the entry was made within the timestamp granularity
                # of the source's last change: stamped again now, the next run needs only the stat.
                _write_blob(entry, _stamp(found.header, root_key, st), found.body)
            return found.data
    found = _load(root / SHIPPED_DIR / _entry_name(rel), source, root_key, rel, st, shipped=True, shape=shape)
    if found is not None:
        if entry is not None:
            _write_blob(entry, _stamp(found.header, root_key, st), found.body)
        return found.data
    with open(source, "rb") as fh:
        raw = fh.read()
        st = os.fstat(fh.fileno())
    data = parse(raw)
    if entry is not None:
        blob = encode(_header(root_key, rel, st, raw), data)
        if blob is not None:
            _write_bytes(entry, blob)
    return data


@dataclasses.dataclass(frozen=True)
class _Found:
    header: Header
    data: Any
    body: bytes  # the marshalled payload, as stored
    checked: bool  # the source's content was hashed (the stamp alone did not vouch for the entry)


def _load(path: Path, source: Path, root_key: str, rel: str, st: os.stat_result, *,
          shipped: bool, shape: Shape | None = None) -> _Found | None:
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError:
        return None
    try:
        header = _parse_header(blob)
        if header is None or header.rel != rel or header.runtime != _RUNTIME or header.size != st.st_size:
            return None
        if not shipped and header.root != root_key:
            return None
        fresh = (not shipped and header.mtime_ns == st.st_mtime_ns
                 and st.st_mtime_ns < header.made_ns - RACY_NS)
        if not fresh and not _same_content(source, header.sha256):
            return None
        body = blob[len(MAGIC) + 4 + _header_len(blob):]
        data = marshal.loads(body)
        if header.tagged:
            data = _untag(data)
        if shape is not None and not shape(data):
            return None
        return _Found(header, data, body, not fresh)
    except (ValueError, EOFError, TypeError, IndexError, KeyError, OverflowError, RecursionError):
        return None


def _stamp(header: Header, root_key: str, st: os.stat_result) -> Header:
    """``header`` for the cache: this root, the source's size and mtime, made now."""
    return dataclasses.replace(header, root=root_key, size=st.st_size, mtime_ns=st.st_mtime_ns,
                               made_ns=time.time_ns())


def _same_content(source: Path, sha256: str) -> bool:
    """Whether the source's bytes hash to an entry's recorded SHA-256."""
    import hashlib

    try:
        with open(source, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest() == sha256
    except OSError:
        return False


def _header_len(blob: bytes) -> int:
    return int.from_bytes(blob[len(MAGIC):len(MAGIC) + 4], "little")


def _parse_header(blob: bytes) -> Header | None:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 4:
        return None
    n = _header_len(blob)
    raw = marshal.loads(blob[len(MAGIC) + 4:len(MAGIC) + 4 + n])
    if not isinstance(raw, tuple) or len(raw) != 9 or raw[0] != FORMAT:
        return None
    _fmt, runtime, root, rel, size, mtime_ns, sha256, made_ns, tagged = raw
    if not (isinstance(runtime, str) and isinstance(root, str) and isinstance(rel, str) and isinstance(size, int)
            and isinstance(mtime_ns, int) and isinstance(sha256, str) and isinstance(made_ns, int)
            and isinstance(tagged, bool)):
        return None
    return Header(runtime, root, rel, size, mtime_ns, sha256, made_ns, tagged)


# ------------------------------------------------------------------ writing


def encode(header: Header, data: Any) -> bytes | None:
    """The entry's bytes; None when ``data`` cannot be marshalled (it then stays uncompiled)."""
    tagged = _needs_tags(data)
    if tagged is None:
        return None  # a table with a "$toml" key: the tagged rendering would be ambiguous
    payload = _intern(_tag_all(data) if tagged else data, {})
    try:
        body = marshal.dumps(payload)
    except ValueError:
        return None
    return _assemble(dataclasses.replace(header, tagged=tagged), body)


def _assemble(header: Header, body: bytes) -> bytes:
    head = marshal.dumps(header.as_tuple())
    return MAGIC + len(head).to_bytes(4, "little") + head + body


def _header(root_key: str, rel: str, st: os.stat_result, raw: bytes, *, shipped: bool = False) -> Header:
    import hashlib

    return Header(_RUNTIME, root_key, rel, st.st_size, -1 if shipped else st.st_mtime_ns,
                  hashlib.sha256(raw).hexdigest(), time.time_ns(), False)


def _write_blob(entry: Path, header: Header, body: bytes) -> None:
    _write_bytes(entry, _assemble(header, body))


def _write_bytes(entry: Path, blob: bytes) -> None:
    """Store an entry atomically; one that cannot be written is no error (the source was read)."""
    from attnlock.atomic import write_bytes_atomic
    from attnlock.errors import AttnlockError

    try:
        fresh_root = not entry.parent.is_dir()
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(entry, blob)
        if fresh_root:
            _prune(entry.parent.parent)
    except (OSError, AttnlockError):
        return


def compile_into(root: Path, out: Path, parsers: Mapping[str, Parse]) -> list[str]:
    """Write a shipped entry into ``out`` for every file under ``root`` whose suffix has a parser
    (run by ``hatch_build.py`` when the wheel is built); returns the relative paths compiled."""
    from attnlock.atomic import write_bytes_atomic

    done = []
    for rel in sorted(_sources(root, parsers)):
        source = root / rel
        raw = source.read_bytes()
        data = parsers[source.suffix](raw)
        blob = encode(_header("", rel, source.stat(), raw, shipped=True), data)
        if blob is None:
            continue
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out / _entry_name(rel), blob)
        done.append(rel)
    return done


def audit(root: Path, parsers: Mapping[str, Parse],
          shapes: Mapping[str, Shape] | None = None) -> list[tuple[str, str]]:
    """``db validate``'s look at the compiled entries of ``root`` (cached and shipped): (entry path,
    problem) for each entry that would be used but does not hold what parsing its source gives
    (a source edited without changing its size and mtime), and for each shipped entry that no
    longer matches its source (rebuild the wheel).  Unreadable cached entries, and those of removed
    sources, are only misses, and so are shipped ones of another marshal format (a Python whose
    marshal differs from the builder's: its cache takes over)."""
    out: list[tuple[str, str]] = []
    root_key = _root_text(root)
    probe = _cache_entry(root_key, "-")
    places = [(probe.parent, False)] if probe is not None else []
    places.append((root / SHIPPED_DIR, True))
    for directory, shipped in places:
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            try:
                header = _parse_header(entry.read_bytes())
            except (OSError, ValueError, EOFError, TypeError, IndexError, OverflowError):
                header = None
            if header is None or header.runtime != _RUNTIME:
                if shipped and header is None:
                    why = "not a compiled entry this attnlock reads (it is ignored; rebuild the wheel or delete it)"
                    out.append((str(entry), why))
                continue
            source = root / header.rel
            parse = parsers.get(source.suffix)
            try:
                st = os.stat(source)
            except OSError:  # a cached entry of a removed file is never read (its source is absent)
                if shipped:
                    out.append((str(entry), f"its source {header.rel} is gone (delete the entry)"))
                continue
            found = _load(entry, source, root_key, header.rel, st, shipped=shipped,
                          shape=(shapes or {}).get(source.suffix))
            if found is None:
                if shipped:
                    out.append((str(entry), f"does not match {header.rel} (it is ignored; rebuild the wheel or "
                                            "delete the directory)"))
                continue
            if parse is not None and not _parses_to(parse, source, found.data):
                out.append((str(entry), f"holds other content than {header.rel} although its stamp matches "
                                        "(the file was edited keeping its size and mtime): delete the entry"))
    return out


def _parses_to(parse: Parse, source: Path, data: Any) -> bool:
    """Whether ``source`` parses to ``data`` (a source that no longer parses does not: the data
    checks name its error)."""
    try:
        return bool(parse(source.read_bytes()) == data)
    except (OSError, ValueError):
        return False


def _sources(root: Path, parsers: Mapping[str, Parse]) -> Iterator[str]:
    for sub in ("derived", "curated"):
        d = root / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.suffix in parsers and p.is_file():
                    yield f"{sub}/{p.name}"


# ------------------------------------------------------------------ places


def _root_text(root: Path) -> str:
    try:
        return str(root.resolve())
    except OSError:
        return str(root.absolute())


def _entry_name(rel: str) -> str:
    return rel.replace("/", "--") + ".m"


def _cache_entry(root_key: str, rel: str) -> Path | None:
    base = cache_dir()
    if base is None:
        return None
    # A cheap stable key: the entry's header repeats the root, so a collision is only a miss.
    key = "%08x" % zlib.crc32(f"{FORMAT}|{_RUNTIME}|{root_key}".encode("utf-8", "surrogateescape"))
    return base / "db" / key / _entry_name(rel)


def _prune(db_dir: Path) -> None:
    """Keep the :data:`MAX_ROOTS` most recently made root directories."""
    import shutil

    try:
        roots = [p for p in db_dir.iterdir() if p.is_dir()]
        if len(roots) <= MAX_ROOTS:
            return
        roots.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in roots[MAX_ROOTS:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        return


# ------------------------------------------------------------------ payload


def _intern(value: Any, seen: dict[Any, Any]) -> Any:
    """``value`` with equal strings made one object, which marshal then writes once (unsloth's
    88,882 Requires-Dist strings are 1,643 distinct)."""
    if isinstance(value, str):
        return seen.setdefault(value, value)
    if isinstance(value, dict):
        return {seen.setdefault(k, k) if isinstance(k, str) else k: _intern(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_intern(v, seen) for v in value]
    if isinstance(value, tuple):  # index entries repeat across releases: one object each
        t = tuple(_intern(v, seen) for v in value)
        try:
            return seen.setdefault(t, t)
        except TypeError:
            return t
    return value


_TOML_TAG = "$toml"


def _needs_tags(value: object) -> bool | None:
    """Whether ``value`` holds TOML dates or times (marshal has none); None if a table has a ``$toml`` key."""
    import datetime

    kinds = (datetime.date, datetime.time)
    stack = [value]
    found = False
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if _TOML_TAG in v:
                return None
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, kinds):
            found = True
    return found


def _tag_all(value: Any) -> Any:
    import datetime

    if isinstance(value, dict):
        return {k: _tag_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag_all(v) for v in value]
    if isinstance(value, datetime.datetime):
        return {_TOML_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {_TOML_TAG: "date", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {_TOML_TAG: "time", "v": value.isoformat()}
    return value


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
