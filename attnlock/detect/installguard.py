"""Whether an ``attnlock activate`` install guard is active in a Python environment, read from its files.

The guard's layout belongs to :mod:`attnlock.install.guard` (``<prefix>/pip.conf`` holding a
marked block, ``<prefix>/attnlock/constraints.txt``, ``UV_CONSTRAINT`` for uv).  It is read
here directly instead of through ``attnlock.install.guard.status()`` because importing that
module pulls in ``subprocess``, ``dataclasses``, ``json`` and the atomic writer — about 17 ms
measured with ``python -X importtime``, more than the rest of ``detect`` — for three file
reads.  The answer is the same as ``status()`` gives (tests/test_detect_guard.py checks both
the constants and the answer against the real ``activate``/``deactivate``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from attnlock.detect.report import GuardFacts, Unknown

#: Must equal attnlock.install.guard.BEGIN (the first line of the block activate writes).
BEGIN = "# >>> attnlock guard: `attnlock deactivate` removes this block"
#: attnlock's folder inside the environment, and the constraints file in it (PythonEnvironment.attnlock_dir).
OWN_DIR = "attnlock"
CONSTRAINTS = "constraints.txt"


def pip_config(prefix: Path) -> Path:
    """The environment's site-level pip configuration (``PythonEnvironment.pip_config``)."""
    return prefix / ("pip.ini" if os.name == "nt" else "pip.conf")


def probe_guard(prefix: Path | None, environ: Mapping[str, str]) -> tuple[GuardFacts | None, list[Unknown]]:
    """The guard's state in the environment at ``prefix``; ``(None, [])`` when no prefix is given."""
    if prefix is None:
        return None, []
    unknown: list[Unknown] = []
    conf = pip_config(prefix)
    constraints = prefix / OWN_DIR / CONSTRAINTS
    block = False
    try:
        block = BEGIN in _read_regular(conf).decode("utf-8", "replace")
    except FileNotFoundError:
        pass
    except OSError as exc:
        unknown.append(Unknown("guard", f"{conf}: {exc.strerror or exc}"))
    has_constraints = constraints.is_file()
    if block and not has_constraints:
        unknown.append(Unknown("guard", f"{conf} holds attnlock's guard block but {constraints} is missing: "
                                        "pip cannot open the constraint it is told to use; "
                                        "run `attnlock deactivate` (or `attnlock activate` again)"))
    return GuardFacts(
        active=block and has_constraints,
        pip_config=str(conf),
        constraints=str(constraints) if has_constraints else None,
        uv_constraint=environ.get("UV_CONSTRAINT", "") == str(constraints),
    ), unknown


def _read_regular(path: Path, limit: int = 1 << 20) -> bytes:
    """The first ``limit`` bytes of a regular file; a FIFO or device raises OSError instead of blocking."""
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file; not read")
        os.set_blocking(fd, True)
        return os.read(fd, limit)
    finally:
        os.close(fd)
