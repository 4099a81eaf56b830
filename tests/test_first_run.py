"""Issue 14, "the first ten minutes": the recipes the README gives and the promises the CLI makes.

Hermetic: temporary prefixes and files only, no network, no GPU.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import pytest

from attnlock.cli import main
from attnlock.install.environment import PythonEnvironment

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _env(prefix: Path) -> PythonEnvironment:
    return PythonEnvironment(executable=sys.executable, prefix=prefix, is_venv=True, site_packages=prefix,
                             externally_managed=False)


# ---------------------------------------------------------------- point 4: deactivate


def test_deactivate_recipe_in_readme_is_evaluated() -> None:
    assert 'eval "$(attnlock deactivate)"' in README
    # No bare `attnlock deactivate` line in a recipe: its stdout must be evaluated to unset UV_CONSTRAINT.
    assert not re.search(r"^attnlock deactivate\b", README, flags=re.M)


@pytest.mark.parametrize("tty", [True, False])
def test_deactivate_tells_a_terminal_what_to_run(tty: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from attnlock.commands import activate

    monkeypatch.setattr(PythonEnvironment, "current", classmethod(lambda cls: _env(tmp_path)))
    out = _Tty() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert activate.run_deactivate(argparse.Namespace(shell="sh")) == 0
    err = capsys.readouterr().err
    assert out.getvalue() == "unset UV_CONSTRAINT\n"
    assert ('run: eval "$(attnlock deactivate)"' in err) is tty


# ---------------------------------------------------------------- point 3: check --json


def test_check_json_is_format_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.3.1\nxformers==0.0.26.post1\n")
    code = main(["check", "--json", str(req)])
    out = capsys.readouterr().out
    assert code == 1 and json.loads(out)["findings"][0]["code"] == "AL101"
    assert main(["check", "--json", "--format", "sarif", str(req)]) == 2
    assert "--json is --format json" in capsys.readouterr().err


# ---------------------------------------------------------------- point 5: human output of db show


@pytest.mark.parametrize("argv", [["xformers"], ["known-bad"], ["flash-attn"], ["torch", "2.4.1"], ["cuda"],
                                  ["gpus"], ["signatures"], ["kernels"], ["xformers", "0.0.35"]])
def test_db_show_is_tables_and_sentences_json_only_with_json(argv: list[str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["db", "show", *argv]) == 0
    out = capsys.readouterr().out
    assert out.strip()
    for line in out.splitlines():
        assert not line.lstrip().startswith(('{"', '[{', '["')) and '{"' not in line and '": ' not in line, line
    assert main(["db", "show", *argv, "--json"]) == 0
    json.loads(capsys.readouterr().out)


def test_db_show_known_bad_reads_as_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "show", "known-bad"]) == 0
    out = capsys.readouterr().out
    assert "unsloth-xformers-0.0.27-torch-2.3.1\n  packages: unsloth<=2024.9.post4, xformers==0.0.27, torch==2.3.1" in out
