"""Hardening, files: no write target that is not a regular file is replaced, nothing blocks on a FIFO,
owners, hard links and concurrent edits are respected, multi-file writes are all or nothing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from attnlock.atomic import (
    STALE_TMP_SECONDS,
    identity,
    read_regular_bytes,
    write_bytes_atomic,
    write_many_atomic,
)
from attnlock.errors import InputError

HANG_GUARD_S = 60  # generous: a regression hangs; a pass takes well under a second


def _run_guarded(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child with a hang guard (the timeout fails the test instead of blocking it)."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, cwd=str(Path(__file__).resolve().parent.parent))


# ---------------------------------------------------------------- severe 1: devices and FIFOs

def test_character_device_is_written_through_not_replaced(tmp_path: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to("/dev/null")  # the only device a test can name; writing to it discards
    write_bytes_atomic(link, b"constraints\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_without_reader_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    res = _run_guarded(
        "import sys\nfrom attnlock.atomic import write_bytes_atomic\nfrom attnlock.errors import InputError\n"
        "try:\n    write_bytes_atomic(sys.argv[1], b'x')\nexcept InputError as e:\n    print(e.message)\n",
        str(fifo))
    assert "FIFO with no reader" in res.stdout
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_with_reader_gets_the_bytes(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for _ in range(200):  # the reader must have opened its end before a non-blocking writer opens
        try:
            write_bytes_atomic(fifo, b"hello\n")
            break
        except InputError:
            time.sleep(0.01)
    t.join(timeout=HANG_GUARD_S)
    assert got == [b"hello\n"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_directory_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="directory"):
        write_bytes_atomic(tmp_path / "d", b"x")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_reading_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code = ("import sys\nfrom attnlock.atomic import read_regular_bytes\nfrom attnlock.errors import InputError\n"
            "for p in sys.argv[1:]:\n    try:\n        read_regular_bytes(p, limit=1000)\n"
            "    except InputError as e:\n        print(e.message)\n")
    res = _run_guarded(code, str(fifo), "/dev/zero")
    assert res.stdout.count("not a regular file") == 2, res


def test_read_regular_bytes_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(InputError, match="at most"):
        read_regular_bytes(big, limit=1000)
    assert read_regular_bytes(big, limit=4000) == b"x" * 2000


# ---------------------------------------------------------------- --fix and friends

def test_change_between_read_and_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.3.0\n")
    seen = identity(path)
    with open(path, "a") as fh:  # another process appends while attnlock works
        fh.write("numpy==1.26.4\n")
    with pytest.raises(InputError, match="changed while attnlock"):
        write_bytes_atomic(path, b"torch==2.3.1\n", expect=seen)
    assert path.read_text() == "torch==2.3.0\nnumpy==1.26.4\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requirements.txt"]


def test_fix_refuses_a_file_changed_since_it_was_read(tmp_path: Path) -> None:
    from attnlock.check.checker import read
    from attnlock.check.findings import Edit, Finding
    from attnlock.check.fix import fix_files

    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.3.0\nxformers==0.0.27\n")
    docs = read([str(path)])[0]
    with open(path, "a") as fh:
        fh.write("numpy==1.26.4\n")
    edit = Edit(str(path), 0, len("torch==2.3.0"), "torch==2.3.1")
    with pytest.raises(InputError, match="changed while attnlock"):
        fix_files([Finding("AL101", str(path), 1, 1, "m", edit=edit)], docs)
    assert path.read_text().endswith("numpy==1.26.4\n")


def test_hard_link_is_not_split(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old\n")
    os.link(path, tmp_path / "b.txt")
    with pytest.raises(InputError, match="hard links"):
        write_bytes_atomic(path, b"new\n")
    assert (tmp_path / "b.txt").read_text() == "old\n" and os.stat(path).st_nlink == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_owner_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "theirs.txt"
    path.write_text("old\n")
    os.chown(path, 12345, 12345)
    write_bytes_atomic(path, b"new\n")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (12345, 12345) and path.read_bytes() == b"new\n"


def test_stale_temporary_files_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("x = 1\n")
    stale = tmp_path / ".pyproject.toml.abc123.attnlock-tmp"
    fresh = tmp_path / ".pyproject.toml.def456.attnlock-tmp"  # maybe a concurrent run's: kept
    stale.write_text("half")
    fresh.write_text("half")
    old = time.time() - STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    write_bytes_atomic(path, b"x = 2\n")
    assert not stale.exists() and fresh.exists()


def test_read_only_hint_does_not_mention_dash_o(tmp_path: Path) -> None:
    path = tmp_path / "ro.txt"
    path.write_text("keep")
    path.chmod(0o444)
    with pytest.raises(InputError) as info:
        write_bytes_atomic(path, b"x")
    assert "with -o" not in (info.value.hint or "")


def test_write_many_is_all_or_nothing(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text("old a")
    second.write_text("old b")
    second.chmod(0o444)  # the second package's file cannot be written
    with pytest.raises(InputError, match="nothing was written"):
        write_many_atomic([(first, b"new a"), (second, b"new b"), (tmp_path / "c.json", b"new c")])
    assert first.read_text() == "old a" and second.read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
    second.chmod(0o644)
    write_many_atomic([(first, b"new a"), (second, b"new b")])
    assert first.read_text() == "new a" and second.read_text() == "new b"


# ---------------------------------------------------------------- activate / deactivate

def _env(prefix: Path) -> object:
    from attnlock.install.environment import PythonEnvironment

    return PythonEnvironment(executable=sys.executable, prefix=prefix, is_venv=True, site_packages=prefix,
                             externally_managed=False)


def test_activate_with_a_space_in_the_path_writes_one_pip_value(tmp_path: Path) -> None:
    from attnlock.install import guard

    prefix = tmp_path / "my venv"
    prefix.mkdir()
    env = _env(prefix)
    guard.activate(env, "torch==2.3.0\n")  # type: ignore[arg-type]
    line = next(ln for ln in (prefix / "pip.conf").read_text().splitlines() if ln.startswith("constraint ="))
    value = line.split("=", 1)[1].split()
    assert len(value) == 1 and value[0].startswith("file://") and "%20" in value[0]
    assert guard.deactivate(env)  # type: ignore[arg-type]
    assert not (prefix / "pip.conf").exists()


def test_constraint_key_in_any_case_is_an_existing_constraint(tmp_path: Path) -> None:
    from attnlock.install import guard

    env = _env(tmp_path)
    (tmp_path / "pip.conf").write_text("[install]\nConstraint = /etc/mine.txt\n")
    with pytest.raises(InputError, match="already sets an install constraint"):
        guard.activate(env, "torch==2.3.0\n")  # type: ignore[arg-type]


def test_read_only_pip_conf_leaves_nothing_behind(tmp_path: Path) -> None:
    from attnlock.install import guard

    env = _env(tmp_path)
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ntimeout = 3\n")
    conf.chmod(0o444)
    with pytest.raises(InputError, match="nothing was written"):
        guard.activate(env, "torch==2.3.0\n")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pip.conf"]
    assert conf.read_text() == "[global]\ntimeout = 3\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_pip_conf_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pip.conf")
    code = ("import sys\nfrom pathlib import Path\nfrom attnlock.install import guard\n"
            "from attnlock.install.environment import PythonEnvironment\nfrom attnlock.errors import InputError\n"
            "p = Path(sys.argv[1])\n"
            "env = PythonEnvironment(executable=sys.executable, prefix=p, is_venv=True, site_packages=p, "
            "externally_managed=False)\n"
            "print(guard.status(env).active)\n"
            "for f in (lambda: guard.activate(env, 'torch==2.3.0\\n'), lambda: guard.deactivate(env)):\n"
            "    try:\n        f()\n    except InputError as e:\n        print(e.message)\n")
    res = _run_guarded(code, str(tmp_path))
    assert res.stdout.splitlines()[0] == "False"
    assert res.stdout.count("not a regular file") == 2, res


def test_powershell_line_quotes_a_quote() -> None:
    from attnlock.commands.activate import _uv_line

    assert _uv_line("powershell", "C:\\it's\\c.txt") == "$env:UV_CONSTRAINT = 'C:\\it''s\\c.txt'"


# ---------------------------------------------------------------- detect: PATH folders we may not enter

def test_which_skips_unusable_path_entries(tmp_path: Path) -> None:
    from attnlock.detect.ports import Ports

    locked = tmp_path / "locked"
    locked.mkdir()
    good = tmp_path / "bin"
    good.mkdir()
    tool = good / "nvidia-smi"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    locked.chmod(0)
    try:
        ports = Ports(environ={"PATH": os.pathsep.join([str(locked), "bad\0dir", str(good)])})
        assert ports.which("nvidia-smi") == str(tool)
    finally:
        locked.chmod(0o755)


def test_dash_is_standard_output(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-c", "from attnlock.atomic import write_text_atomic\n"
                          "write_text_atomic('-', 'torch==2.3.1\\n')"], capture_output=True, text=True,
                         timeout=HANG_GUARD_S, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert res.stdout == "torch==2.3.1\n" and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_detect_does_not_block_on_a_fifo_pip_conf(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pip.conf")
    res = _run_guarded("import sys\nfrom pathlib import Path\nfrom attnlock.detect.installguard import probe_guard\n"
                       "facts, unknown = probe_guard(Path(sys.argv[1]), {})\nprint(facts.active, unknown[0].reason)",
                       str(tmp_path))
    assert res.stdout.startswith("False") and "not a regular file" in res.stdout, res
