"""Emitters: render one Plan as text — constraints file, uv settings, pip arguments, JSON.

Every emitter returns a string and writes nothing; ``attnlock generate`` writes atomically.
How pip and uv really read each construct is recorded in ``../shared/FACTS.md`` (and in the
installer tests): constraints files carry no ``--index-url``, no extras and no hashes; builds the
default index lacks get a local-version pin or ``name @ URL``.  Submodules are imported on first
use of a name (``generate`` pays only for the format it writes).
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = ("constraints", "uv", "pip-args", "json")

_WHERE = {
    "plan_to_json": "json_plan",
    "render_json": "json_plan",
    "regenerate_command": "command",
    "target_words": "command",
    "render_constraints": "constraints",
    "render_pip_args": "pip_args",
    "render_uv": "uv",
    "update_pyproject": "uv",
}

__all__ = ["FORMATS", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
