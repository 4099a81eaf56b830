"""The static matrix page: one self-contained HTML file (``docs/matrix.html``), generated from the database.

The page holds the matrix of several targets — each platform × Python view, each with every GPU of
:data:`GPUS` — as one compact JSON document (cells deduplicated, strings interned) and a small
inline script that renders the table for the chosen filters (torch range, CUDA variant, GPU,
Python, platform) and shows, for a clicked cell, its source and the exact ``attnlock generate``
command whose plan it is.  No external asset, no framework.  Regenerate with
``python -m attnlock.matrix docs/matrix.html`` (or ``attnlock db matrix --format html -o FILE``);
a test fails when the committed page drifts from the database.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, replace
from importlib import resources

from attnlock.database.store import Database
from attnlock.matrix.table import Cell, Matrix, build
from attnlock.model import Platform, PythonVersion, Target
from attnlock.resolver.candidates import CandidateSource

#: The views the committed page holds (presentation choices; every fact comes from the database).
PLATFORMS = ("linux-x86_64", "linux-aarch64", "windows-amd64")
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
DEFAULT_VIEW = ("linux-x86_64", "3.12")
#: The GPUs the GPU filter offers, by the names data/curated/gpus.toml knows.
GPUS = ("T4", "A100", "L4", "H100", "B200")


@dataclass(frozen=True)
class View:
    platform: str
    python: str


def views_for(target: Target) -> tuple[View, ...]:
    """The views of a page for ``target``: the platform and Python it names, else all of them."""
    plats = (str(target.platform),) if target.platform is not None else PLATFORMS
    pys = (str(target.python),) if target.python is not None else PYTHONS
    return tuple(View(p, y) for p in plats for y in pys)


def page_data(db: Database, views: tuple[View, ...], base: Target,
              packages: tuple[str, ...] | None) -> dict[str, object]:
    """The page's JSON document: views of rows ``[torch, variant, build, cell ids, {gpu: [why the
    row is out, [[column, cell id] where the GPU changes it]]}]`` whose cells index a shared table."""
    strings: dict[str, int] = {}
    cells: dict[tuple[object, ...], int] = {}
    gpus = [(name, g.compute_capability) for name in GPUS if (g := db.gpu(name)) is not None]

    def s(text: str | None) -> int | None:
        if text is None:
            return None
        return strings.setdefault(text, len(strings))

    def cell_id(c: Cell) -> int:
        key = (c.newest, c.build, c.oldest, c.releases, c.how, s(c.source), s(c.why),
               tuple(s(k) for k in c.known_bad), tuple(s(p) for p in c.possible), s(c.gpu), s(c.missing))
        return cells.setdefault(key, len(cells))

    out_views = []
    names: tuple[str, ...] = packages or ()
    for v in views:
        target = replace(base, platform=Platform.parse(v.platform), python=PythonVersion.parse(v.python),
                         gpu=None, gpu_name=None)
        sources: dict[Target, CandidateSource] = {}
        m = build(db, target, packages, sources)
        names = names or m.packages
        packages = packages or m.packages
        per_gpu = [build(db, replace(target, gpu=cc, gpu_name=name), packages, sources) for name, cc in gpus]
        rows = []
        for i, r in enumerate(m.rows):
            row: list[object] = [r.torch, r.variant, r.build, [cell_id(c) for c in r.cells]]
            over: dict[str, object] = {}
            for gi, gm in enumerate(per_gpu):
                gr = gm.rows[i]
                ids = [cell_id(c) for c in gr.cells]
                changed = [[k, cid] for k, (cid, was) in enumerate(zip(ids, row[3])) if cid != was]  # type: ignore[call-overload]
                if gr.gpu is not None or changed:
                    over[str(gi)] = [s(gr.gpu), changed]
            if over:
                row.append(over)
            rows.append(row)
        out_views.append({"platform": v.platform, "python": v.python, "rows": rows, "checked": m.checked})
    return {
        "packages": list(names),
        "gpus": [[name, cc.dotted] for name, cc in gpus],
        "views": out_views,
        "default": list(DEFAULT_VIEW),
        "torch": str(base.torch) if base.torch else "",
        "cuda": base.cuda.label if base.cuda else "",
        "checked": max((str(v["checked"]) for v in out_views if v["checked"]), default=""),
        "cells": [list(k) for k in cells],
        "strings": list(strings),
    }


def render_page(db: Database, views: tuple[View, ...], base: Target, packages: tuple[str, ...] | None = None) -> str:
    """The whole page as text."""
    data = page_data(db, views, base, packages)
    here = resources.files("attnlock.matrix")
    script = here.joinpath("page.js").read_text(encoding="utf-8")
    style = here.joinpath("page.css").read_text(encoding="utf-8")
    # "</" cannot end the script element early: JSON escapes it.
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    checked = data["checked"]
    return _TEMPLATE.format(style=style, script=script, data=blob, checked=html.escape(str(checked)))


def matrix_of(db: Database, view: View, gpu: str | None = None) -> Matrix:
    """One view's matrix (what the page shows for it), for tests and the command."""
    target = Target(platform=Platform.parse(view.platform), python=PythonVersion.parse(view.python))
    if gpu is not None:
        g = db.gpu(gpu)
        if g is not None:
            target = replace(target, gpu=g.compute_capability, gpu_name=gpu)
    return build(db, target)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>attnlock compatibility matrix: torch × xformers × flash-attn × triton</title>
<style>
{style}</style>
</head>
<body>
<header>
<h1>attnlock compatibility matrix</h1>
<p>Rows are torch builds, columns the packages that pair with torch. Each cell is the newest release
that works with that torch build (what <code>attnlock generate</code> plans), the range that does, how it
is known and its source. Click a cell for details and the exact command. Facts checked {checked};
generated from attnlock's database (<code>python -m attnlock.matrix docs/matrix.html</code>).</p>
</header>
<section id="filters" aria-label="filters">
<div class="group" id="f-platform"><span class="label">Platform</span></div>
<div class="group" id="f-python"><span class="label">Python</span></div>
<div class="group" id="f-gpu"><span class="label">GPU</span></div>
<div class="group" id="f-cuda"><span class="label">CUDA</span></div>
<div class="group" id="f-torch"><span class="label">torch</span>
<input id="torch-range" type="text" placeholder="range, e.g. &gt;=2.4,&lt;2.7" aria-label="torch range" size="16"></div>
</section>
<p id="legend"><span class="k-exact">exact</span> built for / pinned to that torch ·
<span class="k-window">window</span> served through an ABI window (data/curated/abi.toml) ·
<span class="k-measured">measured</span> a measured window ·
<span class="k-declared">declared</span> Requires-Dist only ·
<span class="k-unknown">unknown</span> no torch requirement recorded ·
<span class="bad">!</span> a known-bad record takes releases out ·
<span class="k-gpu">greyed</span> the GPU cannot run it</p>
<p id="status" role="status"></p>
<table id="matrix"><thead><tr id="head"></tr></thead><tbody id="rows"></tbody></table>
<aside id="detail" hidden aria-live="polite"></aside>
<noscript><p>The table is drawn by the small script in this page; the same data is printed by
<code>attnlock db matrix</code> (text, Markdown, JSON).</p></noscript>
<script id="data" type="application/json">{data}</script>
<script>
{script}</script>
</body>
</html>
"""
