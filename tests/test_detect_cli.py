"""``attnlock detect`` as users run it: a fresh ``python -m attnlock`` process, text and JSON, real and described machines."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnlock.commands.detect import render_text
from attnlock.detect.report import DriverFacts, Environment, GpuFacts, LibcFacts, PackageFacts, PythonFacts, Unknown

REPO = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ATTNLOCK_* (detection must see the real machine) plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNLOCK_")}
    # the checkout under test, whether or not it is installed in this interpreter
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def attnlock(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attnlock", *argv], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60, check=False)


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_detect_json_in_the_real_environment_with_cpu_torch_and_xformers(tmp_path: Path) -> None:
    """The seed mismatch, seen without importing torch: torch 2.13.0+cpu, xformers built for 2.10.0+cu128."""
    torch_v, xformers_v = _installed("torch"), _installed("xformers")
    if not (torch_v and torch_v.startswith("2.13.0") and xformers_v == "0.0.35"):
        message = f"needs torch 2.13.0 (CPU) and xformers 0.0.35 installed in {sys.executable}; found {torch_v}, {xformers_v}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    result = attnlock("detect", "--json", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["torch"]["version"] == "2.13.0+cpu"
    assert doc["torch"]["cuda"] is None and doc["torch"]["cxx11abi"] is True
    assert doc["packages"]["xformers"]["version"] == "0.0.35"
    assert doc["packages"]["xformers"]["built_for"]["torch"] == "2.10.0+cu128"
    assert doc["packages"]["xformers"]["built_for"]["cuda"] == "12.8"
    assert doc["python"]["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    text = attnlock("detect", env=clean_env(), cwd=tmp_path)
    assert text.returncode == 0 and "built for torch 2.10.0+cu128" in text.stdout
    assert "not the installed torch 2.13.0+cpu" in text.stdout


def test_detect_describes_another_machine_and_survives_a_garbage_nvidia_smi(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '%%% not csv %%%'\n")
    smi.chmod(0o755)
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    ATTNLOCK_CUDA_DRIVER="580.159.04", ATTNLOCK_CUDA_MAX="13.0")
    result = attnlock("detect", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["driver"]["version"] == "580.159.04" and doc["driver"]["source"] == "env:ATTNLOCK_CUDA_DRIVER"
    reasons = {u["fact"]: u["reason"] for u in doc["unknown"]}
    assert "not csv" in reasons["nvidia-smi"]


def test_detect_help_and_all_tags(tmp_path: Path) -> None:
    result = attnlock("detect", "--help", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0 and "--json" in result.stdout
    result = attnlock("detect", "--json", "--all-tags", env=clean_env(ATTNLOCK_GPU="none"), cwd=tmp_path)
    doc = json.loads(result.stdout)
    assert doc["tags"]["count"] == len(doc["tags"]["all"]) > 10


def test_text_report_is_aligned_and_plain_about_absences() -> None:
    env = Environment(
        python=PythonFacts("3.12.3", "cpython", "sys.version_info"), platform="linux-x86_64",
        platform_source="sys.platform", libc=LibcFacts("glibc", "2.35", "packaging._manylinux"),
        tags=("cp312-cp312-manylinux_2_35_x86_64",), tags_source="packaging.tags.sys_tags()",
        torch=None, driver=None, gpus=(), gpus_source="no NVIDIA driver found", packages={},
    )
    out = render_text(env)
    lines = out.splitlines()
    assert lines[0].split() [:2] == ["python", "3.12.3"]
    assert any(line.split()[:3] == ["torch", "not", "installed"] for line in lines)
    assert any(line.split()[:3] == ["NVIDIA", "driver", "none"] for line in lines)
    starts = {line.index(line.split()[-1]) for line in lines[:3]}
    assert len(starts) <= 2  # sources line up
    env = env._replace(
        driver=DriverFacts("580.159.04", "13.0", "NVML", "NVML"),
        gpus=(GpuFacts(0, "NVIDIA H200", "9.0", 143771, None, "NVML", "NVML"),),
        packages={"xformers": PackageFacts("xformers", "0.0.35", "/site", "METADATA",
                                           {"torch": "2.10.0+cu128", "cuda": "12.8", "python": "3.10.19"}, "cpp")},
        unknown=(Unknown("torch cxx11abi", "no file tells"),),
    )
    out = render_text(env)
    assert "NVIDIA H200 (sm_90, 143771 MiB)" in out
    assert "0.0.35 (built for torch 2.10.0+cu128, CUDA 12.8, Python 3.10.19)" in out
    assert out.rstrip().endswith("torch cxx11abi: no file tells")
