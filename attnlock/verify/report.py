"""Render verify results for people: a progress line per finished check and the final table.

stdout carries the table (or the JSON, rendered by the command); progress
goes to stderr and only when stderr is a terminal.  Colour only on a
terminal and never with ``NO_COLOR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

_COLOURS = {"pass": "32", "fail": "31", "skip": "33"}


def _paint(text: str, status: str, colour: bool) -> str:
    code = _COLOURS.get(status)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else ""


def _note(r: dict[str, Any]) -> str:
    if r.get("status") == "skip":
        return str(r.get("reason") or "")
    if r.get("status") == "fail":
        first = str(r.get("error") or "").strip().splitlines()
        return first[0][:110] if first else ""
    if r.get("note"):
        return str(r["note"])
    if r.get("version"):
        return str(r["version"])
    detail = r.get("detail") or {}
    if isinstance(detail, dict) and "usable" in detail:
        return "usable: " + ", ".join(detail["usable"])
    return ""


class Progress:
    """Writes one line per finished check on ``stream`` (a terminal)."""

    def __init__(self, stream: TextIO, *, colour: bool) -> None:
        self.stream = stream
        self.colour = colour
        self.done = 0

    def __call__(self, group: str, result: dict[str, Any]) -> None:
        self.done += 1
        status = str(result.get("status"))
        mark = _paint(f"{status:4}", status, self.colour)
        speed = f"  {result['tflops']:.1f} TFLOP/s" if isinstance(result.get("tflops"), (int, float)) else ""
        self.stream.write(f"  [{self.done:2}] {mark} {result.get('package')}/{result.get('check')}"
                          f" on {result.get('device')}{speed}\n")
        self.stream.flush()


def table(checks: Sequence[dict[str, Any]], *, colour: bool = False) -> str:
    """The final table: one row per check, then each failure's error, fix and stderr tail, then a summary."""
    header = ("PACKAGE", "CHECK", "DEVICE", "STATUS", "MS", "TFLOP/S", "%MATMUL", "MAX ERR", "NOTE")
    rows = []
    for r in checks:
        frac = r.get("fraction_of_matmul")
        device = str(r.get("device") or "")
        if "rank" in r:
            device = f"r{r['rank']}:{device}"
        rows.append((str(r.get("package")), str(r.get("check")), device, str(r.get("status")),
                     _num(r.get("ms"), ".3f"), _num(r.get("tflops"), ".1f"),
                     f"{frac:.0%}" if isinstance(frac, (int, float)) else "",
                     _num(r.get("max_abs_err"), ".1e"), _note(r)))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip()]
    for row in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row)]
        cells[3] = _paint(cells[3], row[3], colour)
        lines.append("  ".join(cells).rstrip())
    failures = [r for r in checks if r.get("status") == "fail"]
    for r in failures:
        lines.append("")
        lines.append(_paint(f"FAIL {r.get('package')}/{r.get('check')} on {r.get('device')}", "fail", colour))
        for line in str(r.get("error") or "").strip().splitlines()[:12]:
            lines.append(f"  {line}")
        diag = r.get("diagnosis")
        if isinstance(diag, dict):
            lines.append(f"  cause [{diag.get('id')}]: {diag.get('cause', '')}".rstrip())
            lines.append(f"  fix: {diag.get('fix')}")
            for cmd in diag.get("commands") or []:
                lines.append(f"    $ {cmd}")
        tail = str(r.get("stderr_tail") or "").strip().splitlines()
        if tail and r.get("error") and tail[-1] not in str(r.get("error")):
            lines.append("  stderr (last lines):")
            lines.extend(f"    {t}" for t in tail[-8:])
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for r in checks:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    lines.append("")
    lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return "\n".join(lines) + "\n"
