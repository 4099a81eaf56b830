"""Run probe children in parallel with a per-check timeout and turn their streams, crashes and hangs into results.

Each child streams ``@@attnlock {json}`` lines (see
:mod:`attnlock.verify.probes._common`).  The runner reads them as they come,
passes each finished check to a progress callback, and keeps the last lines
of the child's standard error.  A child that exits by a signal (a segfault,
an abort), exits early, or sends nothing for ``timeout`` seconds (it is then
killed with its whole process group) yields failed results for the check it
was running and for every promised check it never reached, each with the
stderr tail, so one broken kernel never ends verify.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARK = "@@attnlock "
STDERR_TAIL_LINES = 40
STDERR_TAIL_CHARS = 4000


@dataclass(frozen=True)
class Job:
    """One child to run: its argv (interpreter included), environment, the checks it promises, a device label."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    checks: tuple[tuple[str, str], ...]
    device: str
    extra: Mapping[str, Any] = field(default_factory=dict)


Result = dict[str, Any]
Progress = Callable[[str, Result], None]


def package_root() -> str:
    """The directory holding the ``attnlock`` package, so children import the same copy as the parent."""
    return str(Path(__file__).resolve().parent.parent.parent)


def child_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ``base`` plus ``extra``, unbuffered, with this attnlock first on PYTHONPATH."""
    env = dict(base)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    root = package_root()
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root if not old else root + os.pathsep + old
    return env


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


class _Tail:
    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    def add(self, line: str) -> None:
        self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)[-STDERR_TAIL_CHARS:]


def _pump(stream: Any, sink: Callable[[str], None]) -> None:
    for raw in iter(stream.readline, b""):
        sink(raw.decode("utf-8", "replace"))
    stream.close()


def run_job(job: Job, *, timeout: float, progress: Progress | None = None) -> list[Result]:
    """Run one child to completion (or its death) and return one result per promised check, in promise order."""
    t0 = time.perf_counter()
    events: queue.Queue[Result | None] = queue.Queue()
    tail = _Tail()

    def on_stdout(line: str) -> None:
        if line.startswith(MARK):
            try:
                events.put(json.loads(line[len(MARK):]))
                return
            except json.JSONDecodeError:
                pass
        tail.add(line)  # stray output that reached the stream fd: keep it as diagnostics

    try:
        proc = subprocess.Popen(
            list(job.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(job.env), start_new_session=True,
        )
    except OSError as exc:
        return [_missing(job, pkg, chk, f"could not start the probe child: {exc}", "") for pkg, chk in job.checks]

    def read_stdout() -> None:
        _pump(proc.stdout, on_stdout)
        events.put(None)  # end of stream

    out_thread = threading.Thread(target=read_stdout, daemon=True)
    err_thread = threading.Thread(target=_pump, args=(proc.stderr, tail.add), daemon=True)
    out_thread.start()
    err_thread.start()

    results: dict[tuple[str, str], Result] = {}
    extra: list[Result] = []
    current: tuple[str, str] | None = None
    timed_out = False
    deadline = time.monotonic() + timeout
    while True:
        try:
            # clamped: Queue.get raises OverflowError past threading.TIMEOUT_MAX
            ev = events.get(timeout=min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX / 2))
        except queue.Empty:
            timed_out = True
            _kill(proc)
            break
        if ev is None:
            break
        deadline = time.monotonic() + timeout
        key = (str(ev.get("package")), str(ev.get("check")))
        if ev.get("event") == "start":
            current = key
        elif ev.get("event") == "heartbeat":
            continue  # alive, nothing to report (the deadline was reset above)
        elif ev.get("event") == "result":
            current = None
            res = _clean(ev, job)
            if key in results or key not in job.checks:
                extra.append(res)
            else:
                results[key] = res
            if progress is not None:
                progress(job.name, res)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        _kill(proc)
        rc = proc.wait()
    err_thread.join(timeout=5)
    stderr_tail = tail.text()

    if timed_out:
        how = f"timed out: no result for {timeout:g} s (the probe child was killed)"
    elif rc < 0:
        how = f"the probe child died of {_signal_name(rc)}"
    elif rc != 0:
        how = f"the probe child exited with status {rc}"
    else:
        how = "the probe child exited without reporting it"
    out: list[Result] = []
    for pkg, chk in job.checks:
        if (pkg, chk) in results:
            res = results[(pkg, chk)]
            if res["status"] == "fail" and stderr_tail:
                res["stderr_tail"] = stderr_tail
            out.append(res)
            continue
        if current == (pkg, chk):
            msg = f"{how} during this check"
        elif current is not None:
            msg = f"not run: {how} during {current[0]}/{current[1]}"
        else:
            msg = f"not run: {how}"
        res = _missing(job, pkg, chk, msg, stderr_tail)
        out.append(res)
        if progress is not None:
            progress(job.name, res)
    for res in out + extra:
        res.setdefault("group_seconds", round(time.perf_counter() - t0, 3))
    return out + extra


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _clean(ev: Result, job: Job) -> Result:
    res = {k: v for k, v in ev.items() if k != "event"}
    if res.get("device") != "cpu":  # the child says "cpu" when it sees no GPU; else the runner's label
        res["device"] = job.device
    res.update(job.extra)
    for key in ("ms", "tflops", "max_abs_err", "error", "diagnosis"):
        res.setdefault(key, None)
    return res


def _missing(job: Job, pkg: str, chk: str, msg: str, stderr_tail: str) -> Result:
    error = msg
    if stderr_tail:
        error += "\n" + stderr_tail
    res: Result = {"package": pkg, "check": chk, "device": job.device, "status": "fail", "ms": None,
                   "tflops": None, "max_abs_err": None, "error": error, "diagnosis": None,
                   "stderr_tail": stderr_tail}
    res.update(job.extra)
    return res


def run_jobs(jobs: Sequence[Job], *, timeout: float, parallel: int, progress: Progress | None = None) -> list[Result]:
    """Run ``jobs`` at most ``parallel`` at a time; results come back in job order."""
    lock = threading.Lock()

    def safe_progress(name: str, res: Result) -> None:
        if progress is not None:
            with lock:
                progress(name, res)

    slots = threading.BoundedSemaphore(max(1, parallel))
    outcome: list[list[Result]] = [[] for _ in jobs]

    def worker(i: int, job: Job) -> None:
        with slots:
            try:
                outcome[i] = run_job(job, timeout=timeout, progress=safe_progress)
            except Exception as exc:  # noqa: BLE001 - a probe that could not run is a failure, never a skip
                why = f"the probe could not run: {type(exc).__name__}: {exc}"
                outcome[i] = [_missing(job, pkg, chk, why, "") for pkg, chk in job.checks]
                for res in outcome[i]:
                    safe_progress(job.name, res)

    threads = [threading.Thread(target=worker, args=(i, j), daemon=True) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, job in enumerate(jobs):
        if not outcome[i] and job.checks:  # the worker died before recording anything
            outcome[i] = [_missing(job, pkg, chk, "the probe could not run", "") for pkg, chk in job.checks]
    return [r for rs in outcome for r in rs]


def python_argv(args: Sequence[str]) -> tuple[str, ...]:
    """``args`` run by this interpreter."""
    return (sys.executable, *args)
