"""Rendering a check report: ruff-like text, the CLI.md JSON shape, and SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
import os

from attnlock import __version__
from attnlock.check.codes import CODES
from attnlock.check.checker import Report

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def text(report: Report, *, color: bool = False) -> str:
    """``path:line:col: CODE message`` per finding, each followed by its fix line."""
    lines = []
    for f in report.findings:
        code = f.code
        if color:
            code = f"\x1b[{'31' if f.severity == 'error' else '33'};1m{code}\x1b[0m"
        lines.append(f"{f.path}:{f.line}:{f.column}: {code} {f.message}")
        if f.fix:
            lines.append(f"  fix: {f.fix}" + (" [*]" if f.edit is not None else ""))
    return "\n".join(lines) + ("\n" if lines else "")


def summary(report: Report) -> str:
    """The one-line count printed on stderr (and a note naming the packages the database does not know)."""
    names = report.not_judged
    note = (f"\nattnlock check: note: not judged, the database has no releases of: {', '.join(names[:8])}"
            + (f" (+{len(names) - 8} more)" if len(names) > 8 else "")) if names else ""
    if not report.findings:
        return f"attnlock check: {len(report.files)} file(s), no findings{note}"
    fixable = sum(1 for f in report.findings if f.edit is not None)
    tail = f"; {fixable} fixable with --fix" if fixable else ""
    return (f"attnlock check: {len(report.files)} file(s), {report.errors} error(s), "
            f"{report.warnings} warning(s){tail}{note}")


def to_json(report: Report) -> str:
    """``{"findings": [...], "files": [...]}`` (``../shared/CLI.md``)."""
    doc: dict[str, object] = {"findings": [f.to_json() for f in report.findings], "files": report.files}
    if report.not_judged:  # packages the database has no releases of (a note; the key is absent when none)
        doc["not_judged"] = report.not_judged
    return json.dumps(doc, indent=2)


def _uri(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return rel.replace(os.sep, "/")


def to_sarif(report: Report) -> str:
    """A SARIF 2.1.0 log with one run; every code is a rule, every finding a result."""
    used = sorted({f.code for f in report.findings} | set(CODES))
    index = {code: i for i, code in enumerate(used)}
    rules = [{
        "id": code,
        "name": CODES[code].name,
        "shortDescription": {"text": CODES[code].name.replace("-", " ")},
        "fullDescription": {"text": CODES[code].summary},
        "defaultConfiguration": {"level": CODES[code].severity},
        "properties": {"tags": ["dependencies"]},
    } for code in used]
    sources = {d.path: d.source for d in report.documents if d.source is not None}
    results = []
    for f in report.findings:
        result: dict[str, object] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": f.severity,
            "message": {"text": f.message + (f"\nfix: {f.fix}" if f.fix else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(f.path)},
                "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column)},
            }}],
            "properties": {"packages": list(f.packages)},
        }
        if f.edit is not None and f.edit.path in sources:
            source = sources[f.edit.path]
            start_line, start_col = source.position(f.edit.start)
            end_line, end_col = source.position(f.edit.end)
            result["fixes"] = [{"description": {"text": f.fix or f.edit.replacement}, "artifactChanges": [{
                "artifactLocation": {"uri": _uri(f.edit.path)},
                "replacements": [{
                    "deletedRegion": {"startLine": start_line, "startColumn": start_col,
                                      "endLine": end_line, "endColumn": end_col},
                    "insertedContent": {"text": f.edit.replacement},
                }],
            }]}]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "attnlock", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(log, indent=2)
