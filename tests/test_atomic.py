"""Atomic writes: old bytes or new bytes, the file's mode kept, nothing left behind on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from attnlock.atomic import write_bytes_atomic, write_text_atomic
from attnlock.errors import InputError


def test_new_file_gets_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "new.txt", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_existing_mode_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_bytes(b"a\r\nb")
    path.chmod(0o755)
    write_bytes_atomic(path, b"c\r\nd")
    assert path.read_bytes() == b"c\r\nd"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["f.toml"]  # no temporary file left


def test_read_only_file_is_reported_not_written(tmp_path: Path) -> None:
    path = tmp_path / "ro.txt"
    path.write_text("keep")
    path.chmod(0o444)
    with pytest.raises(InputError, match="read-only"):
        write_text_atomic(path, "new")
    assert path.read_text() == "keep"


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing was written") as info:
        write_text_atomic(tmp_path / "nope" / "f.txt", "x")
    assert info.value.path == str(tmp_path / "nope" / "f.txt")


def test_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("old")
    link = tmp_path / "pyproject.toml"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
