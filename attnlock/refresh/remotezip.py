"""Read single members of a remote zip (a wheel) with HTTP range requests, never the whole file.

The reader fetches the archive's tail (end of central directory, zip64 records), then the
central directory (or only its tail, when the members wanted are listed there), then each
wanted member's local header and data.  Inflation has a hard output cap, so a small
compressed member cannot expand into gigabytes (a zip bomb).
"""

from __future__ import annotations

import fnmatch
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from attnlock.errors import ToolError

# (start, end_exclusive) -> bytes; end None means "to the end"; start negative means a suffix.
RangeReader = Callable[[int, int | None], "RangeResult"]

EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
EOCD64_LOC_SIG = b"PK\x06\x07"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
_EOCD_MIN = 22
_MAX_COMMENT = 0xFFFF


@dataclass(frozen=True)
class RangeResult:
    """Bytes of the file from ``start`` (absolute offset) and the file's total size."""

    start: int
    data: bytes
    total: int


@dataclass(frozen=True)
class CentralEntry:
    """One central-directory entry: where a member is and how it is stored."""

    name: str
    method: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    local_offset: int


class ZipReadError(ToolError):
    """The remote file is not a readable zip (truncated, corrupt, unsupported, too large)."""


def _find_eocd(tail: bytes) -> int:
    """Offset in ``tail`` of the end-of-central-directory record whose comment ends the file."""
    pos = tail.rfind(EOCD_SIG)
    while pos != -1:
        if len(tail) - pos >= _EOCD_MIN:
            (comment_len,) = struct.unpack_from("<H", tail, pos + 20)
            if pos + _EOCD_MIN + comment_len == len(tail):
                return pos
        pos = tail.rfind(EOCD_SIG, 0, pos)
    raise ZipReadError(
        "no end-of-central-directory record at the end of the file: truncated or not a zip",
        hint="the index may hold a damaged upload; the file is recorded with an error",
    )


def _parse_central(buf: bytes, start: int, end: int) -> list[CentralEntry] | None:
    """Entries of ``buf[start:end]`` if they chain exactly to ``end``; None otherwise."""
    entries: list[CentralEntry] = []
    pos = start
    while pos < end:
        if end - pos < 46 or buf[pos : pos + 4] != CENTRAL_SIG:
            return None
        (
            _sig, _made, _need, _flags, method, _t, _d, crc, csize, usize,
            nlen, xlen, clen, _disk, _iattr, _eattr, offset,
        ) = struct.unpack_from("<IHHHHHHIIIHHHHHII", buf, pos)
        name_end = pos + 46 + nlen
        extra_end = name_end + xlen
        if extra_end + clen > end:
            return None
        raw_name = buf[pos + 46 : name_end]
        extra = buf[name_end:extra_end]
        usize, csize, offset = _apply_zip64(extra, usize, csize, offset)
        entries.append(
            CentralEntry(raw_name.decode("utf-8", "replace"), method, crc, csize, usize, offset)
        )
        pos = extra_end + clen
    return entries if pos == end else None


def _parse_prefix(buf: bytes) -> dict[str, CentralEntry]:
    """The entries wholly inside ``buf``, which starts at the central directory's first entry."""
    out: dict[str, CentralEntry] = {}
    pos = 0
    while len(buf) - pos >= 46 and buf[pos : pos + 4] == CENTRAL_SIG:
        nlen, xlen, clen = struct.unpack_from("<HHH", buf, pos + 28)
        end = pos + 46 + nlen + xlen + clen
        if end > len(buf):
            break
        parsed = _parse_central(buf, pos, end)
        if not parsed:
            break
        out[parsed[0].name] = parsed[0]
        pos = end
    return out


