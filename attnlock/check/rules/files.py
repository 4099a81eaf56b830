"""Rules the file alone decides: constraints-file hazards and unscoped indexes (AL401, AL303)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnlock.check.context import InstallSet
from attnlock.check.findings import Finding

if TYPE_CHECKING:
    pass
from attnlock.check.rules._base import _finding, render


def file_rules(iset: InstallSet) -> list[Finding]:
    """Constraints-file hazards and unscoped indexes (the file alone decides)."""
    out: list[Finding] = []
    pip_file = iset.kind in ("requirements", "constraints")
    for e in iset.entries:
        req = e.requirement
        if req is None:
            continue
        if pip_file and e.kind == "constraint" and req.extras:
            new = render(req, extras=(), original=e.text)
            out.append(_finding(
                "AL401", e, f"constraint {e.text!r} has extras: pip fails every install that uses this file "
                "('Constraints cannot have extras'); uv ignores the extra", [e.name or req.name], new, new))
    if pip_file:
        for decl in iset.indexes:
            if decl.option == "--extra-index-url":
                out.append(Finding(
                    "AL303", decl.path, decl.line, decl.column,
                    f"--extra-index-url {decl.url} is unscoped: any package may come from either index "
                    "(dependency confusion; pip takes the highest version, uv the first index that has it)",
                    fix=f"pass --index-url {decl.url} on the command line for the packages it serves, or in "
                        f"pyproject.toml declare [[tool.uv.index]] url = \"{decl.url}\" with explicit = true "
                        "and route packages to it in [tool.uv.sources]"))
    if iset.kind == "pyproject":
        for decl in iset.indexes:
            if decl.option != "tool.uv.index" or decl.explicit or decl.default:
                continue
            name = decl.name or "NAME"
            served = ", ".join(f"{p} = {{ index = \"{name}\" }}" for p in decl.packages) or \
                f"<package> = {{ index = \"{name}\" }} for each package it serves"
            label = f"[[tool.uv.index]] {decl.name!r}" if decl.name else "[[tool.uv.index]]"
            out.append(Finding(
                "AL303", decl.path, decl.line, decl.column,
                f"{label} ({decl.url}) is not explicit: uv searches it before the default index, so any package "
                "may come from it (uv's first-index strategy; dependency confusion)",
                fix=f"add explicit = true to this [[tool.uv.index]] and route the packages it serves via "
                    f"[tool.uv.sources]: {served}"))
    return out


