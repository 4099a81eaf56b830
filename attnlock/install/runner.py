"""Run an installer (pip or uv) as a subprocess: output streamed through, its tail kept for diagnosis."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from attnlock.errors import ToolError


@dataclass(frozen=True)
class RunResult:
    """What an installer run left: exit code, the last lines it printed, and how long it took."""

    argv: tuple[str, ...]
    returncode: int
    tail: str
    seconds: float
    stdout: str = ""


def run_installer(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
    echo: IO[str] | None = None,
    capture_stdout: bool = False,
    tail_lines: int = 400,
) -> RunResult:
    """Run ``argv``; stream its output to ``echo`` (stderr by default), as it comes, and keep the tail.

    With ``capture_stdout`` the child's stdout is returned whole instead of streamed (for
    ``pip --report -``).  A hung installer is killed at ``timeout`` and reported as such;
    Ctrl-C kills it too and re-raises, so the caller can say what state was left.
    """
    out = echo if echo is not None else sys.stderr
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv), env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} not found", hint="install it, or choose the other installer (--pip / --uv)") from None
    except OSError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror}") from None
    captured: list[str] = []

    def pump(stream: IO[str], keep: bool) -> None:
        for line in stream:
            if keep:
                captured.append(line)
                continue
            tail.append(line)
            out.write(line)
            out.flush()

    assert proc.stdout is not None and proc.stderr is not None
    threads = [threading.Thread(target=pump, args=(proc.stdout, capture_stdout), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, False), daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        for t in threads:
            t.join(timeout=5)
        _close(proc)
        raise ToolError(
            f"{argv[0]} did not finish within {timeout:.0f} s and was stopped; the environment may be half-installed",
            hint="run `attnlock detect` to see what is installed now, then rerun the install",
        ) from None
    except KeyboardInterrupt:
        proc.kill()
        proc.wait()
        for t in threads:
            t.join(timeout=5)
        _close(proc)
        raise
    for t in threads:
        t.join(timeout=5)
    _close(proc)
    return RunResult(tuple(argv), proc.returncode, "".join(tail), time.monotonic() - start, "".join(captured))


def _close(proc: subprocess.Popen[str]) -> None:
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
