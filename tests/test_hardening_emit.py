"""Hardening, generate --pyproject: existing lines keep their endings (mixed LF/CRLF, multi-line strings),
new lines follow the file's convention where they go, and a second run changes nothing."""

from __future__ import annotations

import sys

import pytest

from attnlock.database.store import Database
from attnlock.emit import update_pyproject
from attnlock.model import Plan
from attnlock.resolver import parse_with, resolve
from tests.test_resolver_cases import DB, make_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture(scope="module")
def plan() -> Plan:
    return resolve(Database(DB), make_target({"torch": "2.3.1", "cuda": "cu118", "python": "3.11",
                                              "platform": "linux-x86_64"}),
                   parse_with("torch,xformers"))


MIXED = (
    '[project]\r\nname = "x"\r\n'
    'description = """line one\nline two\r\nline three"""\n'
    'dependencies = ["numpy"]\r\n'
)


@pytest.mark.parametrize("with_uv", [False, True])
def test_mixed_endings_keep_every_existing_line(plan: Plan, with_uv: bool) -> None:
    text = MIXED + ("\r\n[tool.uv]\r\nno-build-isolation = true\r\n" if with_uv else "")
    out = update_pyproject(text, plan)
    before = tomllib.loads(text)["project"]["description"]
    assert tomllib.loads(out)["project"]["description"] == before  # the multi-line string keeps its value
    assert out.startswith(text.split("[tool.uv]")[0].rstrip("\r\n"))  # bytes before attnlock's keys unchanged
    added = out[len(text):] if not with_uv else out.split("no-build-isolation = true\r\n", 1)[1]
    assert "\n" in added and added.count("\n") == added.count("\r\n")  # new lines follow the region: CRLF
    assert update_pyproject(out, plan) == out  # idempotent


def test_lf_file_stays_lf(plan: Plan) -> None:
    out = update_pyproject('[project]\nname = "x"\n', plan)
    assert "\r" not in out and update_pyproject(out, plan) == out


def test_crlf_file_stays_crlf(plan: Plan) -> None:
    text = '[project]\r\nname = "x"\r\n\r\n[tool.uv]\r\nno-build-isolation = true\r\n'
    out = update_pyproject(text, plan)
    assert out.count("\n") == out.count("\r\n") and update_pyproject(out, plan) == out


def test_line_endings_are_linear_and_right_for_large_changes() -> None:
    from attnlock.emit.uv import _keep_line_endings

    body = "".join(f'  "dep{i % 7}==1.0",\r\n' for i in range(5000)) + '  "]",\n' * 3000  # repeated lines
    original = "a = 1\r\n" + body + "z = 2\r\n"
    out = "new = 0\n" + "a = 1\r\n" + "mid = 1\n" + body + "z = 2\r\n" + "end = 3\n"
    fixed = _keep_line_endings(original, out)
    assert fixed == "new = 0\r\n" + "a = 1\r\n" + "mid = 1\r\n" + body + "z = 2\r\n" + "end = 3\r\n"


@pytest.mark.parametrize("body, key", [
    ("[tool.uv]\nconstraint-dependencies = 5\n", "constraint-dependencies"),
    ("[tool.uv]\nindex = \"x\"\n", "index"),
    ("[tool.uv]\nsources = 5\n", "sources"),
    ("[tool.uv]\nconstraint-dependencies = [1, 2]\n", "constraint-dependencies"),
])
def test_owned_key_of_the_wrong_type_is_refused_not_a_crash(body: str, key: str, tmp_path: Path) -> None:
    """generate --pyproject on an owned key of the wrong type: a usage-level error naming the key; the file stays."""
    from attnlock.cli import main

    path = tmp_path / "pyproject.toml"
    text = '[project]\nname = "x"\nversion = "0"\n' + body
    path.write_text(text, encoding="utf-8")
    rc = main(["generate", "--torch", "2.4.1", "--cuda", "cu124", "--python", "3.11", "--platform", "linux-x86_64",
               "--gpu", "none", "--with", "torch,xformers", "--pyproject", str(path)])
    assert rc == 1
    assert path.read_text(encoding="utf-8") == text


def test_generate_pyproject_refuses_a_fifo_without_reading(tmp_path: Path) -> None:
    """A FIFO as --pyproject is refused at once (it would block forever or read without bound)."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pyproject.toml"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "attnlock", "generate", "--torch", "2.4.1", "--cuda", "cu124",
                           "--python", "3.11", "--with", "torch", "--pyproject", str(fifo)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "not a regular file" in proc.stderr
