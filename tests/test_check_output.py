"""``attnlock check`` output and command line: text, JSON, SARIF 2.1.0, exit codes, --fix byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from attnlock.check.fix import apply_edits
from attnlock.cli import main

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "check" / "data"
ROOT = Path(__file__).resolve().parent.parent

BROKEN = "torch==2.3.0\nxformers==0.0.27\n"


@pytest.fixture(autouse=True)
def _fixture_database(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ATTNLOCK_TORCH", "ATTNLOCK_CUDA", "ATTNLOCK_PYTHON", "ATTNLOCK_PLATFORM", "ATTNLOCK_GPU",
                 "ATTNLOCK_CUDA_DRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATTNLOCK_DATA_DIR", str(FIXTURE_DATA))
    monkeypatch.setenv("NO_COLOR", "1")


def test_text_output_and_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("requirements.txt").write_text(BROKEN)
    assert main(["check"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "requirements.txt:2:1: AL101 xformers 0.0.27 requires torch==2.3.1 (its wheels were compiled against "
        "torch 2.3.1+cu121); torch is pinned to 2.3.0",
        "  fix: xformers==0.0.26.post1 [*]",
    ]
    assert "1 error(s)" in err and "1 fixable" in err
    Path("requirements.txt").write_text("torch==2.3.1\nxformers==0.0.27\n")
    assert main(["check", "requirements.txt"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no findings" in err


def test_warnings_alone_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("xformers==0.0.27\n")
    assert main(["check", str(path)]) == 0
    assert "AL201" in capsys.readouterr().out


def test_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(BROKEN)
    assert main(["check", str(path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    (finding,) = data["findings"]
    assert finding == {
        "code": "AL101", "severity": "error", "path": str(path), "line": 2, "column": 1,
        "packages": ["xformers", "torch"], "message": finding["message"], "fix": "xformers==0.0.26.post1",
        "fixable": True,
    }
    assert data["files"] == [str(path)]


# The parts of the SARIF 2.1.0 schema (OASIS, sarif-schema-2.1.0.json) a consumer such as
# GitHub code scanning relies on: required properties, types and enumerations.
_REGION = {"type": "object", "properties": {"startLine": {"type": "integer", "minimum": 1},
                                            "startColumn": {"type": "integer", "minimum": 1}}}
_MESSAGE = {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
            "properties": {"text": {"type": "string"}}}
_ARTIFACT = {"type": "object", "properties": {"uri": {"type": "string", "format": "uri-reference"}}}
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"enum": ["2.1.0"]},
        "$schema": {"type": "string"},
        "runs": {"type": "array", "items": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "rules": {
                        "type": "array", "items": {"type": "object", "required": ["id"], "properties": {
                            "id": {"type": "string"}, "shortDescription": _MESSAGE, "fullDescription": _MESSAGE,
                            "defaultConfiguration": {"type": "object", "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]}}}}}}}}}},
                "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": _MESSAGE,
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "anyOf": [{"required": ["artifactLocation"]}],
                                                 "properties": {"artifactLocation": _ARTIFACT, "region": _REGION}}}}},
                        "fixes": {"type": "array", "items": {"type": "object", "required": ["artifactChanges"],
                                  "properties": {"artifactChanges": {"type": "array", "minItems": 1, "items": {
                                      "type": "object", "required": ["artifactLocation", "replacements"],
                                      "properties": {"replacements": {"type": "array", "minItems": 1, "items": {
                                          "type": "object", "required": ["deletedRegion"]}}}}}}}},
                    },
                }},
            },
        }},
    },
}


def test_sarif_structure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("requirements.txt").write_text(BROKEN + "--extra-index-url https://example.invalid/simple\n")
    assert main(["check", "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(log, SARIF_SUBSET)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["AL101", "AL303"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "requirements.txt"
    assert results[0]["level"] == "error" and results[1]["level"] == "warning"
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 1}
    (change,) = results[0]["fixes"][0]["artifactChanges"]
    assert change["replacements"] == [{
        "deletedRegion": {"startLine": 2, "startColumn": 1, "endLine": 2, "endColumn": 17},
        "insertedContent": {"text": "xformers==0.0.26.post1"},
    }]
    assert "fixes" not in results[1]


def test_fix_rewrites_only_the_requirement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "requirements.txt"
    original = ("\ufeff# keep me  \r\ntorch==2.3.0\t\r\n\r\n"
                "xformers==0.0.27 ; sys_platform == 'linux'   # why\r\ntriton==2.3.0")
    path.write_bytes(original.encode("utf-8"))
    mode = 0o640
    path.chmod(mode)
    assert main(["check", str(path), "--fix"]) == 0
    expected = original.replace("xformers==0.0.27 ; sys_platform == 'linux'",
                                "xformers==0.0.26.post1 ; sys_platform == 'linux'")
    assert path.read_bytes() == expected.encode("utf-8")
    assert (path.stat().st_mode & 0o777) == mode
    assert "fixed 1 line(s)" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["requirements.txt"]


def test_fix_leaves_ambiguous_findings(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("xformers\\\n==0.0.27\ntorch==2.3.0\n")
    before = path.read_bytes()
    assert main(["check", str(path), "--fix"]) == 1
    assert path.read_bytes() == before


def test_apply_edits_drops_overlaps_and_line_breaks() -> None:
    from attnlock.check.findings import Edit

    text = "abc\ndef\n"
    edits = [Edit("f", 0, 3, "ABC"), Edit("f", 1, 2, "x"), Edit("f", 4, 7, "D\nE"), Edit("f", 2, 5, "y")]
    assert apply_edits(text, edits) == ("ABC\ndef\n", 1)


def test_a_directory_stands_for_its_requirement_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "requirements-gpu.txt").write_text(BROKEN)
    (tmp_path / "notes.txt").write_text(BROKEN)
    assert main(["check", str(tmp_path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == [str(tmp_path / "requirements-gpu.txt")]


def _check_process(args: list[str], stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ATTNLOCK_DATA_DIR": str(FIXTURE_DATA), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "attnlock", "check", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=env, cwd=cwd)


def test_dash_reads_standard_input(tmp_path: Path) -> None:
    """``attnlock check -`` lints what is piped in, named <stdin>; nothing is offered as fixable."""
    proc = _check_process(["-"], BROKEN, tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "<stdin>:2:1: AL101 xformers 0.0.27 requires torch==2.3.1 (its wheels were compiled against "
        "torch 2.3.1+cu121); torch is pinned to 2.3.0",
        "  fix: xformers==0.0.26.post1",
    ]
    proc = _check_process(["-", "--format", "json"], "torch==2.3.1\nxformers==0.0.27\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"findings": [], "files": ["<stdin>"]}


def test_fix_refuses_standard_input(tmp_path: Path) -> None:
    proc = _check_process(["--fix", "-"], BROKEN, tmp_path)
    assert proc.returncode == 2
    assert "--fix cannot rewrite standard input" in proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="needs /dev/fd")
def test_dev_fd_pipe_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A shell's process substitution, ``attnlock check <(cat requirements.txt)``, passes /dev/fd/N: a pipe."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, BROKEN.encode())
        os.close(write_end)
        path = f"/dev/fd/{read_end}"
        assert main(["check", path]) == 1
        out = capsys.readouterr().out
        assert out.startswith(f"{path}:2:1: AL101 ") and "[*]" not in out
    finally:
        os.close(read_end)


def test_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2  # nothing to check here
    Path("requirements.txt").write_text("torch\n")
    assert main(["check", "--python", "three"]) == 2
    assert main(["check", "--platform", "amiga"]) == 2
    assert main(["check", "--format", "xml"]) == 2


def test_target_variables_apply_without_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.5.1\n")
    monkeypatch.setenv("ATTNLOCK_PYTHON", "3.13")
    monkeypatch.setenv("ATTNLOCK_PLATFORM", "windows-amd64")
    assert main(["check", str(path)]) == 1
    assert "AL203" in capsys.readouterr().out
    assert main(["check", str(path), "--platform", "linux-x86_64"]) == 0  # the flag wins


def test_target_options_narrow_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.5.1\n")
    assert main(["check", str(path)]) == 0
    assert main(["check", str(path), "--python", "3.13", "--platform", "windows-amd64"]) == 1
    assert "AL203" in capsys.readouterr().out


def test_check_imports_nothing_heavy(tmp_path: Path) -> None:
    """The pre-commit path: stdlib, packaging and attnlock only (no tomlkit, httpx, resolvelib, torch)."""
    path = tmp_path / "requirements.txt"
    path.write_text(BROKEN)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\ndependencies = ["torch"]\n')
    code = (
        "import sys\nfrom attnlock.cli import main\n"
        f"rc = main(['check', {str(path)!r}, {str(tmp_path / 'pyproject.toml')!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tomlkit', 'httpx', 'resolvelib', 'torch', 'jax', 'triton', 'uv', 'numpy', 'pip', 'setuptools'})\n"
        "print(rc, heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ATTNLOCK_DATA_DIR": str(FIXTURE_DATA)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                          cwd=tmp_path)
    assert proc.stdout.strip().splitlines()[-1] == "1 []", proc.stderr
