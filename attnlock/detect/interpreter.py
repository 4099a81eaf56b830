"""The Python interpreter and the platform it runs on: version, implementation, platform name, libc, wheel tags.

Facts of the running interpreter, unless ``ATTNLOCK_PYTHON`` / ``ATTNLOCK_PLATFORM``
describe another machine (then the wheel tags, which only the real interpreter
can compute, are reported unknown).  The glibc version is asked of an ordered list of
probes (:data:`GLIBC_PROBES`, replaceable through ``probe_interpreter(glibc_probes=…)``):
``packaging._manylinux`` (the code pip uses) first, then ``os.confstr("CS_GNU_LIBC_VERSION")``
and ``platform.libc_ver()`` from the standard library — ``_manylinux`` is private, and a
packaging release that moves or renames it must not break detection.  musl comes from
``packaging._musllinux`` (also private; its absence makes libc unknown, never an error).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from attnlock.detect.report import LibcFacts, PythonFacts, Unknown
from attnlock.errors import UsageError

_MACHINES = {
    ("linux", "x86_64"): "linux-x86_64",
    ("linux", "amd64"): "linux-x86_64",
    ("linux", "aarch64"): "linux-aarch64",
    ("linux", "arm64"): "linux-aarch64",
    ("win32", "amd64"): "windows-amd64",
    ("win32", "x86_64"): "windows-amd64",
    ("darwin", "arm64"): "macos-arm64",
    ("darwin", "x86_64"): "macos-x86_64",
}


def platform_name(sys_platform: str, machine: str) -> str | None:
    """attnlock's platform name (``linux-x86_64`` …) for ``sys.platform`` and the machine; None if unsupported."""
    os_key = "linux" if sys_platform.startswith("linux") else sys_platform
    return _MACHINES.get((os_key, machine.lower()))


def os_of(platform: str | None) -> str:
    """``linux``, ``windows`` or ``macos`` from a platform name (``linux`` when unknown)."""
    return (platform or "linux").split("-", 1)[0]


class InterpreterFacts(NamedTuple):
    python: PythonFacts
    platform: str | None
    platform_source: str
    libc: LibcFacts
    tags: tuple[str, ...] | None
    tags_source: str
    unknown: list[Unknown]


def _version_string() -> str:
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro}"
    if v.releaselevel != "final":
        text += {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, v.releaselevel) + str(v.serial)
    return text


def _machine() -> str:
    import platform

    return platform.machine()


#: ``probe() -> "X.Y"`` or None ("not glibc"); raising (ImportError, AttributeError, OSError,
#: ValueError, TypeError) means "this probe cannot tell" and the next one is asked.
GlibcProbe = Callable[[], "str | None"]


def glibc_from_packaging(module: str = "packaging._manylinux") -> str | None:
    """``packaging._manylinux._get_glibc_version()`` (private API: may move in any release)."""
    import importlib

    major, minor = importlib.import_module(module)._get_glibc_version()
    return f"{major}.{minor}" if major >= 0 else None


def glibc_from_confstr() -> str | None:
    """``os.confstr("CS_GNU_LIBC_VERSION")``: ``"glibc 2.36"`` on glibc, unset elsewhere."""
    import os

    text = os.confstr("CS_GNU_LIBC_VERSION")  # ValueError/OSError where the name is unknown
    if not text:
        return None
    name, _, version = text.partition(" ")
    return _major_minor(version) if name == "glibc" else None


def glibc_from_libc_ver() -> str | None:
    """``platform.libc_ver()`` (confstr, else a scan of the interpreter binary): ``("glibc", "2.36")``."""
    import platform

    name, version = platform.libc_ver()
    return _major_minor(version) if name == "glibc" else None


def _major_minor(version: str) -> str:
    m = re.match(r"(\d+)\.(\d+)", version)  # "2.20-2014.11" on some vendors' builds
    if not m:
        raise ValueError(f"unrecognised glibc version {version!r}")
    return f"{int(m.group(1))}.{int(m.group(2))}"


