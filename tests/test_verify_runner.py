"""The probe runner survives what it verifies: a probe that raises, aborts, segfaults or hangs is a failed check.

Each case runs a real child process (a probe file written under tmp_path that
uses the real child-side plumbing, ``attnlock.verify.probes._common``) and
checks the results the runner made of it, including the stderr tail.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from attnlock.verify import plan, runner, verifier

PROBE_HEAD = """
import os, sys, time
from attnlock.verify.probes import _common as c
rec = c.Recorder("fake")
print("noise on stdout must not break the stream")
rec.run("first", lambda: {"ms": 1.5, "tflops": 2.0})
"""


def _job(tmp_path: Path, body: str, checks: tuple[str, ...]) -> runner.Job:
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(PROBE_HEAD) + textwrap.dedent(body))
    env = runner.child_env({"PATH": "/usr/bin:/bin"}, {})
    return runner.Job(name="fake", argv=(sys.executable, str(probe)), env=env,
                      checks=tuple(("fake", c) for c in checks), device="cuda:0")


def _by_check(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in results}


def test_raising_check_is_failed_and_the_child_goes_on(tmp_path: Path) -> None:
    body = """
    def bad():
        raise ValueError("kernel said no")
    rec.run("second", bad)
    rec.run("third", lambda: None)
    c.finish()
    """
    res = _by_check(runner.run_job(_job(tmp_path, body, ("first", "second", "third")), timeout=60))
    assert res["first"]["status"] == "pass" and res["first"]["tflops"] == 2.0
    assert res["second"]["status"] == "fail"
    assert res["second"]["error"].startswith("ValueError: kernel said no")
    assert "Traceback" in res["second"]["traceback"]
    assert res["third"]["status"] == "pass"
    # what the child printed on stdout went to the stderr tail, not into the stream
    assert "noise on stdout" in res["second"]["stderr_tail"]


@pytest.mark.parametrize(
    ("crash", "signal_name"),
    [
        ("os.abort()", "SIGABRT"),
        ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
    ],
    ids=["abort", "segfault"],
)
def test_crashing_check_is_failed_with_signal_and_stderr_tail(tmp_path: Path, crash: str, signal_name: str) -> None:
    body = f"""
    def boom():
        sys.stderr.write("CUDA error: an illegal memory access was encountered\\n")
        sys.stderr.flush()
        {crash}
    rec.run("second", boom)
    rec.run("third", lambda: None)
    c.finish()
    """
    res = _by_check(runner.run_job(_job(tmp_path, body, ("first", "second", "third")), timeout=60))
    assert res["first"]["status"] == "pass"
    second, third = res["second"], res["third"]
    assert second["status"] == "fail" and third["status"] == "fail"
    assert f"died of {signal_name} during this check" in second["error"]
    assert "illegal memory access" in second["stderr_tail"]
    assert "illegal memory access" in second["error"]  # the tail is part of the error text diagnosis reads
    assert third["error"].startswith(f"not run: the probe child died of {signal_name} during fake/second")


def test_hanging_check_is_killed_at_the_timeout(tmp_path: Path) -> None:
    body = """
    def hang():
        sys.stderr.write("waiting for a kernel that never returns\\n"); sys.stderr.flush()
        time.sleep(600)
    rec.run("second", hang)
    rec.run("third", lambda: None)
    c.finish()
    """
    t0 = time.monotonic()
    res = _by_check(runner.run_job(_job(tmp_path, body, ("first", "second", "third")), timeout=3))
    assert time.monotonic() - t0 < 30
    assert res["first"]["status"] == "pass"
    assert res["second"]["status"] == "fail"
    assert "timed out: no result for 3 s" in res["second"]["error"]
    assert "waiting for a kernel" in res["second"]["stderr_tail"]
    assert res["third"]["error"].startswith("not run: timed out")


def test_child_that_exits_early_marks_the_missing_checks(tmp_path: Path) -> None:
    body = """
    sys.stderr.write("ImportError: libcudart.so.12: cannot open shared object file\\n")
    sys.exit(3)
    """
    res = _by_check(runner.run_job(_job(tmp_path, body, ("first", "second")), timeout=60))
    assert res["first"]["status"] == "pass"
    assert res["second"]["error"].startswith("not run: the probe child exited with status 3")
    assert "libcudart.so.12" in res["second"]["error"]


def test_parallel_jobs_keep_job_order_and_report_progress(tmp_path: Path) -> None:
    jobs = []
    for i in range(3):
        d = tmp_path / f"j{i}"
        d.mkdir()
        jobs.append(_job(d, f"rec.run('n{i}', lambda: None)\nc.finish()\n", ("first", f"n{i}")))
    seen: list[str] = []
    results = runner.run_jobs(jobs, timeout=60, parallel=3, progress=lambda g, r: seen.append(r["check"]))
    assert [r["check"] for r in results] == ["first", "n0", "first", "n1", "first", "n2"]
    assert sorted(seen) == sorted(r["check"] for r in results)


def test_run_verify_end_to_end_with_a_failing_group_and_a_diagnoser(tmp_path: Path) -> None:
    """verifier.run_verify over custom groups: not-installed skips, failures diagnosed, JSON shape of CLI.md."""
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(PROBE_HEAD) + "rec.run('second', lambda: 1/0)\nc.finish()\n")
    groups = (
        plan.Group("fake", (str(probe),), ("fakepkg",), (("fake", "first"), ("fake", "second"))),
        plan.Group("absent", (str(probe),), ("absentpkg",), (("absent", "import"),)),
    )
    seen_texts: list[str] = []

    def diagnoser(text: str) -> dict[str, Any] | None:
        seen_texts.append(text)
        return {"id": "division", "fix": "divide by something else"} if "ZeroDivisionError" in text else None

    report = verifier.run_verify(groups=groups, installed=lambda n: "1.0" if n == "fakepkg" else None,
                                 diagnoser=diagnoser, timeout=60, environment={"python": {"version": "x"}})
    doc = report.to_json()
    rows = {(c["package"], c["check"]): c for c in doc["checks"]}
    assert rows[("fake", "first")]["status"] == "pass"
    failed = rows[("fake", "second")]
    assert failed["status"] == "fail" and failed["diagnosis"] == {"id": "division", "fix": "divide by something else"}
    assert rows[("absent", "import")]["status"] == "skip"
    assert "not installed" in rows[("absent", "import")]["reason"]
    for c in doc["checks"]:
        assert {"package", "check", "device", "status", "ms", "tflops", "max_abs_err", "error", "diagnosis"} <= set(c)
    assert doc["summary"] == {"pass": 1, "fail": 1, "skip": 1}
    assert doc["environment"] == {"python": {"version": "x"}}
    assert len(seen_texts) == 1
