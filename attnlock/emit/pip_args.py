"""The pip-args emitter: the options to add to ``pip install`` so that it installs this plan's builds.

pip takes pins only two ways: as positional requirements, which *install* every one of them
(triton, flash-attn, nvidia-* …, whether the user wanted them or not), or through a constraints
file, which only limits what gets installed.  attnlock's plan is a set of constraints, so the
options are: the PyTorch indexes the plan needs (``--extra-index-url``, the same lines the
constraints file carries), ``--no-build-isolation`` when a planned package is built from its sdist,
and ``--constraint /dev/stdin`` — the pins themselves arrive on pip's standard input from the
constraints output::

    attnlock generate [TARGET] | pip install $(attnlock generate [TARGET] --format pip-args) torch xformers

The packages to install stay the user's to name.  ``/dev/stdin`` needs a POSIX system, and it
means nothing once the options are saved: ``generate --format pip-args -o FILE`` writes the pins to
a constraints file beside FILE (:func:`companion_path`) and names that file instead::

    attnlock generate --format pip-args -o pip-args.txt    # also writes pip-args.constraints.txt
    pip install $(cat pip-args.txt) torch xformers  tests/test_generate_pip_args.py runs this
line with the real pip against a local index.
"""

from __future__ import annotations

import shlex
from pathlib import PurePath

from attnlock.model import Plan

STDIN = "/dev/stdin"


def companion_path(output: str) -> str:
    """The constraints file written beside ``-o FILE`` (``pip-args.txt`` → ``pip-args.constraints.txt``),
    spelled relative to the same directory the user spelled FILE in."""
    path = PurePath(output)
    stem = path.name.split(".")[0] or path.name
    companion = path.with_name(f"{stem}.constraints.txt")
    if companion == path:
        companion = path.with_name(f"{path.name}.pins.txt")
    return str(companion)


def render_pip_args(plan: Plan, *, constraints: str = STDIN) -> str:
    """``--extra-index-url URL --constraint /dev/stdin`` (shell-quoted, one line); ``constraints``
    names a constraints file instead of standard input."""
    argv: list[str] = []
    for ix in plan.indexes:
        argv += ["--extra-index-url", ix.url]
    if any(p.sdist for p in plan.pins):
        argv.append("--no-build-isolation")
    argv += ["--constraint", constraints]
    return shlex.join(argv) + "\n"
