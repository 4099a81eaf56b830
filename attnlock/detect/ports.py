"""The outside world detection reads: a filesystem root, environment variables, a command runner.

Detection never touches ``/``, ``os.environ``, ``sys.prefix`` or ``subprocess`` directly; it asks
a :class:`Ports` object.  Production uses :func:`Ports.system`; tests build one
over a temporary directory, a dict and a runner that replays captured outputs
(or a real script that hangs), so no internal needs patching.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

#: Seconds any one external command (nvidia-smi, the NVML child) may take.
DEFAULT_TIMEOUT = 3.0


class CommandResult(NamedTuple):
    """What a finished (or failed) command left: exit status, output, or why it never ran."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # "not found", "timed out after 3 s", … ; None when it ran

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0


#: ``runner(argv, timeout) -> CommandResult``; must never raise and never outlive ``timeout``.
CommandRunner = Callable[[Sequence[str], float], CommandResult]


def subprocess_runner(argv: Sequence[str], timeout: float) -> CommandResult:
    """Run ``argv`` (no shell) with a hard timeout; every failure becomes a :class:`CommandResult`."""
    import subprocess  # only machines with an NVIDIA driver get here

    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return CommandResult(None, error=f"{argv[0]}: not found")
    except PermissionError as exc:
        return CommandResult(None, error=f"{argv[0]}: {exc.strerror or 'permission denied'}")
    except subprocess.TimeoutExpired:
        return CommandResult(None, error=f"{Path(argv[0]).name} timed out after {timeout:g} s")
    except OSError as exc:
        return CommandResult(None, error=f"{argv[0]}: {exc.strerror or exc}")
    return CommandResult(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


class Ports(NamedTuple):
    """Everything detection may look at.

    ``root`` prefixes every absolute system path read (``/proc/driver/nvidia/version``
    becomes ``root/proc/driver/nvidia/version``); ``sys_path`` is where installed
    distributions are searched; :meth:`which` finds executables on ``environ['PATH']``.
    """

    root: Path = Path("/")
    environ: Mapping[str, str] = MappingProxyType({})
    run: CommandRunner = subprocess_runner
    sys_path: Sequence[str] = ()
    executable: str = sys.executable
    timeout: float = DEFAULT_TIMEOUT
    #: whether to consult data/ for facts the machine does not tell (GPU name → capability)
    use_database: bool = True
    #: the Python environment's prefix (``sys.prefix``) whose install guard is reported; None: not asked
    prefix: Path | None = None

    @classmethod
    def system(cls) -> Ports:
        """The running machine: ``/``, ``os.environ``, real subprocesses, this interpreter's sys.path."""
        # "" on sys.path is the working directory (python -m, -c): imports look there first.
        path = tuple(entry or os.getcwd() for entry in sys.path)
        return cls(Path("/"), dict(os.environ), subprocess_runner, path, sys.executable, prefix=Path(sys.prefix))

    def path(self, absolute: str) -> Path:
        """A system path (``/proc/...``) under :attr:`root`."""
        return self.root / absolute.lstrip("/")

    def read_text(self, absolute: str, *, limit: int = 1 << 20) -> str:
        """Read a system file as text; raises OSError (missing, unreadable) for the caller to report."""
        with open(self.path(absolute), "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")

    def which(self, name: str) -> str | None:
        """The executable ``name`` on this environ's ``PATH`` (real paths, not under :attr:`root`)."""
        suffixes = (".exe", "") if os.name == "nt" else ("",)
        for entry in self.environ.get("PATH", "").split(os.pathsep):
            for suffix in suffixes:
                candidate = Path(entry) / (name + suffix) if entry else None
                if candidate is not None and _executable_file(candidate):
                    return str(candidate)
        return None


def _executable_file(path: Path) -> bool:
    """Whether ``path`` is an executable regular file; a PATH folder we may not enter is skipped, not fatal."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode) and os.access(path, os.X_OK)
    except (OSError, ValueError):  # PermissionError on an untraversable folder, ELOOP, NUL in PATH
        return False
