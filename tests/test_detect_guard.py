"""``attnlock detect`` reports the install guard: real ``activate``/``deactivate`` in a temporary prefix, read through ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from attnlock.commands.detect import render_text
from attnlock.detect import Ports, detect, installguard
from attnlock.detect.report import Environment
from attnlock.install import guard
from attnlock.install.environment import PythonEnvironment

REPO = Path(__file__).resolve().parent.parent


def _env(prefix: Path) -> PythonEnvironment:
    """A PythonEnvironment for a temporary prefix (as tests/test_install_guard.py builds it)."""
    return PythonEnvironment(executable=sys.executable, prefix=prefix, is_venv=True, site_packages=prefix,
                             externally_managed=False)


def _detect(tmp_path: Path, prefix: Path | None, environ: dict[str, str] | None = None) -> Environment:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    ports = Ports(root=root, environ={"PATH": "", **(environ or {})}, sys_path=(), use_database=False,
                  prefix=prefix)
    return detect(ports, sys_platform="linux", machine="x86_64")


def _guard_line(env: Environment) -> str:
    return next(line for line in render_text(env).splitlines() if line.startswith("install guard"))


def test_guard_layout_matches_the_installer_module(tmp_path: Path) -> None:
    """detect reads guard.py's files without importing it: the names must stay the same."""
    env = _env(tmp_path)
    assert installguard.BEGIN == guard.BEGIN
    assert installguard.pip_config(tmp_path) == env.pip_config
    assert tmp_path / installguard.OWN_DIR / installguard.CONSTRAINTS == env.attnlock_dir / guard._CONSTRAINTS


def test_real_activate_then_deactivate_is_reported(tmp_path: Path) -> None:
    prefix = tmp_path / "venv"
    prefix.mkdir()
    env = _env(prefix)
    env.pip_config.write_text("[global]\ntimeout = 3\n")  # the user's own settings stay; the guard is what counts

    before = _detect(tmp_path, prefix)
    assert before.guard is not None and not before.guard.active
    assert before.to_json()["guard"] == guard.status(env, {}).to_json()
    assert _guard_line(before).split()[2] == "none"

    guard.activate(env, "torch==2.3.0\n")
    constraints = str(env.attnlock_dir / "constraints.txt")
    during = _detect(tmp_path, prefix)
    assert during.to_json()["guard"] == {"active": True, "pip_config": str(env.pip_config),
                                         "constraints": constraints, "uv_constraint": False}
    assert during.to_json()["guard"] == guard.status(env, {}).to_json()
    assert f"active: constraints {constraints}" in _guard_line(during)
    assert _guard_line(during).endswith(str(env.pip_config))

    # uv's guard is the UV_CONSTRAINT the user exported (activate prints it for the shell).
    with_uv = _detect(tmp_path, prefix, {"UV_CONSTRAINT": constraints})
    assert with_uv.guard is not None and with_uv.guard.uv_constraint
    assert with_uv.to_json()["guard"] == guard.status(env, {"UV_CONSTRAINT": constraints}).to_json()
    assert "UV_CONSTRAINT set" in _guard_line(with_uv)

    assert guard.deactivate(env)
    after = _detect(tmp_path, prefix)
    assert after.guard is not None and not after.guard.active and after.guard.constraints is None
    assert after.to_json()["guard"] == guard.status(env, {}).to_json()
    assert not any(u.fact == "guard" for u in after.unknown)


def test_a_block_without_its_constraints_file_is_inactive_and_explained(tmp_path: Path) -> None:
    prefix = tmp_path / "venv"
    prefix.mkdir()
    env = _env(prefix)
    guard.activate(env, "torch==2.3.0\n")
    (env.attnlock_dir / "constraints.txt").unlink()  # deleted by hand
    found = _detect(tmp_path, prefix)
    assert found.guard is not None and not found.guard.active
    assert found.to_json()["guard"] == guard.status(env, {}).to_json()
    reason = {u.fact: u.reason for u in found.unknown}["guard"]
    assert "guard block" in reason and "constraints.txt is missing" in reason


def test_no_prefix_given_means_no_guard_fact(tmp_path: Path) -> None:
    found = _detect(tmp_path, None)
    assert found.guard is None and found.to_json()["guard"] is None
    assert "install guard" not in render_text(found)


def test_the_cli_reports_the_guard_of_its_own_environment(tmp_path: Path) -> None:
    """A fresh ``python -m attnlock detect --json`` looks at sys.prefix, as ``guard.status(current())`` does."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ATTNLOCK_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", "attnlock", "detect", "--json"], capture_output=True, text=True,
                            env=environ, cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["guard"] == guard.status(PythonEnvironment.current(), environ).to_json()
    text = subprocess.run([sys.executable, "-m", "attnlock", "detect"], capture_output=True, text=True,
                          env=environ, cwd=tmp_path, timeout=60, check=False)
    assert str(PythonEnvironment.current().pip_config) in text.stdout
