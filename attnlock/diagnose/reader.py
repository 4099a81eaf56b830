"""Read an error log of any size in bounded memory: the whole text when small, else an excerpt.

A log up to :data:`IN_MEMORY_BYTES` is read whole.  A bigger one (a 200 MB CI log)
is streamed in chunks: only the lines around a literal that some signature needs
(:attr:`~attnlock.diagnose.signatures.Signature.needles`) and the last lines of the
log are kept, so memory stays bounded by :data:`KEEP_CHARS` plus one chunk whatever
the size, and the patterns run over a few megabytes at most.

Binary input (NUL bytes, not UTF-16) and empty input are reported as such; bytes that
are not UTF-8 are replaced, never an error.
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from attnlock.diagnose.engine import strip_control

IN_MEMORY_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
KEEP_CHARS = 8 * 1024 * 1024
TAIL_CHARS = 1024 * 1024
LINE_CHARS = 64 * 1024
BEFORE_LINES = 60
AFTER_LINES = 400
_SNIFF = 64 * 1024
_MAX_HITS_PER_NEEDLE = 2000


@dataclass(frozen=True)
class LogText:
    """What was read: the text (or excerpt) to diagnose and what kind of input it was."""

    text: str
    kind: str = "text"  # "text", "empty", "binary" or "compressed"
    size: int = 0  # bytes read
    excerpt: bool = False  # True when only the lines near known error texts and the tail were kept
    replaced: int = 0  # characters that were not valid in the encoding
    spans: tuple[tuple[int, int], ...] = ()  # excerpt: (its first line, that line's number in the log)

    def line_in_log(self, line: int) -> int:
        """The number in the whole log of ``line`` of the text (the same unless this is an excerpt)."""
        if not self.spans:
            return line
        at, first = self.spans[max(0, bisect.bisect_right([a for a, _ in self.spans], line) - 1)]
        return first + max(0, line - at)


def _decoder_for(head: bytes) -> tuple[str, int]:
    """The encoding of a log that starts with ``head`` and the length of its byte-order mark."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", 0  # PowerShell's `>` writes UTF-16 with a BOM; the codec reads the BOM itself
    return "utf-8", 0


def _hit_lines(data: bytes, starts: list[int], needles: Iterable[bytes]) -> list[int]:
    hits: set[int] = set()
    for needle in needles:
        at = data.find(needle)
        n = 0
        while at != -1 and n < _MAX_HITS_PER_NEEDLE:
            hits.add(bisect.bisect_right(starts, at) - 1)
            at = data.find(needle, at + len(needle))
            n += 1
    return sorted(hits)


# Escape sequences removed from the raw bytes before the literals are looked for (a colour
# code in the middle of a message would hide it); the kept lines are normalised in full later.
_RAW_ESCAPES = re.compile(rb"\x1b\][^\x07\x1b\n]{0,8192}(?:\x07|\x1b\\)?|\x1b\[[0-?]{0,64}[ -/]{0,16}[@-~]|\x1b")


