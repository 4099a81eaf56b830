"""The pip-args emitter: the arguments to append to ``pip install`` for this plan, one shell line."""

from __future__ import annotations

import shlex

from attnlock.emit.constraints import pin_line
from attnlock.model import Plan


def render_pip_args(plan: Plan) -> str:
    """``--extra-index-url URL torch==2.3.1+cu118 'flash-attn @ https://…'`` (shell-quoted)."""
    argv: list[str] = []
    for ix in plan.indexes:
        argv += ["--extra-index-url", ix.url]
    if any(p.sdist for p in plan.pins):
        argv.append("--no-build-isolation")
    argv += [pin_line(p) for p in plan.pins]
    return shlex.join(argv) + "\n"
