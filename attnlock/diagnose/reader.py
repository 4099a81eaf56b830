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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from attnlock.diagnose.engine import strip_control

IN_MEMORY_BYTES = 16 * 1024 * 1024
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


def _decoder_for(head: bytes) -> tuple[str, int]:
    """The encoding of a log that starts with ``head`` and the length of its byte-order mark."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", 0  # PowerShell's `>` writes UTF-16 with a BOM; the codec reads the BOM itself
    return "utf-8", 0


def _split_long(lines: list[str]) -> list[str]:
    if all(len(line) <= LINE_CHARS for line in lines):
        return lines
    out: list[str] = []
    for line in lines:
        out.extend(line[i:i + LINE_CHARS] for i in range(0, max(len(line), 1), LINE_CHARS))
    return out


def _hit_lines(text: str, starts: list[int], needles: Iterable[str]) -> list[int]:
    hits: set[int] = set()
    for needle in needles:
        at = text.find(needle)
        n = 0
        while at != -1 and n < _MAX_HITS_PER_NEEDLE:
            hits.add(bisect.bisect_right(starts, at) - 1)
            at = text.find(needle, at + len(needle))
            n += 1
    return sorted(hits)


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

    def text(self, tail_first: int, tail: list[str]) -> str:
        parts: list[str] = []
        for first, lines in self.segments:
            if first >= tail_first:
                break
            lines = lines[: max(0, tail_first - first)]
            parts.append("\n".join(lines))
        parts.append("\n".join(tail))
        return "\n[... lines without a known error text omitted ...]\n".join(p for p in parts if p)


def read_stream(stream: BinaryIO, needles: Iterable[str]) -> LogText:
    """Read ``stream`` (a file or standard input, binary) into a :class:`LogText`."""
    needles = tuple(needles)
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
    return _stream(stream, head[bom:], encoding, needles)


def _stream(stream: BinaryIO, first: bytes, encoding: str, needles: tuple[str, ...]) -> LogText:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    excerpt = _Excerpt()
    pending = ""
    line_no = 0  # absolute number of the first line of the current chunk
    carry_after = 0  # lines still to keep at the start of the next chunk (after a hit near the end)
    before: list[str] = []  # the last BEFORE_LINES lines of the previous chunk
    tail: list[str] = []
    tail_first = 0
    size = 0
    replaced = 0
    data = first
    while True:
        size += len(data)
        final = not data
        text = pending + decoder.decode(data, final=final)
        if not final:
            cut = text.rfind("\n")
            if cut == -1:
                cut = len(text) - 1 if len(text) > LINE_CHARS else -1
            if cut == -1:
                pending = text
                data = stream.read(CHUNK_BYTES)
                continue
            pending, text = text[cut + 1:], text[: cut + 1]
            text = text[:-1] if text.endswith("\n") else text
        else:
            pending = ""
        if text:
            text = strip_control(text)
            replaced += text.count("\ufffd")
            lines = _split_long(text.split("\n"))
            joined = "\n".join(lines)
            starts = [0]
            for line in lines[:-1]:
                starts.append(starts[-1] + len(line) + 1)
            if carry_after:
                excerpt.add(line_no, lines[:carry_after])
            carry_after = 0
            for hit in _hit_lines(joined, starts, needles):
                lo, hi = hit - BEFORE_LINES, hit + AFTER_LINES
                if lo < 0 and before:
                    excerpt.add(line_no - len(before), before[max(0, len(before) + lo):])
                excerpt.add(line_no + max(lo, 0), lines[max(lo, 0): hi + 1])
                carry_after = max(carry_after, hi + 1 - len(lines))
            before = lines[-BEFORE_LINES:]
            # The tail: the last TAIL_CHARS of the log, as whole lines.
            tail.extend(lines)
            chars = sum(len(x) + 1 for x in tail)
            drop = 0
            while chars > TAIL_CHARS and drop < len(tail) - 1:
                chars -= len(tail[drop]) + 1
                drop += 1
            tail_first = line_no + len(lines) - (len(tail) - drop)
            tail = tail[drop:]
            line_no += len(lines)
        if final:
            break
        data = stream.read(CHUNK_BYTES)
    return LogText(excerpt.text(tail_first, tail), size=size, excerpt=True, replaced=replaced)