def _apply_zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields with the zip64 extra field's values (APPNOTE 4.5.3)."""
    if 0xFFFFFFFF not in (usize, csize, offset):
        return usize, csize, offset
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if tag == 0x0001:
            vals = list(struct.unpack_from(f"<{len(body) // 8}Q", body)) if len(body) >= 8 else []
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
            return usize, csize, offset
        pos += 4 + size
    raise ZipReadError("zip64 sizes announced but no zip64 extra field in the central directory")


@dataclass
class RemoteZip:
    """A zip file read through ``read_range``.

    ``tail_size`` is the first fetch, from the end of the file; ``head_size`` the first fetch
    of a central directory that the tail does not hold.
    """

    read_range: RangeReader
    tail_size: int = 64 * 1024
    head_size: int = 64 * 1024
    max_central_directory: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        self._entries: dict[str, CentralEntry] | None = None
        self._tail: RangeResult | None = None
        self.size: int | None = None

    def _fetch_tail(self) -> RangeResult:
        if self._tail is None:
            self._tail = self.read_range(-self.tail_size, None)
            self.size = self._tail.total
        return self._tail

    def _slice(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file, from the cached tail when it holds them."""
        tail = self._fetch_tail()
        if start >= tail.start:
            return tail.data[start - tail.start : end - tail.start]
        got = self.read_range(start, end)
        data = got.data[start - got.start : end - got.start] if got.start <= start else b""
        if len(data) < end - start:
            raise ZipReadError(f"short read: asked for bytes {start}-{end - 1}, got {len(data)}: truncated zip")
        return data

    def entries(self, wanted: Iterable[str] = ()) -> dict[str, CentralEntry]:
        """Central-directory entries by name.

        With ``wanted`` (names or globs such as ``*.dist-info/METADATA``), may return only the entries found in
        the already-fetched tail when every wanted name is among them (saves fetching a large
        central directory); otherwise the whole directory is read.
        """
        if self._entries is not None:
            return self._entries
        tail = self._fetch_tail()
        buf = tail.data
        eocd = _find_eocd(buf)
        (_sig, _disk, _cd_disk, _n_disk, count, cd_size, cd_offset, _clen) = struct.unpack_from(
            "<IHHHHIIH", buf, eocd
        )
        if 0xFFFF in (count,) or 0xFFFFFFFF in (cd_size, cd_offset):
            loc = eocd - 20
            if loc < 0 or buf[loc : loc + 4] != EOCD64_LOC_SIG:
                if tail.start == 0 and loc < 0:
                    raise ZipReadError("zip64 end-of-central-directory locator missing: truncated zip")
                if loc < 0:
                    raise ZipReadError("zip64 locator outside the fetched tail")
                raise ZipReadError("zip64 end-of-central-directory locator missing: truncated or corrupt zip")
            (_s, _d, eocd64_offset, _nd) = struct.unpack_from("<IIQI", buf, loc)
            rec = self._slice(eocd64_offset, eocd64_offset + 56)
            if rec[:4] != EOCD64_SIG:
                raise ZipReadError("zip64 end-of-central-directory record not where its locator says")
            (_s, _sz, _m, _n, _d1, _d2, _c1, count, cd_size, cd_offset) = struct.unpack_from(
                "<IQHHIIQQQQ", rec, 0
            )
        total = tail.total
        if cd_offset + cd_size > total:
            raise ZipReadError(
                f"central directory ({cd_offset}+{cd_size}) lies beyond the end of the file ({total} bytes): truncated zip"
            )
        if cd_size > self.max_central_directory:
            raise ZipReadError(f"central directory of {cd_size} bytes exceeds the {self.max_central_directory}-byte cap")
        cd_end = cd_offset + cd_size
        patterns = tuple(wanted)
        if cd_offset < tail.start and patterns:
            partial = self._partial_entries(buf, tail.start, cd_end)
            if partial is not None and _match(patterns, partial):
                self._entries = partial
                return partial
        head = b""
        if patterns and cd_size > self.head_size and cd_offset < tail.start:
            # Older wheels list .dist-info first: the directory's head often holds what we want.
            head = self._slice(cd_offset, cd_offset + self.head_size)
            prefix = _parse_prefix(head)
            if _match(patterns, prefix):
                self._entries = prefix
                return prefix
        cd = head + self._slice(cd_offset + len(head), cd_end)
        parsed = _parse_central(cd, 0, len(cd))
        if parsed is None or len(parsed) != count:
            raise ZipReadError("central directory is corrupt (entries do not chain to its end)")
        self._entries = {e.name: e for e in parsed}
        return self._entries

    @staticmethod
    def _partial_entries(buf: bytes, buf_start: int, cd_end: int) -> dict[str, CentralEntry] | None:
        """Entries listed in the fetched tail, found by scanning for an entry chain ending at ``cd_end``."""
        end = cd_end - buf_start
        pos = buf.find(CENTRAL_SIG, 0, end)
        while pos != -1:
            parsed = _parse_central(buf, pos, end)
            if parsed:
                return {e.name: e for e in parsed}
            pos = buf.find(CENTRAL_SIG, pos + 1, end)
        return None

    def read(self, entry: CentralEntry, *, max_size: int) -> bytes:
        """The uncompressed bytes of ``entry``, refusing more than ``max_size`` bytes of output."""
        if entry.uncompressed_size > max_size:
            raise ZipReadError(
                f"{entry.name} declares {entry.uncompressed_size} bytes, over the {max_size}-byte cap; not read"
            )
        if entry.compressed_size > max_size:
            raise ZipReadError(f"{entry.name} is {entry.compressed_size} bytes compressed, over the cap; not read")
        # Local header (30) + name + extra (the local extra may differ from the central one).
        guess = 30 + len(entry.name.encode()) + 64
        head = self._slice(entry.local_offset, entry.local_offset + guess + entry.compressed_size)
        if head[:4] != LOCAL_SIG:
            raise ZipReadError(f"{entry.name}: no local file header at offset {entry.local_offset}")
        nlen, xlen = struct.unpack_from("<HH", head, 26)
        data_start = 30 + nlen + xlen
        need = data_start + entry.compressed_size
        if need > len(head):
            head = self._slice(entry.local_offset, entry.local_offset + need)
            if len(head) < need:
                raise ZipReadError(f"{entry.name}: member data runs past the end of the file: truncated zip")
        raw = head[data_start:need]
        if entry.method == 0:
            out = raw
        elif entry.method == 8:
            inflater = zlib.decompressobj(-15)
            try:
                out = inflater.decompress(raw, max_size + 1)
            except zlib.error as exc:
                raise ZipReadError(f"{entry.name}: corrupt deflate data ({exc})") from exc
            if len(out) > max_size or inflater.unconsumed_tail:
                raise ZipReadError(
                    f"{entry.name} inflates past the {max_size}-byte cap (declared {entry.uncompressed_size}): refused as a zip bomb"
                )
        else:
            raise ZipReadError(f"{entry.name}: unsupported compression method {entry.method}")
        if len(out) != entry.uncompressed_size or (zlib.crc32(out) & 0xFFFFFFFF) != entry.crc32:
            raise ZipReadError(f"{entry.name}: size or CRC-32 does not match the central directory: corrupt zip")
        return out


def _name_matches(pattern: str, name: str) -> bool:
    """Glob match in which ``*`` stays within one path segment."""
    return name.count("/") == pattern.count("/") and fnmatch.fnmatchcase(name, pattern)


def _match(patterns: tuple[str, ...], entries: dict[str, CentralEntry]) -> bool:
    return all(any(_name_matches(p, n) for n in entries) for p in patterns)


def find_entry(entries: dict[str, CentralEntry], pattern: str) -> CentralEntry | None:
    """The first entry (by name) matching ``pattern`` (``*`` within one path segment), or None."""
    hits = sorted(n for n in entries if _name_matches(pattern, n))
    return entries[hits[0]] if hits else None
