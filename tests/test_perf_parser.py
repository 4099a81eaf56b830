"""The lazily built CLI parser behaves exactly as the full one: every command's options, help and errors."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnlock.cli import COMMANDS, build_parser, command_in, main

REPO = Path(__file__).resolve().parent.parent


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[int | None, str, str, dict[str, object]]:
    """(exit code or None, stdout, stderr, namespace) of one parse."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = parser.parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue(), {}
    return None, out.getvalue(), err.getvalue(), vars(ns)


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_help_lists_every_command() -> None:
    rc, out, err = _run_main(["--help"])
    assert rc == 0 and err == ""
    for name, (help_line, _) in COMMANDS.items():
        assert f"    {name} " in out, name
        assert help_line.split()[0] in out
    assert out == _parse(build_parser(), ["--help"])[1]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_help_is_the_full_parsers(name: str) -> None:
    rc, out, err = _run_main([name, "--help"])
    full = _parse(build_parser(), [name, "--help"])
    assert (rc, out) == (full[0], full[1])
    assert f"usage: attnlock {name}" in out
    assert COMMANDS[name][0].split()[0] in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_lazy_parser_builds_every_option_of_the_chosen_command(name: str) -> None:
    """Parsing ``CMD`` alone gives the same namespace (every option's dest and default) or the same error."""
    for argv in ([name], ["-v", name], ["--verbose", name]):
        lazy = _parse(build_parser(argv), argv)
        full = _parse(build_parser(), argv)
        assert lazy == full, argv
    code, _, _, ns = _parse(build_parser([name]), [name])
    if code is None:
        assert ns["command"] == name


@pytest.mark.parametrize("argv", [
    ["detect", "--json", "--all-tags"],
    ["-v", "check", "a.txt", "b.txt", "--format", "sarif", "--fix", "--torch", "2.3.1", "--cuda", "cu121"],
    ["check", "--python", "3.10", "--platform", "linux-x86_64", "--gpu", "sm_80", "--driver", "535.104.05"],
    ["diagnose", "log.txt", "--json", "--gpu", "T4"],
    ["verify", "--only", "xformers", "--all-gpus", "--timeout", "5", "--json"],
    ["db", "show", "xformers", "0.0.27", "--json"],
    ["db", "--data-dir", "d", "validate", "--json"],
    ["db", "refresh", "--check", "--package", "torch", "--workers", "2"],
    ["generate", "--torch", "2.3.1", "--cuda", "cu121"],
    ["deactivate", "--shell", "fish"],
    ["check", "detect"],  # a file named like a command: check is the command
    ["detect", "--bogus"],
    ["check", "--format", "yaml"],
    ["bogus"],
    ["--version"],
    [],
], ids=lambda a: " ".join(a) or "(none)")
def test_lazy_and_full_parsers_agree(argv: list[str]) -> None:
    assert _parse(build_parser(argv), argv) == _parse(build_parser(), argv)


def test_options_of_a_command_not_chosen_are_not_built() -> None:
    """The laziness itself: a parser built for detect has only a stub for generate."""
    code, _, err, _ = _parse(build_parser(["detect"]), ["generate", "--torch", "2.3.1"])
    assert code == 2 and "unrecognized arguments: --torch" in err
    assert _parse(build_parser(["generate"]), ["generate", "--torch", "2.3.1"])[0] is None


def test_command_in_skips_global_options() -> None:
    assert command_in(["-v", "check", "detect"]) == "check"
    assert command_in(["--verbose", "db", "show", "torch"]) == "db"
    assert command_in(["--help"]) is None
    assert command_in(["bogus", "detect"]) == "detect"  # still an invalid-choice error: parsers agree
    assert _parse(build_parser(["bogus", "detect"]), ["bogus", "detect"]) == _parse(build_parser(), ["bogus", "detect"])


def test_exit_codes_of_main_are_unchanged() -> None:
    assert _run_main([])[0] == 2
    rc, _, err = _run_main(["bogus"])
    assert rc == 2 and "invalid choice: 'bogus'" in err
    assert _run_main(["--version"])[0] == 0
    assert _run_main(["detect", "--bogus"])[0] == 2


_PROBE = """
import contextlib, io, json, sys
from attnlock.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    rc = main(json.loads(sys.argv[1]))
print(json.dumps({"rc": rc, "modules": sorted(m for m in sys.modules if m.startswith("attnlock"))}))
"""


@pytest.mark.parametrize(("argv", "absent", "present"), [
    (["--help"], ["attnlock.commands.generate", "attnlock.model", "attnlock.refresh.cli"], []),
    (["detect", "--help"], ["attnlock.commands.generate", "attnlock.commands.install", "attnlock.model"], []),
    (["check", "--help"], ["attnlock.commands.generate", "attnlock.commands.lock", "attnlock.refresh.cli"], []),
    (["generate", "--help"], [], ["attnlock.commands.generate"]),  # the probe sees an adder's import
], ids=["--help", "detect --help", "check --help", "generate --help"])
def test_only_the_chosen_commands_adder_imports(argv: list[str], absent: list[str], present: list[str],
                                                tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNLOCK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0
    for module in absent:
        assert module not in report["modules"]
    for module in present:
        assert module in report["modules"]
