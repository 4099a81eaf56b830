"""`attnlock generate` at the CLI boundary: formats, files, exit codes, nothing written on bad input."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from attnlock.cli import main

FIXTURE_DB = Path(__file__).parent / "fixtures" / "resolver" / "db"
CORPUS = Path(__file__).parent / "fixtures" / "pyproject"
TARGET = ["--python", "3.11", "--platform", "linux-x86_64", "--gpu", "sm_80", "--driver", "535.104.05"]


@pytest.fixture(autouse=True)
def fixture_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTNLOCK_DATA_DIR", str(FIXTURE_DB))
    for name in ("ATTNLOCK_TORCH", "ATTNLOCK_CUDA", "ATTNLOCK_PYTHON", "ATTNLOCK_PLATFORM", "ATTNLOCK_GPU",
                 "ATTNLOCK_CUDA_DRIVER", "ATTNLOCK_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_constraints_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--torch", "2.3.1+cu118", *TARGET, "--with", "torch,xformers")
    assert code == 0, err
    assert "torch==2.3.1+cu118" in out and "xformers==0.0.27+cu118" in out
    assert "--extra-index-url https://download.pytorch.org/whl/cu118" in out
    assert "# Regenerate: attnlock generate --torch 2.3.1 --cuda cu118 --python 3.11" in out


@pytest.mark.parametrize("fmt", ["constraints", "uv", "pip-args", "json"])
def test_every_format_writes_the_same_plan(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / f"out.{fmt}"
    code, out, err = run(capsys, "--torch", "2.3.1", "--cuda", "cu118", *TARGET, "--with", "torch,flash-attn",
                         "--format", fmt, "-o", str(out_file))
    assert code == 0 and out == "", err
    text = out_file.read_text()
    if fmt == "pip-args":  # options for `pip install`; saved to a file, the pins go to a file beside it
        companion = tmp_path / "out.constraints.txt"
        assert text == f"--extra-index-url https://download.pytorch.org/whl/cu118 --constraint {companion}\n"
        assert "/dev/stdin" not in text
        text = companion.read_text()
    assert "flash_attn-2.6.3+cu118torch2.3cxx11abiFALSE-cp311-cp311-linux_x86_64.whl" in text
    assert "2.3.1+cu118" in text
    if fmt == "json":
        assert json.loads(text)["pins"]["torch"] == "==2.3.1+cu118"


def test_no_plan_is_exit_1_with_the_reason(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "c.txt"
    code, out, err = run(capsys, "--torch", "2.11.0+cu130", *TARGET[:6], "--driver", "none", "--with", "torch,xformers",
                         "-o", str(out_file))
    assert code == 1 and out == ""
    assert "no xformers release was built for torch 2.11.0+cu130" in err and "hint: use --torch 2.10.0" in err
    assert not out_file.exists()


def test_no_plan_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "--torch", "latest", *TARGET[:4], "--gpu", "T4", "--driver", "none",
                          "--with", "flash-attn", "--format", "json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["message"].startswith("flash-attn 2.x needs sm_80+; this GPU is sm_75")
    assert "without flash-attn a plan exists" in error["hint"]


@pytest.mark.parametrize("argv", [
    ["--with", "torch,xformerz"],
    ["--torch", "2.3.x"],
    ["--python", "three"],
    ["--cuda", "cu12x"],
    ["--platform", "solaris-sparc"],
    ["--format", "yaml"],
    ["--with", "torch", "--pyproject", "p.toml", "--format", "json"],
])
def test_bad_input_is_a_usage_error_and_writes_nothing(argv: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "c.txt"
    defaults = {"--torch": "2.3.1", "--python": "3.11", "--platform": "linux-x86_64", "--gpu": "none",
                "--driver": "none"}
    for flag, value in defaults.items():
        if flag not in argv:
            argv = [*argv, flag, value]
    code, out, err = run(capsys, *argv, "-o", str(out_file)) if "--pyproject" not in argv else run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    assert out == "" or "error" in json.loads(out)  # --format json reports the error as JSON
    assert not out_file.exists()


def test_pyproject_is_edited_in_place_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pyproject.toml"
    original = (CORPUS / "openai__whisper__pyproject.toml").read_bytes()
    path.write_bytes(original)
    code, out, err = run(capsys, "--torch", "2.3.1", "--cuda", "cu118", *TARGET, "--with", "torch,xformers",
                         "--pyproject", str(path))
    assert code == 0 and out == "", err
    new = path.read_bytes()
    assert new.startswith(original) and b'name = "attnlock-pytorch-cu118"' in new
    assert [p.name for p in tmp_path.iterdir()] == ["pyproject.toml"], "no temporary file left behind"
    code, _out, err = run(capsys, "--torch", "2.3.1", "--cuda", "cu118", *TARGET, "--with", "torch,xformers",
                          "--pyproject", str(path))
    assert code == 0 and "up to date" in err and path.read_bytes() == new


def test_invalid_pyproject_is_never_touched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndependencies = ["torch"\n[tool.uv]\n')
    before = path.read_bytes()
    code, _out, err = run(capsys, "--torch", "2.3.1", *TARGET, "--with", "torch", "--pyproject", str(path))
    assert code == 1 and f"{path}:4" in err and "not valid TOML" in err
    assert path.read_bytes() == before


def test_missing_pyproject_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent" / "pyproject.toml"
    code, out, err = run(capsys, "--torch", "2.3.1", *TARGET, "--with", "torch", "--pyproject", str(path))
    assert code == 1 and out == "", err
    assert f"{path}: no such file" in err and "--format uv" in err and "internal error" not in err
    assert not path.parent.exists()


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_pyproject_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n')
    path.chmod(stat.S_IRUSR)
    code, _out, err = run(capsys, "--torch", "2.3.1", *TARGET, "--with", "torch", "--pyproject", str(path))
    assert code == 1 and "read-only" in err
    assert path.read_text() == '[project]\nname = "x"\n'


def test_popular_regeneration_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "--popular", str(tmp_path / "c"))
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert "index.json" in names and "torch2.3-cu118-py3.11-linux-x86_64.txt" in names


def test_malformed_driver_hint_shows_a_driver_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "--torch", "2.3.1", "--python", "3.11", "--platform", "linux-x86_64",
                          "--gpu", "none", "--driver", "abc")
    assert code == 2 and "such as 535.104.05" in err and "such as 2.3.1" not in err


# ---------------------------------------------------------------- issue 14: promises the CLI keeps

def test_json_flag_is_format_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--torch", "2.3.1+cu118", *TARGET, "--with", "torch,xformers", "--json")
    assert code == 0, err
    assert json.loads(out)["pins"]["torch"] == "==2.3.1+cu118"
    code, out, err = run(capsys, "--torch", "2.3.1+cu118", *TARGET, "--with", "torch", "--json", "--format", "uv")
    assert code == 2 and "--json is --format json" in err


def test_driver_is_printed_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--torch", "2.3.1+cu118", *TARGET, "--with", "torch")
    assert code == 0, err
    assert "driver 535.104.05" in out and "--driver 535.104.05" in out and "535.104.5" not in out
    code, out, err = run(capsys, "--torch", "2.3.1+cu118", *TARGET, "--with", "torch", "--json")
    assert json.loads(out)["target"]["driver"] == "535.104.05"


def test_gpu_words_in_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--torch", "2.3.1", "--python", "3.11", "--platform", "linux-x86_64", "--driver", "any", "--with", "torch"]
    code, out, err = run(capsys, *base, "--gpu", "any")
    assert code == 0, err
    assert "GPU any · driver any" in out and "--gpu any --driver any" in out and "(--gpu none)" not in out
    code, out, err = run(capsys, *base, "--gpu", "none")
    assert code == 0, err
    assert "GPU none (CPU plan)" in out and "--cuda cpu" in out and "torch==2.3.1+cpu" in out


def test_warnings_are_not_notes_in_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    from attnlock.emit.constraints import render_constraints
    from attnlock.model import Plan, Target

    text = render_constraints(Plan(Target(), (), notes=("warning: x is known bad", "y: left out, why")), command="c")
    assert "# warning: x is known bad" in text and "# note: warning" not in text
    assert "# y: left out, why\ny<0" in text and "# note: y:" not in text


def test_no_gpu_detected_plans_for_cpu_and_says_so_once(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from attnlock.detect import report

    monkeypatch.setattr("attnlock.detect.detect", lambda *a, **k: _bare_machine(report))
    code, out, err = run(capsys, "--python", "3.11", "--platform", "linux-x86_64")
    assert code == 0, err
    assert "GPU none (CPU plan)" in out and "+cpu" in out and "--gpu none" in out
    lines = [ln for ln in err.splitlines() if "no NVIDIA GPU" in ln]
    assert len(lines) == 1 and "--gpu A100 --cuda 12.4" in lines[0]
    for name in ("xformers", "flash-attn"):  # no CPU build: left out, and blocked under the constraints
        assert f"{name}<0" in out
    assert "torch held at" not in err


def _bare_machine(report: object) -> object:
    """A detect() result for a machine with no GPU, no driver and no torch."""
    from attnlock.detect.report import Environment, LibcFacts, PythonFacts

    return Environment(
        python=PythonFacts("3.11.7", "cpython", "sys"), platform="linux-x86_64", platform_source="sys",
        libc=LibcFacts("glibc", "2.36", "x"), tags=(), tags_source="x", torch=None, driver=None, gpus=(),
        gpus_source="x", packages={},
    )
