"""Read pip's ``ResolutionImpossible`` and uv's ``No solution found`` texts into requirement edges.

pip lists the conflict after ``The conflict is caused by:`` as
``The user requested (constraint) torch==2.3.0`` and ``xformers 0.0.27 depends on torch==2.3.1``.
uv explains it in sentences, wrapped at about 80 columns by older releases:
``Because xformers==0.0.27 depends on torch==2.3.1 and you require torch==2.3.0, …``
(``../shared/FACTS.md``, "Conflict texts").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Requested:
    """A requirement the user gave (on the command line, a requirements or constraints file)."""

    name: str
    specifier: SpecifierSet
    constraint: bool = False


@dataclass(frozen=True)
class Dependency:
    """``package`` (at ``version``, or the releases in ``specifier``) depends on ``requirement``."""

    package: str
    version: Version | None
    specifier: SpecifierSet | None
    requirement: Requirement


@dataclass(frozen=True)
class Conflict:
    """What an installer said it could not satisfy."""

    requested: tuple[Requested, ...]
    dependencies: tuple[Dependency, ...]


def _name(text: str) -> str:
    return str(canonicalize_name(text))


def _requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text.strip().rstrip(".,"))
    except InvalidRequirement:
        return None


# Bounded and matched against stripped lines: a pasted line of any length costs linear time.
_PIP_USER = re.compile(r"^The user requested (?P<c>\(constraint\) )?(?P<req>\S.{0,500})$")
_PIP_DEP = re.compile(r"^(?P<pkg>[A-Za-z0-9][A-Za-z0-9._-]{0,100}) (?P<ver>\S{1,60}) depends on (?P<req>\S.{0,500})$")


# pip's block pasted with its line breaks lost: one line holds every requirement.
_PIP_JOINED = re.compile(
    r" (?=The user requested |[A-Za-z0-9][A-Za-z0-9._-]{0,100} \S{1,60} depends on |To fix this )"
)


def _pip_lines(block: str) -> list[str]:
    out: list[str] = []
    for line in block.splitlines():
        if line.count(" depends on ") + line.count("The user requested ") >= 2:
            out.extend(_PIP_JOINED.sub("\n", line).split("\n"))
        else:
            out.append(line)
    return out


def parse_pip(block: str) -> Conflict:
    """Parse the lines after pip's ``The conflict is caused by:`` up to the first blank line."""
    requested: list[Requested] = []
    deps: list[Dependency] = []
    for line in _pip_lines(block):
        if not line.strip():
            if requested or deps:
                break
            continue
        line = line.strip()
        m = _PIP_USER.match(line)
        if m:
            req = _requirement(m.group("req"))
            if req is not None:
                requested.append(Requested(_name(req.name), req.specifier, bool(m.group("c"))))
            continue
        m = _PIP_DEP.match(line)
        if m:
            req = _requirement(m.group("req"))
            try:
                ver: Version | None = Version(m.group("ver"))
            except InvalidVersion:
                ver = None
            if req is not None:
                deps.append(Dependency(_name(m.group("pkg")), ver, None, req))
    return Conflict(tuple(requested), tuple(deps))


_UV_NAME = r"(?<![A-Za-z0-9._-])[A-Za-z0-9][A-Za-z0-9._-]{0,100}"
_UV_SPEC = r"(?:(?:===|==|!=|<=|>=|~=|<|>)[^\s,;]{1,100})(?:,(?:===|==|!=|<=|>=|~=|<|>)[^\s,;]{1,100}){0,10}"
_UV_DEP = re.compile(
    rf"(?:all versions of (?P<all>{_UV_NAME})|(?P<pkg>{_UV_NAME})(?P<pspec>{_UV_SPEC})?) depends? on "
    rf"(?P<dep>{_UV_NAME})(?P<dspec>{_UV_SPEC})?"
)
# A pin that reached uv through a constraints file is not named as one:
# "xformers>=0.0.27 depends on torch==2.3.1 and torch==2.3.0, we can conclude …".
_UV_CONSTRAINT = re.compile(
    rf"depends? on (?P<dep>{_UV_NAME})(?:{_UV_SPEC})? and (?P=dep)(?P<spec>{_UV_SPEC})"
)
_UV_USER = re.compile(
    rf"(?:you require|your project depends on|you requested|the requirements include) (?P<name>{_UV_NAME})(?P<spec>{_UV_SPEC})?"
)


def join_uv(text: str) -> str:
    """uv's explanation as one line: tree glyphs dropped, wrapped lines joined."""
    text = re.sub(r"[×╰─▶│├└]", " ", text)
    text = re.sub(r"\{[^{}]{0,500}\}", "", text)  # marker annotations: torch{sys_platform == 'linux'}==2.7.1
    return " ".join(text.split())


def _spec(text: str | None) -> SpecifierSet:
    try:
        return SpecifierSet(text or "")
    except InvalidSpecifier:
        return SpecifierSet()


def parse_uv(explanation: str) -> Conflict:
    """Parse uv's resolution explanation (the text after ``No solution found …:``)."""
    flat = join_uv(explanation)
    requested: dict[str, Requested] = {}
    deps: list[Dependency] = []
    for m in _UV_USER.finditer(flat):
        name = _name(m.group("name"))
        requested.setdefault(name, Requested(name, _spec(m.group("spec"))))
    for m in _UV_CONSTRAINT.finditer(flat):
        name = _name(m.group("dep"))
        requested.setdefault(name, Requested(name, _spec(m.group("spec")), constraint=True))
    for m in _UV_DEP.finditer(flat):
        pkg = m.group("all") or m.group("pkg")
        spec = _spec(m.group("pspec"))
        exact = [s for s in spec if s.operator in ("==", "===") and "*" not in s.version]
        version: Version | None = None
        if len(exact) == 1:
            try:
                version = Version(exact[0].version)
            except InvalidVersion:
                version = None
        req = _requirement(m.group("dep") + (m.group("dspec") or ""))
        if req is not None:
            deps.append(Dependency(_name(pkg), version, spec if str(spec) else None, req))
    return Conflict(tuple(requested.values()), tuple(deps))
