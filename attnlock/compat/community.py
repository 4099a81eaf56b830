"""Community wheel sources (``community.toml``): builds published by someone other than the package's
project, read only when the user opts in (``--source community``).

Each wheel's torch minor, CUDA label, Python tag and platform are read from its file name; which torch
releases it serves is the package's ABI window (``abi.toml``), as for the project's own wheels.  Parsed
strictly: a record that does not parse is a problem for ``db validate``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from attnlock.compat.problems import Problem, RecordError, load_strictly, source_text
from attnlock.model import canonical

# flash_attn-2.8.3+cu130torch2.13-cp312-cp312-linux_x86_64.whl
_FILE = re.compile(r"(?P<dist>[A-Za-z0-9_]+)-(?P<version>[^+-]+)\+(?P<cuda>cu\d+)torch(?P<torch>\d+\.\d+)"
                   r"-(?P<python>cp\d+)-(?P=python)-(?P<plat>linux_x86_64|linux_aarch64|win_amd64)\.whl")
_PLATFORMS = {"linux_x86_64": "linux-x86_64", "linux_aarch64": "linux-aarch64", "win_amd64": "windows-amd64"}


@dataclass(frozen=True)
class CommunitySource:
    """``[[source]]``: who publishes the builds, where, and what is (not) vouched for."""

    name: str
    repository: str
    url_template: str
    packages: tuple[str, ...]
    trust: str
    source: str

    def describe(self) -> str:
        """``community source mjun0812 (https://github.com/…)``: the words every pin from it carries."""
        return f"community source {self.name} ({self.repository})"


@dataclass(frozen=True)
class CommunityWheel:
    """One wheel of a community source."""

    source: str  # the source's name
    package: str
    version: Version
    torch_minor: str  # "2.13"
    cuda: str  # "cu130"
    python: str  # "cp312"
    platform: str  # "linux-x86_64"
    filename: str
    url: str

    @property
    def local_label(self) -> str:
        return f"{self.cuda}torch{self.torch_minor}"


def parse_sources(records: Iterable[Mapping[str, Any]], file: str) -> tuple[tuple[CommunitySource, ...], list[Problem]]:
    return load_strictly(records, _source, file, "source")


def parse_wheels(records: Iterable[Mapping[str, Any]], sources: Mapping[str, CommunitySource],
                 file: str) -> tuple[tuple[CommunityWheel, ...], list[Problem]]:
    """Every wheel of every ``[[wheels]]`` record whose source is recorded."""
    groups, problems = load_strictly(records, lambda rec: _wheels(rec, sources), file, "wheels")
    return tuple(w for g in groups for w in g), problems


def _text(rec: Mapping[str, Any], key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(key, "must be a non-empty string")
    return value


def _source(rec: Mapping[str, Any]) -> CommunitySource:
    template = _text(rec, "url_template")
    if "{tag}" not in template or "{file}" not in template or not template.startswith("https://"):
        raise RecordError("url_template", "must be an https URL with {tag} and {file}")
    packages = rec.get("packages")
    if not isinstance(packages, list) or not packages or not all(isinstance(p, str) for p in packages):
        raise RecordError("packages", "must be a non-empty list of package names")
    return CommunitySource(_text(rec, "name"), _text(rec, "repository"), template,
                           tuple(canonical(p) for p in packages), _text(rec, "trust"), source_text(rec))


def _wheels(rec: Mapping[str, Any], sources: Mapping[str, CommunitySource]) -> tuple[CommunityWheel, ...]:
    name = _text(rec, "source_name")
    src = sources.get(name)
    if src is None:
        raise RecordError("source_name", f"{name!r} names no [[source]]")
    package = canonical(_text(rec, "package"))
    if package not in src.packages:
        raise RecordError("package", f"{package} is not among {name}'s packages")
    try:
        version = Version(_text(rec, "version"))
    except InvalidVersion:
        raise RecordError("version", f"malformed version {rec.get('version')!r}") from None
    tag = _text(rec, "tag")
    files = rec.get("files")
    if not isinstance(files, list) or not files:
        raise RecordError("files", "must be a non-empty list of wheel file names")
    out = []
    for f in files:
        m = _FILE.fullmatch(f) if isinstance(f, str) else None
        if m is None:
            raise RecordError("files", f"{f!r} is not a wheel name of the form "
                                       "<dist>-<version>+cu<XY>torch<X.Y>-cpXY-cpXY-<platform>.whl")
        if canonical(m.group("dist")) != package or Version(m.group("version")) != version:
            raise RecordError("files", f"{f} is not {package} {version}")
        out.append(CommunityWheel(name, package, version, m.group("torch"), m.group("cuda"), m.group("python"),
                                  _PLATFORMS[m.group("plat")], f,
                                  src.url_template.replace("{tag}", tag).replace("{file}", f)))
    return tuple(out)


__all__ = ["CommunitySource", "CommunityWheel", "parse_sources", "parse_wheels"]
