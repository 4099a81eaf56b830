"""docs/matrix.html as a person sees it: a real headless Chromium renders the committed page, the
filters answer "which xformers and flash-attn work with torch 2.6 + cu124 on an A100?" in three
clicks, every cell shows its source and the exact generate command, and the screenshot keeps its look.

Skipped only where Chromium cannot be installed (scripts/test installs chromium and
chromium-driver where missing).  ATTNLOCK_UPDATE_SCREENSHOTS=1 rewrites the fixture and
docs/matrix.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from attnlock.database import load
from attnlock.matrix.page import View, matrix_of
from tests.support.browser import Browser, browser, chromium_missing, png_pixels

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "matrix.html"
FIXTURE = ROOT / "tests" / "fixtures" / "matrix" / "matrix-torch2.6-cu124-a100.png"
DOCS_SHOT = ROOT / "docs" / "matrix.png"
SIZE = (1400, 800)
EXACT, CHIP = (0xDA, 0xFB, 0xE1), (0x09, 0x69, 0xDA)  # page.css: .k-exact, a pressed filter

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))


@pytest.fixture(scope="module")
def page() -> Iterator[Browser]:
    with browser(*SIZE) as b:
        b.get(PAGE.as_uri())
        yield b


def _reset(b: Browser, fragment: str = "") -> None:
    """A fresh load of the page (through about:blank: a changed #fragment alone would not reload;
    WebDriver's navigation waits for the load, so the script has drawn the table)."""
    b.get("about:blank")
    b.get(PAGE.as_uri() + ("#" + fragment if fragment else ""))
    b.find("#rows tr")


def _chip(b: Browser, group: str, value: str) -> None:
    b.find(f'#f-{group} button[data-value="{value}"]').click()


def _rows(b: Browser) -> list[list[str]]:
    """Each shown row: the torch build, then each cell's newest release (its link text)."""
    rows: list[list[str]] = b.script(
        "return Array.from(document.querySelectorAll('#rows tr')).map(function (tr) {"
        " return [tr.querySelector('th').innerText].concat(Array.from(tr.querySelectorAll('td > a'))"
        ".map(function (a) { return a.innerText; })); });")
    return rows


def test_the_table_shows_every_torch_build_of_the_default_view(page: Browser) -> None:
    _reset(page)
    m = matrix_of(load(ROOT / "data"), View("linux-x86_64", "3.12"))
    heads = [th.text for th in page.find_all("#head th")]
    assert heads == ["torch build", *m.packages]
    rows = _rows(page)
    assert [r[0] for r in rows] == [r.build.removeprefix("torch ") for r in m.rows]
    assert rows[[r.build for r in m.rows].index("torch 2.11.0 (cu130)")][1] == "0.0.35"
    assert page.find("#status").text.startswith(f"{len(m.rows)} torch builds · linux-x86_64 · Python 3.12 · GPU any")


def test_three_clicks_answer_the_question(page: Browser) -> None:
    _reset(page)
    _chip(page, "torch", "2.6")
    _chip(page, "cuda", "cu124")
    _chip(page, "gpu", "A100")
    rows = _rows(page)
    assert len(rows) == 1 and rows[0][0] == "2.6.0 (cu124)"
    m = matrix_of(load(ROOT / "data"), View("linux-x86_64", "3.12"), "A100")
    want = next(r for r in m.rows if r.build == "torch 2.6.0 (cu124)")
    cells = page.find_all("#rows tr td")
    for cell, td in zip(want.cells, cells):
        assert td.find_all("a")[0].text == (cell.newest or "–")
        assert td.find_all("a")[0].attribute("title") == cell.command  # the exact generate command
    assert rows[0][1:3] == ["0.0.29.post3", "2.7.4.post1"]


def test_a_cell_shows_its_source_and_command(page: Browser) -> None:
    _reset(page, "torch=2.6&cuda=cu124&gpu=A100")
    m = matrix_of(load(ROOT / "data"), View("linux-x86_64", "3.12"), "A100")
    fa = next(r for r in m.rows if r.build == "torch 2.6.0 (cu124)").cells[m.packages.index("flash-attn")]
    page.find('#rows td[data-package="flash-attn"] a').click()
    assert page.find("#command").text == fa.command
    assert page.find("#detail a.source").attribute("href") == fa.source
    detail = page.find("#detail").text
    assert "known bad" in detail and "exact" in detail
    page.find("#close").click()
    assert page.script("return document.getElementById('detail').hidden;") is True


def test_gpu_python_platform_and_range_filters(page: Browser) -> None:
    _reset(page, "torch=2.6&cuda=cu124")
    _chip(page, "gpu", "T4")
    td = page.find('#rows td[data-package="flash-attn"]')
    assert "k-gpu" in (td.attribute("class") or "")  # greyed: flash-attn 2 needs sm_80+
    _chip(page, "torch", "")
    _chip(page, "cuda", "")
    _chip(page, "python", "3.10")
    builds = [r[0] for r in _rows(page)]
    assert "2.0.1 (cu117)" in builds  # torch 2.0 has Python 3.10 wheels, not 3.12 ones
    _chip(page, "platform", "windows-amd64")
    assert "windows-amd64" in page.find("#status").text
    _chip(page, "platform", "linux-x86_64")
    page.find("#torch-range").send_keys(">=2.4,<2.7")
    versions = {r[0].split(" ")[0].split("+")[0] for r in _rows(page)}
    assert versions and all(v.startswith(("2.4.", "2.5.", "2.6.")) for v in versions), versions


def test_screenshot_keeps_its_look() -> None:
    with browser(*SIZE) as b:
        b.get(PAGE.as_uri() + "#torch=2.6&cuda=cu124&gpu=A100")  # the three clicks
        b.find("#rows tr")
        b.find('#rows tr td[data-package="flash-attn"] a').click()
        shot = b.screenshot()
    if os.environ.get("ATTNLOCK_UPDATE_SCREENSHOTS") == "1":
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_bytes(shot)
        DOCS_SHOT.write_bytes(shot)
    width, height, pixels = png_pixels(shot)
    f_width, f_height, f_pixels = png_pixels(FIXTURE.read_bytes())
    assert (width, height) == (f_width, f_height) and width == SIZE[0]
    # Fonts differ between machines, so the look is compared by its colours: the exact-cell green
    # and the pressed-filter blue cover about as much of the page as in the fixture.
    for colour in (EXACT, CHIP):
        now, then = pixels.count(colour), f_pixels.count(colour)
        assert then > 500 and 0.6 * then <= now <= 1.6 * then, (colour, now, then)
    assert len(set(pixels[:: 97])) > 20  # not a blank page