GLIBC_PROBES: tuple[tuple[str, GlibcProbe], ...] = (
    ("packaging._manylinux", glibc_from_packaging),
    ("os.confstr CS_GNU_LIBC_VERSION", glibc_from_confstr),
    ("platform.libc_ver()", glibc_from_libc_ver),
)


def _libc(sys_platform: str, glibc_probes: Sequence[tuple[str, GlibcProbe]] = GLIBC_PROBES,
          ) -> tuple[LibcFacts, Unknown | None]:
    if not sys_platform.startswith("linux"):
        return LibcFacts(None, None, f"not applicable on {sys_platform}"), None
    failures: list[str] = []
    said_not_glibc = False
    for name, probe in glibc_probes:
        try:
            version = probe()
        except (ImportError, AttributeError, OSError, ValueError, TypeError) as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if version is not None:
            return LibcFacts("glibc", version, name), None
        said_not_glibc = True
        break  # a probe that works says "not glibc": the others would only repeat it
    why = "; ".join(failures + (["not glibc"] if said_not_glibc else []))
    try:
        from packaging import _musllinux

        musl = _musllinux._get_musl_version(sys.executable)
    except (ImportError, AttributeError, OSError, ValueError) as exc:
        musl = None
        why += f"; packaging._musllinux: {type(exc).__name__}: {exc}"
    if musl is not None:
        return LibcFacts("musl", f"{musl.major}.{musl.minor}", f"packaging._musllinux ({sys.executable})"), None
    return LibcFacts(None, None, "unknown"), Unknown("libc", f"{why}; no musl loader found either")


def probe_interpreter(environ: Mapping[str, str], *, sys_platform: str | None = None,
                      machine: str | None = None, compute_tags: bool = True,
                      glibc_probes: Sequence[tuple[str, GlibcProbe]] = GLIBC_PROBES) -> InterpreterFacts:
    """This interpreter's facts, with ``ATTNLOCK_PYTHON`` / ``ATTNLOCK_PLATFORM`` overrides applied."""
    unknown: list[Unknown] = []
    sys_platform = sys_platform or sys.platform
    overridden = False

    python = PythonFacts(_version_string(), sys.implementation.name, "sys.version_info")
    raw = environ.get("ATTNLOCK_PYTHON")
    if raw:
        from attnlock.model import PythonVersion  # only for overrides: model's imports are not free

        try:
            python = PythonFacts(str(PythonVersion.parse(raw)), "cpython", "env:ATTNLOCK_PYTHON")
            overridden = True
        except UsageError as exc:
            unknown.append(Unknown("ATTNLOCK_PYTHON", f"ignored: {exc.message}"))

    name = platform_name(sys_platform, machine if machine is not None else _machine())
    platform_source = "sys.platform + platform.machine()"
    if name is None:
        unknown.append(Unknown("platform", f"{sys_platform}/{machine or _machine()} is not a platform attnlock plans for"))
    raw = environ.get("ATTNLOCK_PLATFORM")
    if raw:
        from attnlock.model import Platform

        try:
            name, platform_source = str(Platform.parse(raw)), "env:ATTNLOCK_PLATFORM"
            overridden = True
        except UsageError as exc:
            unknown.append(Unknown("ATTNLOCK_PLATFORM", f"ignored: {exc.message}"))

    libc, problem = _libc(sys_platform, glibc_probes)
    if problem:
        unknown.append(problem)
    if overridden:
        libc = LibcFacts(None, None, "not detected: ATTNLOCK_PYTHON/ATTNLOCK_PLATFORM describe another machine")

    tags: tuple[str, ...] | None = None
    tags_source = "packaging.tags.sys_tags()"
    if overridden:
        tags_source = "not computed: ATTNLOCK_PYTHON/ATTNLOCK_PLATFORM describe another machine"
    elif compute_tags:
        from packaging.tags import sys_tags

        tags = tuple(str(t) for t in sys_tags())
    else:
        tags_source = "not computed (not asked for)"
    return InterpreterFacts(python, name, platform_source, libc, tags, tags_source, unknown)
