"""`--format pip-args` with the real pip: the options make pip install the planned builds of the
packages the user names — and only those (no forced triton or flash-attn)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.installers import installer_env, pip_argv, pip_cache_args
from tests.test_installers_generate import TIMEOUT, World, attnlock, planned, target_args, world  # noqa: F401

pytestmark = pytest.mark.slow


def test_pip_args_constrain_without_forcing_installs(world: World, tmp_path: Path) -> None:  # noqa: F811
    args = [*target_args("2.3.1", "cu118"), "--with", "torch,xformers,flash-attn"]
    plan = planned(world, *args)
    constraints = attnlock(world, *args)
    options = attnlock(world, *args, "--format", "pip-args")
    assert constraints.returncode == 0 and options.returncode == 0, constraints.stderr + options.stderr
    assert "--constraint /dev/stdin" in options.stdout and "torch==" not in options.stdout
    report = tmp_path / "report.json"
    argv = [*pip_argv(), "install", "--dry-run", "--ignore-installed", "--report", str(report), "--quiet",
            "--index-url", world.pypi, *pip_cache_args(tmp_path), *shlex.split(options.stdout), "xformers"]
    proc = subprocess.run(argv, input=constraints.stdout, capture_output=True, text=True, env=installer_env(),
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    chosen = {str(canonicalize_name(i["metadata"]["name"])): Version(i["metadata"]["version"])
              for i in json.loads(report.read_text())["install"]}
    assert chosen["xformers"] == plan["xformers"] == Version("0.0.27+cu118")
    assert chosen["torch"] == plan["torch"] == Version("2.3.1+cu118")
    assert "flash-attn" not in chosen  # planned, but not asked for: a constraint installs nothing


def test_pip_args_saved_to_a_file_work_from_the_file(world: World, tmp_path: Path) -> None:  # noqa: F811
    """`-o FILE` writes no /dev/stdin: the pins go to FILE's constraints companion, and
    `pip install $(cat FILE) xformers` takes the planned builds (issue 14)."""
    args = [*target_args("2.3.1", "cu118"), "--with", "torch,xformers"]
    plan = planned(world, *args)
    out = tmp_path / "pip-args.txt"
    proc = attnlock(world, *args, "--format", "pip-args", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    companion = tmp_path / "pip-args.constraints.txt"
    assert "/dev/stdin" not in text and f"--constraint {companion}" in text
    assert "xformers==0.0.27+cu118" in companion.read_text()
    report = tmp_path / "report.json"
    argv = [*pip_argv(), "install", "--dry-run", "--ignore-installed", "--report", str(report), "--quiet",
            "--index-url", world.pypi, *pip_cache_args(tmp_path), *shlex.split(text), "xformers"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    chosen = {str(canonicalize_name(i["metadata"]["name"])): Version(i["metadata"]["version"])
              for i in json.loads(report.read_text())["install"]}
    assert chosen["xformers"] == plan["xformers"] and chosen["torch"] == plan["torch"]
