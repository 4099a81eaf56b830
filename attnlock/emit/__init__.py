"""Emitters: render one Plan as text — constraints file, uv settings, pip arguments, JSON.

Every emitter returns a string and writes nothing; ``attnlock generate`` writes atomically.
How pip and uv really read each construct is recorded in ``../shared/FACTS.md`` (and in the
installer tests): constraints files carry no ``--index-url``, no extras and no hashes; builds the
default index lacks get a local-version pin or ``name @ URL``.
"""

from __future__ import annotations

from attnlock.emit.command import regenerate_command, target_words
from attnlock.emit.constraints import render_constraints
from attnlock.emit.json_plan import plan_to_json, render_json
from attnlock.emit.pip_args import render_pip_args
from attnlock.emit.uv import render_uv, update_pyproject

FORMATS = ("constraints", "uv", "pip-args", "json")

__all__ = [
    "FORMATS",
    "plan_to_json",
    "regenerate_command",
    "render_constraints",
    "render_json",
    "render_pip_args",
    "render_uv",
    "target_words",
    "update_pyproject",
]
