"""`attnlock diagnose [FILE | -] [TARGET] [--json]`: exit codes, output shapes and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnlock.cli import main
from attnlock.commands.diagnose import MAX_BYTES

LOGS = Path(__file__).parent / "fixtures" / "logs"
ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "attnlock", "diagnose", *argv], input=stdin,
                          capture_output=True, env=env, timeout=60, cwd=ROOT)


def test_text_output_names_cause_fix_and_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(LOGS / "pip-conflict-local-index.log")]) == 0
    out = capsys.readouterr().out
    assert "pip-resolution-impossible" in out
    assert "cause:" in out and "fix:" in out and "evidence: The conflict is caused by:" in out
    assert "xformers 0.0.27 requires torch==2.3.1" in out


def test_json_shape_matches_the_cli_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(LOGS / "xformers-built-for-cu121-vs-cpu.log"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (d,) = doc["diagnoses"]
    assert {"id", "cause", "packages", "fix", "commands", "evidence"} <= set(d)
    assert d["id"] == "xformers-built-for-other-torch"
    assert d["packages"] == ["xformers", "torch"]
    assert isinstance(d["commands"], list)
    assert "PyTorch 2.2.0+cu121" in d["evidence"]


@pytest.mark.parametrize("line", [
    "xFormers was built for: PyTorch 2.2.1+cu121 (you have 2.3.0+cu121)",
    # retyped without the colon, as it is quoted in issues and chat: still the same failure
    "xFormers was built for PyTorch 2.2.1+cu121 (you have 2.3.0+cu121)",
])
def test_xformers_built_for_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str) -> None:
    log = tmp_path / "pasted.log"
    log.write_text(line + "\n")
    assert main(["diagnose", str(log), "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)["diagnoses"]
    assert d["id"] == "xformers-built-for-other-torch"
    assert "2.2.1+cu121" in d["cause"] and "2.3.0+cu121" in d["cause"]


def test_stdin_is_read_with_dash() -> None:
    log = (LOGS / "flash-attn-needs-ampere.log").read_bytes()
    proc = _run("-", "--gpu", "T4", "--json", stdin=log)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["diagnoses"][0]["id"] == "flash-attn-needs-ampere"


def test_unrecognised_log_exits_1_with_empty_json() -> None:
    proc = _run("-", "--json", stdin=b"everything is fine\n")
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"diagnoses": []}
    assert b"no known error signature" in proc.stderr
    assert b"Traceback" not in proc.stderr


def _error(tmp_path: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["diagnose", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return captured.err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such file" in _error(tmp_path, tmp_path / "nope.log", capsys)


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "is a directory" in _error(tmp_path, tmp_path, capsys)


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "core.bin"
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    err = _error(tmp_path, p, capsys)
    assert "binary file" in err and "hint:" in err


def test_huge_file_of_zero_bytes_is_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "huge.log"
    with open(p, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse, all zero bytes: refused as binary without reading it all
    err = _error(tmp_path, p, capsys)
    assert "binary file" in err and "nothing recognised" in err and "hint:" in err


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = tmp_path / "secret.log"
    p.write_text("x")
    p.chmod(0)
    assert "permission denied" in _error(tmp_path, p, capsys)


def test_non_utf8_log_is_still_diagnosed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "latin1.log"
    p.write_bytes("Fehler \xe4\xf6\xfc\n".encode("latin-1") + (LOGS / "jax-keyarray-removed.log").read_bytes())
    assert main(["diagnose", str(p)]) == 0
    assert "jax-keyarray-removed" in capsys.readouterr().out


def test_crlf_and_colour_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (LOGS / "xformers-built-for-2.2.0-vs-2.3.0.log").read_text().replace("\n", "\r\n")
    p = tmp_path / "win.log"
    p.write_text("\x1b[33m" + text + "\x1b[0m", newline="")
    assert main(["diagnose", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["diagnoses"][0]["id"] == "xformers-built-for-other-torch"


def test_bad_target_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(LOGS / "triton-key-missing.log"), "--torch", "two"]) == 2
    assert "malformed torch version" in capsys.readouterr().err
