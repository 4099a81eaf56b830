"""``--fix``: apply the unambiguous edits of findings to their files, atomically, byte for byte elsewhere.

An edit replaces the text of one requirement inside one line; it never
contains a line break, so a fix cannot add, drop or join lines.  Overlapping
edits in one file are ambiguous: only the first is applied, the next run
applies the rest.  Files are written with :func:`attnlock.atomic.write_bytes_atomic`, which
refuses (naming the file) when the file changed since it was read (someone appended lines while
the check ran), has several hard links, or belongs to another user it cannot be given back to.
"""

from __future__ import annotations

from collections.abc import Iterable

from attnlock.atomic import write_bytes_atomic
from attnlock.check.document import Document
from attnlock.check.findings import Edit, Finding
from attnlock.check.source import PIP_LINE_BREAKS


def _breaks(text: str) -> bool:
    return any(ch in text for ch in PIP_LINE_BREAKS)


def apply_edits(text: str, edits: Iterable[Edit]) -> tuple[str, int]:
    """``text`` with non-overlapping ``edits`` applied (first wins), and how many were applied."""
    chosen: list[Edit] = []
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        if _breaks(e.replacement) or _breaks(text[e.start:e.end]):
            continue
        if chosen and e.start < chosen[-1].end:
            continue
        if chosen and (e.start, e.end, e.replacement) == (chosen[-1].start, chosen[-1].end, chosen[-1].replacement):
            continue
        chosen.append(e)
    out = text
    for e in reversed(chosen):
        out = out[: e.start] + e.replacement + out[e.end:]
    return out, len(chosen)


def fix_files(findings: Iterable[Finding], documents: Iterable[Document]) -> dict[str, int]:
    """Apply every finding's edit to its file; return path -> number of edits applied."""
    by_path: dict[str, list[Edit]] = {}
    for f in findings:
        if f.edit is not None:
            by_path.setdefault(f.edit.path, []).append(f.edit)
    sources = {d.path: d.source for d in documents if d.source is not None}
    applied: dict[str, int] = {}
    for path, edits in by_path.items():
        source = sources.get(path)
        if source is None or not source.fixable:
            continue
        new_text, count = apply_edits(source.text, edits)
        if count and new_text != source.text:
            write_bytes_atomic(path, source.encode(new_text), expect=source.identity)
            applied[path] = count
    return applied
