"""docs/matrix.html must be exactly what the shipped data/ generates (CI fails on drift), self-contained and small."""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path

import pytest

from attnlock.database import load
from attnlock.matrix.page import View, matrix_of

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "matrix.html"
REGENERATE = "python -m attnlock.matrix docs/matrix.html"


def _data(text: str) -> dict[str, object]:
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.DOTALL)
    assert m is not None
    doc: dict[str, object] = json.loads(m.group(1))
    return doc


def test_committed_page_matches_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regenerated the documented way (the module runs ``attnlock db matrix --format html -o FILE``)."""
    monkeypatch.delenv("ATTNLOCK_DATA_DIR", raising=False)
    fresh = tmp_path / "matrix.html"
    monkeypatch.setattr(sys, "argv", ["python -m attnlock.matrix", str(fresh)])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("attnlock.matrix", run_name="__main__")
    assert done.value.code == 0
    assert PAGE.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
        f"docs/matrix.html drifted from data/; regenerate: {REGENERATE}")


def test_page_is_small_and_self_contained() -> None:
    raw = PAGE.read_bytes()
    assert len(raw) <= 1_000_000
    text = raw.decode("utf-8")
    assert not re.search(r"<(link|img|iframe)\b|\bsrc\s*=|@import|url\(", text, re.IGNORECASE)
    assert text.count("<script") == 2  # the data and the small script: no framework, nothing fetched


def test_page_holds_the_same_cells_as_the_command() -> None:
    doc = _data(PAGE.read_text(encoding="utf-8"))
    view = next(v for v in doc["views"] if v["platform"] == "linux-x86_64" and v["python"] == "3.12")  # type: ignore[attr-defined]
    cells, strings = doc["cells"], doc["strings"]
    m = matrix_of(load(ROOT / "data"), View("linux-x86_64", "3.12"))
    assert doc["packages"] == list(m.packages)
    assert [r[2] for r in view["rows"]] == [r.build for r in m.rows]
    for page_row, row in zip(view["rows"], m.rows):
        for cid, cell in zip(page_row[3], row.cells):
            c = cells[cid]  # type: ignore[index]
            assert (c[0], c[4]) == (cell.newest, cell.how)
            assert (strings[c[5]] if c[5] is not None else None) == cell.source  # type: ignore[index]
