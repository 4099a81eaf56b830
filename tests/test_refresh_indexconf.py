"""Where refresh finds its index: flag, ATTNLOCK_INDEX_URL, pip's configuration, uv's; else a usage error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attnlock.errors import InputError, UsageError
from attnlock.refresh.indexconf import find_index

A, B, C, D = (f"http://127.0.0.1:{p}/simple/" for p in (9001, 9002, 9003, 9004))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose configuration lookups all land under tmp_path (nothing of this machine)."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_CONFIG_DIRS": str(tmp_path / "etc-xdg"), **extra}


def _find(tmp_path: Path, cli: str | None = None, **env: str) -> tuple[str, str]:
    choice = find_index(cli, _env(tmp_path, **env), home=tmp_path / "home", prefix=tmp_path / "venv",
                         etc=tmp_path / "etc")
    return choice.url, choice.origin


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_flag_then_env_then_pip_then_uv(tmp_path: Path) -> None:
    _write(tmp_path / "xdg" / "pip" / "pip.conf", f"[global]\nindex-url = {C}\n")
    _write(tmp_path / "xdg" / "uv" / "uv.toml", f'[[index]]\nurl = "{D}"\ndefault = true\n')
    assert _find(tmp_path, A, ATTNLOCK_INDEX_URL=B) == (A, "--index-url")
    assert _find(tmp_path, ATTNLOCK_INDEX_URL=B, PIP_INDEX_URL=C) == (B, "ATTNLOCK_INDEX_URL")
    assert _find(tmp_path, PIP_INDEX_URL=A, UV_INDEX_URL=B) == (A, "PIP_INDEX_URL")
    url, origin = _find(tmp_path, UV_INDEX_URL=B)
    assert url == C and origin.startswith("pip configuration") and origin.endswith("pip.conf")
    (tmp_path / "xdg" / "pip" / "pip.conf").unlink()
    assert _find(tmp_path, UV_DEFAULT_INDEX=B) == (B, "UV_DEFAULT_INDEX")
    url, origin = _find(tmp_path)
    assert url == D and origin.startswith("uv configuration")


def test_pip_files_install_section_and_file_priority(tmp_path: Path) -> None:
    _write(tmp_path / "etc-xdg" / "pip" / "pip.conf", f"[global]\nindex-url = {A}\nconstraint = /x\n")
    assert _find(tmp_path)[0] == A  # global (XDG)
    _write(tmp_path / "etc" / "pip.conf", f"[global]\nindex-url = {D}\n")
    assert _find(tmp_path)[0] == D  # pip loads /etc/pip.conf after the XDG one: it wins
    (tmp_path / "etc" / "pip.conf").unlink()
    _write(tmp_path / "home" / ".pip" / "pip.conf", f"[global]\nindex-url = {B}\n")
    assert _find(tmp_path)[0] == B  # user beats global
    _write(tmp_path / "venv" / "pip.conf", f"[global]\nindex-url = {C}\n[install]\nindex-url = {D}\n")
    assert _find(tmp_path)[0] == D  # site beats user; [install] beats [global]
    cfg = _write(tmp_path / "explicit.conf", f"[global]\nindex-url = {A}\n")
    assert _find(tmp_path, PIP_CONFIG_FILE=str(cfg))[0] == A
    # PIP_CONFIG_FILE=os.devnull: pip loads no file at all, and neither do we.
    with pytest.raises(UsageError, match="no package index configured") as err:
        _find(tmp_path, PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1")
    assert err.value.hint is not None and "--index-url" in err.value.hint


def test_uv_file_forms(tmp_path: Path) -> None:
    uv = tmp_path / "xdg" / "uv" / "uv.toml"
    _write(uv, f'index-url = "{A}"\n')
    assert _find(tmp_path)[0] == A
    _write(uv, f'[pip]\nindex-url = "{B}"\n')
    assert _find(tmp_path)[0] == B
    _write(uv, f'[[index]]\nname = "x"\nurl = "{C}"\n')  # not the default index
    with pytest.raises(UsageError):
        _find(tmp_path)
    explicit = _write(tmp_path / "u.toml", f'[[index]]\nurl = "{D}"\ndefault = true\n')
    assert _find(tmp_path, UV_CONFIG_FILE=str(explicit))[0] == D
    with pytest.raises(UsageError):
        _find(tmp_path, UV_CONFIG_FILE=str(explicit), UV_NO_CONFIG="1")


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "xdg" / "uv" / "uv.toml", "index-url = [\n")
    with pytest.raises(InputError) as err:
        _find(tmp_path)
    assert err.value.path is not None and err.value.path.endswith("uv.toml")
    with pytest.raises(UsageError, match="not an http"):
        _find(tmp_path, "ftp://example.invalid/simple")
