"""Installed distributions found by scanning ``*.dist-info`` folders on a search path — no imports, no METADATA parse of every package.

``scan()`` maps canonical names to the first folder found in path order (the one
``importlib`` would use); ``read_version()`` then reads one distribution's
metadata, tolerating a half-installed package (missing or unreadable METADATA):
the folder name's version is used and the problem is reported.  METADATA's
header block is read directly (``Version:`` line) instead of through
``importlib.metadata``/``email``, whose import alone costs more than the scan.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

_SEPARATORS = re.compile(r"[-_.]+")
_INFO = re.compile(r"^(?P<name>[^-]+?)(?:-(?P<version>[^-]+?))?(?:-py\d[\d.]*)?\.(?:dist|egg)-info$", re.I)


class Found(NamedTuple):
    """One distribution's metadata folder and what its name says."""

    name: str  # canonical
    info: Path  # the .dist-info / .egg-info folder
    folder_version: str | None

    @property
    def site(self) -> Path:
        return self.info.parent


def canonical_name(name: str) -> str:
    """PEP 503 normalisation (what ``packaging.utils.canonicalize_name`` does)."""
    return _SEPARATORS.sub("-", name).lower()


def metadata_version(text: str) -> str | None:
    """The ``Version:`` header of a METADATA/PKG-INFO text (headers end at the first blank line)."""
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "version":
            return value.strip() or None
    return None


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
            name = canonical_name(m.group("name"))
            if name not in found:
                found[name] = Found(name, Path(entry) / folder, m.group("version"))
    return found


def read_version(found: Found) -> tuple[str | None, str, str | None]:
    """``(version, source, problem)``: METADATA's Version, else the folder name's, with why."""
    metadata_file = found.info / ("PKG-INFO" if found.info.name.endswith(".egg-info") else "METADATA")
    version: str | None
    problem: str | None
    try:
        with open(metadata_file, "rb") as fh:
            version = metadata_version(fh.read(1 << 16).decode("utf-8", "replace"))
    except OSError as exc:
        version, problem = None, f"{metadata_file}: {exc.strerror or exc}"
    else:
        problem = None if version else f"{metadata_file}: no Version header"
    if version:
        return version, str(metadata_file), None
    if found.folder_version:
        return found.folder_version, f"{found.info.name} (folder name; metadata unreadable)", problem
    return None, str(found.info), problem
