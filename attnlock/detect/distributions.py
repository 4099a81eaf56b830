"""Installed distributions found by scanning ``*.dist-info`` folders on a search path — no imports, no METADATA parse of every package.

``scan()`` maps canonical names to the first folder found in path order (the one
``importlib`` would use); ``read_version()`` then reads one distribution's
metadata, tolerating a half-installed package (missing or unreadable METADATA):
the folder name's version is used and the problem is reported.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

_INFO = re.compile(r"^(?P<name>[^-]+?)(?:-(?P<version>[^-]+?))?(?:-py\d[\d.]*)?\.(?:dist|egg)-info$", re.I)


@dataclass(frozen=True)
class Found:
    """One distribution's metadata folder and what its name says."""

    name: str  # canonical
    info: Path  # the .dist-info / .egg-info folder
    folder_version: str | None

    @property
    def site(self) -> Path:
        return self.info.parent


def scan(sys_path: Iterable[str]) -> dict[str, Found]:
    """Every distribution on ``sys_path``, first occurrence wins."""
    found: dict[str, Found] = {}
    for entry in sys_path:
        if not entry:
            continue
        try:
            with os.scandir(entry) as it:
                names = [e.name for e in it if e.name.endswith(("-info", "-INFO"))]
        except OSError:  # missing folder, a zip file on sys.path, no permission
            continue
        for folder in sorted(names):
            m = _INFO.match(folder)
            if not m:
                continue
            name = str(canonicalize_name(m.group("name")))
            if name not in found:
                found[name] = Found(name, Path(entry) / folder, m.group("version"))
    return found


def read_version(found: Found) -> tuple[str | None, str, str | None]:
    """``(version, source, problem)``: METADATA's Version, else the folder name's, with why."""
    metadata_file = found.info / ("PKG-INFO" if found.info.name.endswith(".egg-info") else "METADATA")
    try:
        version = importlib.metadata.PathDistribution(found.info).metadata.get("Version")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        version, problem = None, f"{metadata_file}: {exc}"
    else:
        problem = None if version else f"{metadata_file}: missing or has no Version"
    if version:
        return str(version), str(metadata_file), None
    if found.folder_version:
        return found.folder_version, f"{found.info.name} (folder name; metadata unreadable)", problem
    return None, str(found.info), problem
