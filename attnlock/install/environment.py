"""The Python environment an install changes: its prefix, whether it is a venv, and whether it may change.

Everything is read from the running interpreter (attnlock acts on the environment it is
installed in) without importing any package of that environment.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from attnlock.errors import ToolError


@dataclass(frozen=True)
class PythonEnvironment:
    """An interpreter and the environment its installers write to."""

    executable: str
    prefix: Path
    is_venv: bool
    site_packages: Path
    externally_managed: bool

    @classmethod
    def current(cls) -> PythonEnvironment:
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        return cls(
            executable=sys.executable,
            prefix=Path(sys.prefix),
            is_venv=sys.prefix != getattr(sys, "base_prefix", sys.prefix),
            site_packages=Path(sysconfig.get_paths()["purelib"]),
            # PEP 668: a distribution-managed Python marks itself so; pip refuses to touch it.
            externally_managed=(stdlib / "EXTERNALLY-MANAGED").is_file() and sys.prefix == sys.base_prefix,
        )

    @property
    def pip_config(self) -> Path:
        """The site-level pip configuration file of this environment (pip reads it last, so it wins)."""
        return self.prefix / ("pip.ini" if os.name == "nt" else "pip.conf")

    @property
    def attnlock_dir(self) -> Path:
        """The folder attnlock owns inside the environment."""
        return self.prefix / "attnlock"

    def check_writable(self) -> None:
        """Raise a clear error when installers could not change this environment."""
        if self.externally_managed:
            raise ToolError(
                f"{self.prefix} is an externally managed Python (PEP 668); pip will refuse to install into it",
                hint="create a virtual environment (python -m venv .venv && . .venv/bin/activate) and run attnlock there",
            )
        if not os.access(self.site_packages, os.W_OK):
            raise ToolError(
                f"{self.site_packages} is not writable; nothing was installed",
                hint="use a virtual environment you own, or run with the permissions that environment needs",
            )


def find_uv() -> str | None:
    """The uv executable: on PATH, else the one the ``uv`` Python package ships."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None
