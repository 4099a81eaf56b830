"""glibc detection survives a packaging release that moves its private ``_manylinux``: probes given as ports, no patching."""

from __future__ import annotations

import functools
import sys

import pytest

from attnlock.detect import Ports, detect
from attnlock.detect.interpreter import (
    GLIBC_PROBES,
    glibc_from_confstr,
    glibc_from_libc_ver,
    glibc_from_packaging,
    probe_interpreter,
)

MOVED = "packaging._manylinux_moved_in_a_future_release"


def _real_glibc() -> str:
    """This machine's glibc from the standard library alone; skips where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc is Linux only")
    try:
        version = glibc_from_confstr()
    except (ValueError, OSError):
        version = None
    if version is None:
        pytest.skip("not a glibc system")
    return version


def _fails(exc: Exception):  # type: ignore[no-untyped-def]
    def probe() -> str | None:
        raise exc
    return probe


def test_every_real_probe_agrees_on_this_machine() -> None:
    version = _real_glibc()
    assert glibc_from_packaging() == version
    assert glibc_from_libc_ver() == version
    facts = probe_interpreter({}, sys_platform="linux", machine="x86_64", compute_tags=False)
    assert (facts.libc.name, facts.libc.version, facts.libc.source) == ("glibc", version, "packaging._manylinux")


def test_packaging_moved_falls_back_to_confstr() -> None:
    """The real packaging probe pointed at a module that does not exist, then the real os.confstr."""
    version = _real_glibc()
    moved = functools.partial(glibc_from_packaging, module=MOVED)
    with pytest.raises(ImportError):
        moved()
    facts = probe_interpreter({}, sys_platform="linux", machine="x86_64", compute_tags=False,
                              glibc_probes=(("packaging._manylinux", moved), *GLIBC_PROBES[1:]))
    assert (facts.libc.name, facts.libc.version) == ("glibc", version)
    assert facts.libc.source == "os.confstr CS_GNU_LIBC_VERSION"
    assert not [u for u in facts.unknown if u.fact == "libc"]


def test_packaging_renamed_its_function_and_confstr_is_missing_falls_back_to_libc_ver() -> None:
    version = _real_glibc()
    probes = (("packaging._manylinux", _fails(AttributeError("module has no attribute '_get_glibc_version'"))),
              ("os.confstr CS_GNU_LIBC_VERSION", _fails(ValueError("unrecognized configuration name"))),
              ("platform.libc_ver()", glibc_from_libc_ver))
    facts = probe_interpreter({}, sys_platform="linux", machine="x86_64", compute_tags=False, glibc_probes=probes)
    assert (facts.libc.name, facts.libc.version, facts.libc.source) == ("glibc", version, "platform.libc_ver()")


def test_detect_takes_the_probes_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    probes = (("packaging._manylinux", functools.partial(glibc_from_packaging, module=MOVED)),
              ("fake confstr", lambda: "2.17"))
    env = detect(Ports(root=tmp_path, environ={"PATH": ""}, use_database=False), sys_platform="linux",
                 machine="x86_64", glibc_probes=probes)
    assert env.to_json()["libc"] == {"name": "glibc", "version": "2.17", "source": "fake confstr"}


def test_no_probe_can_tell_is_an_unknown_with_every_reason() -> None:
    probes = (("packaging._manylinux", _fails(ImportError("No module named 'packaging._manylinux'"))),
              ("os.confstr CS_GNU_LIBC_VERSION", _fails(OSError("confstr failed"))))
    facts = probe_interpreter({}, sys_platform="linux", machine="x86_64", compute_tags=False, glibc_probes=probes)
    reason = {u.fact: u.reason for u in facts.unknown}.get("libc")
    if facts.libc.name == "musl":  # a musl machine still answers through packaging._musllinux
        return
    assert facts.libc.version is None and reason is not None
    assert "packaging._manylinux: ImportError" in reason and "os.confstr CS_GNU_LIBC_VERSION: OSError" in reason


def test_a_probe_saying_not_glibc_stops_the_search() -> None:
    asked: list[str] = []

    def later() -> str | None:
        asked.append("later")
        return "2.35"

    facts = probe_interpreter({}, sys_platform="linux", machine="x86_64", compute_tags=False,
                              glibc_probes=(("first", lambda: None), ("later", later)))
    assert asked == [] and facts.libc.name != "glibc"


def test_vendor_version_strings() -> None:
    from attnlock.detect.interpreter import _major_minor

    assert _major_minor("2.20-2014.11") == "2.20"
    assert _major_minor("2.36") == "2.36"
    with pytest.raises(ValueError):
        _major_minor("unknown")
