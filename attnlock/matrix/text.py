"""The matrix for a terminal (column groups that fit the width) and as Markdown (links to sources)."""

from __future__ import annotations

from attnlock.matrix.table import Cell, Matrix, Row

#: One letter per way a pairing is known (the legend spells them out).
MARKS = {"exact": "=", "window": "~", "measured": "m", "declared": "d", "unknown": "?", "none": ""}
LEGEND_ITEMS = ("= exact (built for / pinned to that torch)", "~ ABI window (data/curated/abi.toml)",
                "m measured window", "d declared by Requires-Dist only", "? unknown (no torch requirement recorded)",
                "! a known-bad record takes releases out", "x the GPU cannot run it", "- nothing pairs")
LEGEND = "   ".join(LEGEND_ITEMS)
_MIN_WIDTH, _MAX_WIDTH = 80, 160


def cell_text(cell: Cell) -> str:
    """``0.0.29.post3 =`` / ``2.7.4.post1 =!`` / ``-`` / ``x``: the newest and its marks."""
    if cell.newest is None:
        return "x" if cell.gpu else ("?" if cell.how == "unknown" else "-") + ("!" if cell.known_bad else "")
    flags = MARKS[cell.how] + ("!" if cell.known_bad else "") + ("x" if cell.gpu else "")
    return f"{cell.newest} {flags}"


def render_text(m: Matrix, width: int = 100) -> str:
    """The table in column groups no wider than ``width`` (80–160), then the legend and the notes."""
    width = max(_MIN_WIDTH, min(_MAX_WIDTH, width))
    head = _header(m)
    first = max([len("torch build")] + [len(_row_label(r)) for r in m.rows])
    widths = {p: max([len(p)] + [len(cell_text(r.cells[i])) for r in m.rows]) for i, p in enumerate(m.packages)}
    groups: list[list[int]] = [[]]
    used = first
    for i, p in enumerate(m.packages):
        if groups[-1] and used + 2 + widths[p] > width:
            groups.append([])
            used = first
        groups[-1].append(i)
        used += 2 + widths[p]
    out = [*_wrap(head, width), ""]
    for g in groups:
        cols = [("torch build", first)] + [(m.packages[i], widths[m.packages[i]]) for i in g]
        out.append("  ".join(name.ljust(w) for name, w in cols).rstrip())
        out.append("  ".join("-" * w for _, w in cols))
        for r in m.rows:
            texts = [_row_label(r).ljust(first)] + [cell_text(r.cells[i]).ljust(widths[m.packages[i]]) for i in g]
            out.append("  ".join(texts).rstrip())
        out.append("")
    out += _legend(width) + [""]
    notes = _notes(m)
    if notes:
        out.append("notes:")
        out += [line for n in notes for line in _wrap(n, width, "  ", "    ")]
    return "\n".join(out).rstrip() + "\n"


def render_markdown(m: Matrix) -> str:
    """A Markdown table: each cell the newest (linked to its source), its mark, and the range."""
    lines = [f"<!-- {_header(m)} -->", "", "| torch build | " + " | ".join(m.packages) + " |",
             "|---|" + "---|" * len(m.packages)]
    for r in m.rows:
        cells = []
        for c in r.cells:
            if c.newest is None:
                cells.append(cell_text(c))
                continue
            # a source may be several references, space-separated: the link is the first web one
            url = next((ref for ref in (c.source or "").split() if ref.startswith("http")), None)
            text = f"[{c.newest}]({url})" if url else c.newest
            extra = f" ({c.range})" if c.range != c.newest else ""
            cells.append(f"{text} {cell_text(c).split(' ', 1)[1]}{extra}")
        lines.append(f"| {_row_label(r)} | " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    lines += ["", LEGEND.replace("   ", "; ")]
    notes = _notes(m)
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _header(m: Matrix) -> str:
    t = m.target_words()
    return (f"attnlock compatibility matrix — platform {t['platform']}, Python {t['python']}, GPU {t['gpu']}, "
            f"CUDA {t['cuda']}, torch {t['torch']}" + (f" (facts checked {m.checked})" if m.checked else ""))


def _row_label(r: Row) -> str:
    label = r.build.removeprefix("torch ")
    return label + (" x" if r.gpu else "")


def _notes(m: Matrix) -> list[str]:
    """Known-bad records, GPU misses and unknown variants, each said once with the builds they touch."""
    seen: dict[str, list[str]] = {}
    for r in m.rows:
        if r.gpu:
            seen.setdefault(f"x torch: {r.gpu}", []).append(r.build)
        for c in r.cells:
            for kb in c.known_bad:
                seen.setdefault(f"! {c.package}: {kb}", []).append(r.build)
            if c.gpu and not r.gpu:
                seen.setdefault(f"x {c.package}: {c.gpu}", []).append(r.build)
    return [f"{note} [{_builds(builds)}]" for note, builds in seen.items()]


def _builds(builds: list[str]) -> str:
    names = list(dict.fromkeys(b.removeprefix("torch ") for b in builds))
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _legend(width: int) -> list[str]:
    """The legend, its items packed into lines no wider than ``width`` and never split across two."""
    lines = [""]
    for item in LEGEND_ITEMS:
        if lines[-1] and len(lines[-1]) + 3 + len(item) > width:
            lines.append("")
        lines[-1] += ("   " if lines[-1] else "") + item
    return lines


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False) or [""]
