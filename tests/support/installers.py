"""Environments and arguments for running real pip and uv in tests, blind to this machine's config.

This machine sets ``PIP_FIND_LINKS`` and has a global ``pip.conf`` with a constraint; a test
that let pip or uv see them would test the machine, not attnlock.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["installer_env", "pip_cache_args", "uv_cache_args", "find_uv", "pip_argv"]

# Variables that redirect installers to another environment or configuration.
_DROP_EXACT = {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONUSERBASE", "PIP_REQUIRE_VIRTUALENV"}


def installer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``os.environ`` scrubbed for running pip/uv, plus ``extra``.

    Drops every ``PIP_*`` and ``UV_*`` variable and the active-environment variables
    (``VIRTUAL_ENV``, ``CONDA_PREFIX``); sets ``PIP_CONFIG_FILE=os.devnull`` (pip then loads no
    configuration file: global, user or site), ``UV_NO_CONFIG=1``,
    ``PIP_DISABLE_PIP_VERSION_CHECK=1``, ``PIP_NO_INPUT=1``, ``PYTHONNOUSERSITE=1``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_")) and k not in _DROP_EXACT
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        PYTHONNOUSERSITE="1",
    )
    env.update(extra or {})
    return env


def pip_cache_args(tmp: str | Path) -> list[str]:
    """``--cache-dir`` arguments pointing pip at a fresh cache under ``tmp``."""
    path = Path(tmp) / "pip-cache"
    path.mkdir(parents=True, exist_ok=True)
    return ["--cache-dir", str(path)]


def uv_cache_args(tmp: str | Path) -> list[str]:
    """``--cache-dir`` arguments pointing uv at a fresh cache under ``tmp``."""
    path = Path(tmp) / "uv-cache"
    path.mkdir(parents=True, exist_ok=True)
    return ["--cache-dir", str(path)]


def find_uv() -> str | None:
    """The uv executable, found the way attnlock itself finds it."""
    from attnlock.install.environment import find_uv as _find_uv

    return _find_uv()


def pip_argv(python: str | Path | None = None) -> list[str]:
    """``[python, -m, pip]`` for ``python`` (default: this interpreter)."""
    return [str(python or sys.executable), "-m", "pip"]
