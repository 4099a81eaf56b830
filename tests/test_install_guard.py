"""The install guard (`attnlock activate` / `deactivate`): pip.conf edits, and the real pip obeying it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnlock.errors import InputError
from attnlock.install import guard
from attnlock.install.environment import PythonEnvironment
from tests.support.index import write_simple_index
from tests.support.wheels import build_wheel

PIP_CONFS = {
    "absent": None,
    "plain": b"[global]\nindex-url = http://127.0.0.1:1/simple\n",
    "no-final-newline": b"[global]\ntimeout = 3",
    "crlf": b"[global]\r\ntimeout = 3\r\n",
    "install-section": b"# mine\n[install]\nno-cache-dir = true\n\n[global]\nx = 1\n",
    "install-section-no-newline": b"[install]",
    "comments-and-blank": b"\n\n# only a comment\n",
}


def _env(prefix: Path, executable: str = sys.executable) -> PythonEnvironment:
    return PythonEnvironment(executable=executable, prefix=prefix, is_venv=True, site_packages=prefix,
                             externally_managed=False)


@pytest.mark.parametrize("case", list(PIP_CONFS))
def test_activate_then_deactivate_restores_pip_conf_byte_for_byte(tmp_path: Path, case: str) -> None:
    env = _env(tmp_path)
    before = PIP_CONFS[case]
    if before is not None:
        env.pip_config.write_bytes(before)
    st = guard.activate(env, "torch==2.3.0\n", inherited=["/etc/xdg/pip/constraints.txt"])
    assert st.active and st.constraints is not None
    text = env.pip_config.read_text()
    assert f"constraint = {st.constraints} /etc/xdg/pip/constraints.txt" in text
    assert text.count("[install]") == 1  # a second section would break pip's parser
    if before is not None:  # every original line is still there
        for line in before.decode().splitlines():
            assert line in text.splitlines()
    guard.activate(env, "torch==2.3.1\n")  # re-activating replaces, never stacks
    assert env.pip_config.read_text().count(guard.BEGIN) == 1
    assert (env.attnlock_dir / "constraints.txt").read_text() == "torch==2.3.1\n"
    assert guard.deactivate(env)
    after = env.pip_config.read_bytes() if env.pip_config.exists() else None
    assert after == before
    assert not env.attnlock_dir.exists()
    assert not guard.status(env).active
    assert not guard.deactivate(env)  # nothing left to remove


def test_existing_install_constraint_is_not_overridden(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.pip_config.write_bytes(b"[install]\nconstraint = /mine.txt\n")
    with pytest.raises(InputError) as info:
        guard.activate(env, "torch==2.3.0\n")
    assert info.value.line == 2 and info.value.path == str(env.pip_config)
    assert env.pip_config.read_bytes() == b"[install]\nconstraint = /mine.txt\n"
    assert not (env.attnlock_dir / "constraints.txt").exists()


def test_non_utf8_pip_conf_is_left_alone(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.pip_config.write_bytes(b"[global]\n\xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        guard.activate(env, "torch==2.3.0\n")
    assert env.pip_config.read_bytes() == b"[global]\n\xff\xfe\n"


def _pip_env(tmp_path: Path) -> dict[str, str]:
    """pip as a user's environment has it, minus this machine's configuration.

    PIP_CONFIG_FILE points at an empty file (pip then skips the user file) and XDG_CONFIG_DIRS
    at an empty folder (pip's global file); the environment's own site file — the guard — is
    read, as it would be on any machine.
    """
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    (tmp_path / "xdg").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_")) and k != "VIRTUAL_ENV"}
    env.update(PIP_CONFIG_FILE=str(empty), XDG_CONFIG_DIRS=str(tmp_path / "xdg"),
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    return env


@pytest.mark.slow
def test_plain_pip_install_obeys_the_guard(tmp_path: Path) -> None:
    """With the guard, a plain `pip install xformers` keeps torch; without it pip replaces torch."""
    wheels = tmp_path / "wheels"
    files = [
        build_wheel(wheels, "torch", "2.3.0"),
        build_wheel(wheels, "torch", "2.3.1"),
        build_wheel(wheels, "xformers", "0.0.26.post1", requires_dist=["torch==2.3.0"]),
        build_wheel(wheels, "xformers", "0.0.27", requires_dist=["torch==2.3.1"]),
    ]
    index = write_simple_index(tmp_path / "index", files)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = _pip_env(tmp_path)
    pip = [py, "-m", "pip", "install", "-q", "--no-cache-dir", "--index-url", index.as_uri()]
    subprocess.run(pip + ["torch==2.3.0"], check=True, env=env, timeout=300)

    def installed() -> dict[str, str]:
        out = subprocess.run([py, "-m", "pip", "list", "--format", "json"], env=env, capture_output=True,
                             text=True, check=True, timeout=120).stdout
        return {d["name"]: d["version"] for d in json.loads(out)}

    # The environment's own prefix, as PythonEnvironment.current() gives it inside the venv.
    target = PythonEnvironment(executable=py, prefix=venv, is_venv=True, site_packages=venv, externally_managed=False)
    guard.activate(target, "torch==2.3.0\nxformers==0.0.26.post1\n")
    subprocess.run(pip + ["xformers"], check=True, env=env, timeout=300)
    assert installed()["torch"] == "2.3.0"
    assert installed()["xformers"] == "0.0.26.post1"
    # A request that would move torch now fails instead of silently replacing it.
    res = subprocess.run(pip + ["xformers==0.0.27"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert installed()["torch"] == "2.3.0"

    guard.deactivate(target)
    assert not target.pip_config.exists()
    subprocess.run(pip + ["--upgrade", "xformers"], check=True, env=env, timeout=300)
    assert installed()["xformers"] == "0.0.27"
    assert installed()["torch"] == "2.3.1"  # unguarded, pip replaced the user's torch
