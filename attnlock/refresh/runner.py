"""One refresh run: read every package in scope from the index, diff against data/, write atomically.

Nothing is written until every package's release list has been read and every document
built; a failure before that point (index unreachable after retries, byte budget exceeded)
leaves ``data/`` untouched.  The changed documents are then written all or nothing
(:func:`attnlock.atomic.write_many_atomic`: every file staged and checked before any is
replaced; a failure while replacing puts the replaced ones back), so "nothing was written" is
true whenever a write fails.  An unchanged document keeps its ``checked`` date so a no-op
refresh is a no-op diff.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from attnlock.atomic import write_many_atomic
from attnlock.errors import DataError, UsageError
from attnlock.refresh.derive import Stats, build_document, remote_member_reader
from attnlock.refresh.http import Fetcher
from attnlock.refresh.report import PackageDiff, Progress, diff_documents, dump_document
from attnlock.refresh.scope import load_scope
from attnlock.refresh.simple import ACCEPT, parse_page, project_url


@dataclass
class RefreshResult:
    """What a run found and did."""

    diffs: list[PackageDiff] = field(default_factory=list)
    stats: dict[str, Stats] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    page_bytes: int = 0
    requests: int = 0
    seconds: float = 0.0

    @property
    def stale(self) -> bool:
        """True when data/ differs from what the index says (``--check`` exits 1)."""
        return any(not d.empty for d in self.diffs)

    @property
    def wheel_bytes_read(self) -> int:
        return sum(s.wheel_bytes_read for s in self.stats.values())

    @property
    def wheel_bytes_total(self) -> int:
        return sum(s.wheel_bytes_total for s in self.stats.values())

    @property
    def errors(self) -> list[str]:
        return [m for s in self.stats.values() for m in s.messages]

    def to_json(self) -> dict[str, Any]:
        return {
            "packages": {d.package: d.to_json() for d in self.diffs},
            "stale": self.stale,
            "written": self.written,
            "bytes_fetched": self.bytes_fetched,
            "page_bytes": self.page_bytes,
            "requests": self.requests,
            "wheel_bytes_read": self.wheel_bytes_read,
            "wheel_bytes_total": self.wheel_bytes_total,
            "files_read": sum(s.files_read for s in self.stats.values()),
            "files_reused": sum(s.files_reused for s in self.stats.values()),
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


def _load_previous(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DataError(
            f"not JSON ({exc}); refusing to overwrite it blindly",
            path=str(path),
            hint="restore it from version control, or delete it to rebuild from scratch",
        ) from exc
    return doc if isinstance(doc, dict) else None


def _start(progress: Progress, name: str, total: int) -> None:
    progress.start(name, total)


def refresh(
    data_root: Path,
    index_url: str,
    fetcher: Fetcher,
    *,
    packages: Sequence[str] = (),
    check: bool = False,
    today: _dt.date | None = None,
    workers: int = 8,
    progress: Progress | None = None,
) -> RefreshResult:
    """Refresh ``data_root/derived`` from ``index_url`` (only ``packages`` when given).

    With ``check`` nothing is written; the result says whether data/ is stale.
    """
    started = time.monotonic()
    checked = (today or _dt.date.today()).isoformat()
    scope = load_scope(data_root / "curated" / "refresh.toml")
    if packages:
        wanted = {canonicalize_name(p) for p in packages}
        unknown = wanted - {s.name for s in scope}
        if unknown:
            raise UsageError(
                f"not in data/curated/refresh.toml: {', '.join(sorted(unknown))}",
                hint="add the package to [packages] there first",
            )
        scope = [s for s in scope if s.name in wanted]
    progress = progress or Progress(enabled=False)
    progress.bytes_fn = lambda: fetcher.bytes_fetched
    reader = remote_member_reader(fetcher.range_reader)
    result = RefreshResult()
    pending: list[tuple[Path, str]] = []
    try:
        for pkg in scope:
            page = project_url(index_url, pkg.name)
            progress.start(pkg.name, 0)
            final_url, ctype, body = fetcher.get_page(page, ACCEPT)
            files = parse_page(pkg.name, final_url, ctype, body)
            path = data_root / "derived" / f"{pkg.name}.json"
            previous = _load_previous(path)
            doc, stats = build_document(
                pkg,
                files,
                previous,
                reader,
                checked=checked,
                workers=workers,
                on_plan=functools.partial(_start, progress, pkg.name),
                on_file=progress.tick,
            )
            diff = diff_documents(pkg.name, previous, doc)
            if diff.empty and previous is not None and isinstance(previous.get("checked"), str):
                doc["checked"] = previous["checked"]
            result.diffs.append(diff)
            result.stats[pkg.name] = stats
            text = dump_document(doc)
            try:
                current = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = None
            if text != current:
                pending.append((path, text))
    finally:
        progress.finish()
    if not check:
        try:
            (data_root / "derived").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the directory: {exc.strerror or exc}; nothing was written",
                            path=str(data_root / "derived")) from exc
        write_many_atomic([(path, text.encode("utf-8")) for path, text in pending])
        result.written.extend(path.name for path, _text in pending)
    result.bytes_fetched = fetcher.bytes_fetched
    result.page_bytes = fetcher.page_bytes
    result.requests = fetcher.requests
    result.seconds = time.monotonic() - started
    return result
