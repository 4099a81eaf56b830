"""Hardening, check: lines split as pip splits them, no reader hangs or blows up, bad input is a finding
(never exit 3), files outside the checked tree are never quoted, duplicate and contradictory pins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnlock.check.checker import read
from attnlock.check.duplicate_pins import duplicate_pin_findings

ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD_S = 120  # generous: a quadratic reader takes minutes on these inputs, a linear one well under a second


def _entries(path: Path) -> list[tuple[str, int]]:
    return [(e.text, e.line) for d in read([str(path)])[0] for e in d.entries]


def _findings(path: Path) -> list[tuple[str, int, str]]:
    return [(f.code, f.line, f.message) for d in read([str(path)])[0] for f in d.findings]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "attnlock", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=HANG_GUARD_S, env=env)


# ---------------------------------------------------------------- severe 3: pip's line breaks

@pytest.mark.parametrize("brk", ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r"])
def test_every_line_break_pip_knows_ends_a_line(tmp_path: Path, brk: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"# comment{brk}xformers==0.0.28\ntorch==2.4.1\n", encoding="utf-8")
    assert [t for t, _ in _entries(path)] == ["xformers==0.0.28", "torch==2.4.1"]
    assert _entries(path)[1][1] == 3  # positions count pip's lines


# ---------------------------------------------------------------- hangs and blow-ups

ADVERSARIAL = {
    "blanks": " " * 80_000 + "x\n",
    "blanks-then-hash": "torch" + " " * 80_000 + "#\n",
    "tabs-continuation": ("\t" * 20_000 + "\\\n") * 5 + "torch==2.3.1\n",
    "many-options": "torch==2.3.1 " + "--hash=sha256:0 " * 20_000 + "\n",
    "long-marker": "torch==2.3.1; " + " or ".join(["python_version == '3.1'"] * 400) + "\n",
    "egg": "https://x/" + "#egg=" * 20_000 + "\n",
    "url-like": "a" * 50_000 + "://\n",
    "coding": "#" + " coding" * 20_000 + "\n",
}
# Systematic: every character a reader's patterns treat specially, alone and after a letter, repeated.
_SPECIAL = " \t#\\-=;@[]()<>!~.,'\"/:*+&?%\x0c\u2028"
for _i, _c in enumerate(_SPECIAL):
    ADVERSARIAL[f"run-{_i}"] = _c * 40_000 + "\n"
    ADVERSARIAL[f"pair-{_i}"] = "torch==2.3.1 " + ("a" + _c) * 20_000 + "\n"


def test_readers_are_linear_on_adversarial_input(tmp_path: Path) -> None:
    """Every reader on crafted lines, in a child with a hang guard (no timing assertion)."""
    names = []
    for name, text in ADVERSARIAL.items():
        (tmp_path / f"requirements-{name}.txt").write_text(text, encoding="utf-8")
        names.append(f"requirements-{name}.txt")
    deep = "x = " + "[" * 2000 + "]" * 2000 + "\n"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["' + " " * 50_000 + '"]\n'
                                             + deep)
    (tmp_path / "uv.lock").write_text('version = 1\n' + '[[package]]\nname = "a"\nversion = "1"\n' * 2000)
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\n' + "#" + " " * 80_000 + "\n")
    names += ["pyproject.toml", "uv.lock", "pylock.toml"]
    for i, c in enumerate(_SPECIAL.replace("\\", "").replace('"', "")):
        sub = tmp_path / f"toml-{i}"
        sub.mkdir()
        (sub / "pyproject.toml").write_text(
            '[project]\nname = "x"\ndependencies = ["' + ("a" + c) * 20_000 + '"]\n'
            'description = """' + c * 40_000 + '"""\n' + "[tool.uv]\nindex = [" + "{}, " * 5000 + "]\n",
            encoding="utf-8")
        names.append(f"toml-{i}/pyproject.toml")
    res = _cli("check", "--format", "json", *names, cwd=tmp_path)
    assert res.returncode in (0, 1), res.stderr
    json.loads(res.stdout)


def test_include_of_stdin_or_a_fifo_is_a_finding_not_a_hang(tmp_path: Path) -> None:
    lines = ["-r /dev/stdin"]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.txt")
        lines.append("-c pipe.txt")
    (tmp_path / "requirements.txt").write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "attnlock", "check", "--format", "json", "requirements.txt"],
                            cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, err = proc.communicate(timeout=HANG_GUARD_S)  # stdin stays open until then: a read would block
    findings = json.loads(out)["findings"]
    assert [f["code"] for f in findings] == ["AL004"] * len(lines), (out, err)
    assert all("not a regular file" in f["message"] for f in findings)


def test_symlink_loop_include_says_loop(tmp_path: Path) -> None:
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "requirements.txt").write_text("-r loop.txt\n")
    [(code, line, message)] = _findings(tmp_path / "requirements.txt")
    assert code == "AL004" and "symbolic link loop" in message


def test_thousand_deep_include_chain_is_read(tmp_path: Path) -> None:
    for i in range(1000):
        (tmp_path / f"r{i}.txt").write_text(f"-r r{i + 1}.txt\n" if i < 999 else "torch==2.3.1\n")
    docs = read([str(tmp_path / "r0.txt")])[0]
    assert len(docs) == 1000 and docs[-1].entries[0].text == "torch==2.3.1"


def test_thousand_deep_cycle_is_reported(tmp_path: Path) -> None:
    for i in range(1000):
        (tmp_path / f"r{i}.txt").write_text(f"-r r{(i + 1) % 1000}.txt\n")
    found = [f for d in read([str(tmp_path / "r0.txt")])[0] for f in d.findings]
    assert [f.code for f in found] == ["AL003"] and len(found[0].message) < 1000


# ---------------------------------------------------------------- findings, not internal errors

def test_undecodable_declared_encoding_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"# coding: punycode\ntorch==2.3.1\n\xff\xfe\n")
    [(code, _line, _message)] = _findings(path)
    assert code == "AL001"
    path.write_bytes(b"# coding: rot13\ntorch==2.3.1\n")  # a bytes-to-bytes codec is no text encoding
    assert [c for c, _, _ in _findings(path)] == ["AL001"]


def test_huge_numbers_are_findings(tmp_path: Path) -> None:
    digits = "1" * 5000
    (tmp_path / "requirements.txt").write_text(f'torch==2.3.1; python_version > "{digits}"\n')
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\nrequires-python = ">={digits}"\ndependencies = ["torch>={digits}"]\n')
    (tmp_path / "uv.lock").write_text(f'version = 1\n[[package]]\nname = "torch"\nversion = "{digits}"\n')
    res = _cli("check", "--format", "json", "requirements.txt", "pyproject.toml", "uv.lock", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    codes = [f["code"] for f in json.loads(res.stdout)["findings"]]
    assert codes.count("AL002") == 4


def test_deeply_nested_toml_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("x = " + "[" * 800 + "]" * 800 + "\n")
    res = _cli("check", "--format", "json", "pyproject.toml", cwd=tmp_path)
    assert res.returncode in (0, 1), res.stderr


# ---------------------------------------------------------------- data: no echo outside the checked tree

SECRET = "machine example.com login me password hunter2"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_lines_of_files_outside_the_tree_are_never_quoted(tmp_path: Path, fmt: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / ".netrc").write_text(SECRET + "\n--" + "hunter3\n-r hunter4\n")
    (repo / "requirements.txt").write_text("-r ../.netrc\ntorch==2.3.1 --hunter5\n")
    res = _cli("check", "--format", fmt, "requirements.txt", cwd=repo)
    assert res.returncode == 1, res.stderr
    out = res.stdout + res.stderr
    for secret in ("hunter2", "hunter3", "hunter4", "example.com"):
        assert secret not in out
    assert ".netrc" in out  # file and line are still named
    assert "hunter5" in out  # the checked tree's own lines are quoted as before


# ---------------------------------------------------------------- duplicate and contradictory pins

def test_contradictory_and_duplicate_pins(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("torch==2.4.1\n")
    (tmp_path / "requirements.txt").write_text(
        "torch==2.3.1\nxformers==0.0.27\nxformers==0.0.27\n-r base.txt\n"
        "numpy>=2\nnumpy==1.26.4\n"
        "flash-attn==2.6.3; sys_platform == 'linux'\nflash-attn==2.5.0; sys_platform == 'win32'\n")
    found = duplicate_pin_findings(read([str(tmp_path / "requirements.txt")])[0])
    got = sorted((Path(f.path).name, f.line, f.code) for f in found)
    assert got == [("base.txt", 1, "AL110"), ("requirements.txt", 3, "AL007"), ("requirements.txt", 6, "AL110")]


def test_pyproject_extras_are_compared_with_the_base_only(tmp_path: Path) -> None:
    from attnlock.check.tomlfiles import read_pyproject

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["torch==2.3.1"]\n'
        '[project.optional-dependencies]\nnew = ["torch==2.4.1"]\na = ["xformers==0.0.27"]\n'
        'b = ["xformers==0.0.28"]\n')
    found = duplicate_pin_findings([read_pyproject(str(tmp_path / "pyproject.toml"))])
    assert [(f.code, f.line) for f in found] == [("AL110", 5)]
