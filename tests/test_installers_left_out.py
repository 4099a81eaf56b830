"""A package the plan left out does not install under its constraints — proved with the real pip
and uv against the local indexes of tests/test_installers_generate.py (issue 14, point 2).

The constraints file carries ``NAME<0`` under a comment with the reason; no release satisfies it,
so both installers refuse the package and quote that line, which leads to the comment above it.  The packages the plan kept install as planned.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from attnlock.emit.constraints import LEFT_OUT_SPEC
from tests.support.installers import find_uv, installer_env, pip_argv, pip_cache_args, uv_cache_args
from tests.test_installers_generate import PY, TIMEOUT, World, attnlock, pip_choose, world  # noqa: F401

pytestmark = pytest.mark.slow

# No GPU: a CPU plan of the default set; xformers and flash-attn have no CPU build.
CPU = ["--torch", "2.3.1", "--python", str(PY), "--platform", "linux-x86_64", "--gpu", "none", "--driver", "any"]


def _constraints(world: World, tmp_path: Path) -> tuple[Path, str]:
    c = tmp_path / "constraints.txt"
    proc = attnlock(world, *CPU, "-o", str(c))
    assert proc.returncode == 0, proc.stderr
    text = c.read_text()
    assert f"xformers{LEFT_OUT_SPEC}" in text and "torch==2.3.1+cpu" in text
    return c, text


def _reason_in_file(text: str, name: str) -> str:
    """The comment line above ``name``'s blocking line: where the installer's message leads."""
    lines = text.splitlines()
    i = lines.index(f"{name}{LEFT_OUT_SPEC}")
    return lines[i - 1]


def test_pip_refuses_a_left_out_package_and_names_the_line(world: World, tmp_path: Path) -> None:  # noqa: F811
    c, text = _constraints(world, tmp_path)
    argv = [*pip_argv(), "install", "--dry-run", "--ignore-installed", "--index-url", world.pypi,
            *pip_cache_args(tmp_path), "-c", str(c), "xformers"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=False)
    assert proc.returncode != 0, proc.stdout
    out = proc.stdout + proc.stderr
    assert f"(constraint) xformers{LEFT_OUT_SPEC}" in out, out
    reason = _reason_in_file(text, "xformers")
    # A generated file stays clean under attnlock's own check (the line is a range, not a release).
    from attnlock.cli import main

    assert main(["check", str(c), "--torch", "2.3.1+cpu"]) == 0
    assert reason.startswith("# xformers: left out, no xformers release was built for torch"), reason
    # What the plan kept still installs, as planned.
    chosen = pip_choose(world, tmp_path, "-c", str(c), "torch")
    assert str(chosen["torch"]) == "2.3.1+cpu"


def test_uv_refuses_a_left_out_package_and_names_the_line(world: World, tmp_path: Path) -> None:  # noqa: F811
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (pip install uv)")
    c, text = _constraints(world, tmp_path)
    for cmd in (["pip", "compile", "-"], ["pip", "install", "--dry-run", "--python", str(tmp_path / "venv")]):
        if cmd[1] == "install":
            subprocess.run([uv, "venv", "--python", str(PY), str(tmp_path / "venv"), *uv_cache_args(tmp_path)],
                           capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=True)
            argv = [uv, *cmd, "--index-url", world.pypi, *uv_cache_args(tmp_path), "-c", str(c), "flash-attn"]
            stdin = None
        else:
            argv = [uv, *cmd, "--index-url", world.pypi, "--python-version", str(PY), "--python-platform",
                    "x86_64-manylinux_2_28", *uv_cache_args(tmp_path), "-c", str(c)]
            stdin = "flash-attn\n"
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=installer_env(),
                              timeout=TIMEOUT, check=False)
        assert proc.returncode != 0, proc.stdout
        assert f"flash-attn{LEFT_OUT_SPEC}" in proc.stderr, proc.stderr
    assert _reason_in_file(text, "flash-attn").startswith("# flash-attn: left out, ")
    # torch alone resolves to the planned CPU build under the same file.
    argv = [uv, "pip", "compile", "-", "--index-url", world.pypi, "--python-version", str(PY), "--python-platform",
            "x86_64-manylinux_2_28", "--no-header", "--no-annotate", *uv_cache_args(tmp_path), "-c", str(c)]
    proc = subprocess.run(argv, input="torch\n", capture_output=True, text=True, env=installer_env(),
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "torch==2.3.1+cpu" in proc.stdout