class _Excerpt:
    """Lines kept so far, as (first absolute line number, lines) segments, bounded in size."""

    def __init__(self) -> None:
        self.segments: list[tuple[int, list[str]]] = []
        self.size = 0

    def add(self, first: int, lines: list[str]) -> None:
        if not lines:
            return
        if self.segments:
            last_first, last_lines = self.segments[-1]
            if last_first + len(last_lines) >= first:  # overlapping or adjacent: extend
                skip = last_first + len(last_lines) - first
                last_lines.extend(lines[skip:])
                self.size += sum(len(x) + 1 for x in lines[skip:])
                self._trim()
                return
        self.segments.append((first, list(lines)))
        self.size += sum(len(x) + 1 for x in lines)
        self._trim()

    def _trim(self) -> None:
        while self.size > KEEP_CHARS and len(self.segments) > 1:
            _, dropped = self.segments.pop(0)
            self.size -= sum(len(x) + 1 for x in dropped)

    def text(self, tail_first: int, tail: list[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
        """The excerpt, and for each of its parts (excerpt line, line in the log), both 1-based."""
        parts: list[str] = []
        spans: list[tuple[int, int]] = []
        at = 1
        for first, lines in self.segments:
            if first >= tail_first:
                break
            lines = lines[: max(0, tail_first - first)]
            if lines:
                spans.append((at, first + 1))
                parts.append("\n".join(lines))
                at += len(lines) + 1  # and the line that says lines were left out
        spans.append((at, tail_first + 1))
        parts.append("\n".join(tail))
        return _OMITTED.join(parts), tuple(spans)


_OMITTED = "\n[... lines without a known error text omitted ...]\n"


def read_stream(stream: BinaryIO, needles: Iterable[str]) -> LogText:
    """Read ``stream`` (a file or standard input, binary) into a :class:`LogText`."""
    head = stream.read(IN_MEMORY_BYTES + 1)
    if not head:
        return LogText("", kind="empty")
    if head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ", b"BZh", b"PK\x03\x04")):
        return LogText("", kind="compressed", size=len(head))
    encoding, bom = _decoder_for(head[:4])
    if encoding == "utf-8" and b"\x00" in head[:_SNIFF]:
        return LogText("", kind="binary", size=len(head))
    if len(head) <= IN_MEMORY_BYTES:
        text = head[bom:].decode(encoding, errors="replace")
        return LogText(text, size=len(head), replaced=text.count("\ufffd"))
    return _stream(_utf8_chunks(stream, head[bom:], encoding), tuple(n.encode("utf-8") for n in needles))


def _utf8_chunks(stream: BinaryIO, first: bytes, encoding: str) -> Iterator[bytes]:
    """The log as UTF-8 byte chunks (a UTF-16 log is re-encoded on the way)."""
    if encoding == "utf-8":
        data = first
        while data:
            yield data
            data = stream.read(CHUNK_BYTES)
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    data = first
    while data:
        yield decoder.decode(data).encode("utf-8")
        data = stream.read(CHUNK_BYTES)
    yield decoder.decode(b"", final=True).encode("utf-8")


def _decode(lines: list[bytes]) -> list[str]:
    return strip_control("\n".join(x.decode("utf-8", errors="replace") for x in lines)).split("\n")


def _stream(chunks: Iterator[bytes], needles: tuple[bytes, ...]) -> LogText:
    """Keep the lines near a needle and the tail, reading the log once, in bounded memory.

    Lines are found and searched as bytes (fast, and a chunk always ends at a line break,
    so no UTF-8 sequence is cut); only the kept lines are decoded and cleaned.
    """
    excerpt = _Excerpt()
    pending = b""
    line_no = 0  # absolute number of the first line of the current block
    carry_after = 0  # lines still to keep at the start of the next block (after a hit near its end)
    before: list[bytes] = []  # the last BEFORE_LINES lines of the previous block
    tail: list[bytes] = []
    tail_first = 0
    size = 0
    for data in chunks:
        size += len(data)
        block = pending + data
        cut = block.rfind(b"\n")
        if cut == -1 and len(block) <= LINE_CHARS:
            pending = block
            continue
        if cut == -1:
            pending, block = b"", block
        else:
            pending, block = block[cut + 1:], block[:cut]
        line_no, carry_after, before, lines = _block(block, line_no, carry_after, before, needles, excerpt)
        tail_first, tail = _keep_tail(tail, lines, line_no)
    if pending:
        line_no, carry_after, before, lines = _block(pending, line_no, carry_after, before, needles, excerpt)
        tail_first, tail = _keep_tail(tail, lines, line_no)
    text, spans = excerpt.text(tail_first, _decode(tail))
    return LogText(text, size=size, excerpt=True, replaced=text.count("\ufffd"), spans=spans)


def _lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if max(map(len, lines)) <= LINE_CHARS:
        return lines
    out: list[bytes] = []
    for line in lines:
        out.extend(line[i:i + LINE_CHARS] for i in range(0, max(len(line), 1), LINE_CHARS))
    return out


def _block(block: bytes, line_no: int, carry_after: int, before: list[bytes], needles: tuple[bytes, ...],
           excerpt: _Excerpt) -> tuple[int, int, list[bytes], list[bytes]]:
    lines = _lines(block)
    search = b"\n".join(lines) if len(lines) > block.count(b"\n") + 1 else block
    if b"\x1b" in search:
        search = _RAW_ESCAPES.sub(b"", search)  # never removes a line break: line numbers stay
    starts = [0]
    for length in map(len, search.split(b"\n")[:-1]):
        starts.append(starts[-1] + length + 1)
    if carry_after:
        excerpt.add(line_no, _decode(lines[:carry_after]))
    carry_after = 0
    for hit in _hit_lines(search, starts, needles):
        lo, hi = hit - BEFORE_LINES, hit + AFTER_LINES
        if lo < 0 and before:
            excerpt.add(line_no - len(before) + max(0, len(before) + lo), _decode(before[max(0, len(before) + lo):]))
        excerpt.add(line_no + max(lo, 0), _decode(lines[max(lo, 0): hi + 1]))
        carry_after = max(carry_after, hi + 1 - len(lines))
    return line_no + len(lines), carry_after, lines[-BEFORE_LINES:], lines


def _keep_tail(tail: list[bytes], lines: list[bytes], line_no: int) -> tuple[int, list[bytes]]:
    """The last TAIL_CHARS of the log as whole lines, and the absolute number of its first line."""
    keep: list[bytes] = []
    chars = 0
    for line in reversed(lines):
        if chars + len(line) + 1 > TAIL_CHARS and keep:
            return line_no - len(keep), keep[::-1]
        keep.append(line)
        chars += len(line) + 1
    for line in reversed(tail):
        if chars + len(line) + 1 > TAIL_CHARS:
            break
        keep.append(line)
        chars += len(line) + 1
    return line_no - len(keep), keep[::-1]
