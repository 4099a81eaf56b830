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
    assert "unsloth-xformers-0.0.27-torch-2.3.1\n  status: known-bad" in out
    assert "  packages: unsloth<=2024.9.post4, xformers==0.0.27, torch==2.3.1" in out


# ---------------------------------------------------------------- point 6: install cleans up, streams


def _install_args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = dict(command="install", installer="pip", dry_run=True, packages=["xformers"],
                                   allow_build=None, yes=False, no_verify=True, timeout=60.0,
                                   allow_torch_change=False)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.mark.parametrize("outcome", ["ok", "fail", "error", "interrupt"])
def test_install_removes_its_temporary_directory_on_every_exit_path(
        outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import tempfile

    from attnlock.commands import install
    from attnlock.errors import ToolError
    from attnlock.install import runner
    from attnlock.model import Plan, Target

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(PythonEnvironment, "current", classmethod(lambda cls: _env(tmp_path / "env")))
    monkeypatch.setattr(install, "plan_for_environment", lambda args, names: (Target(), Plan(Target(), ()), None))
    monkeypatch.setattr(install, "_diagnose", lambda *a: None)
    seen: list[list[str]] = []

    def fake(argv: list[str], **kw: object) -> runner.RunResult:
        seen.append(list(argv))
        assert list(tmp_path.glob("attnlock-install-*/constraints.txt"))  # the plan exists while it runs
        if outcome == "error":
            raise ToolError("pip did not finish")
        if outcome == "interrupt":
            raise KeyboardInterrupt
        if outcome == "ok":
            report = Path(argv[argv.index("--report") + 1])
            report.write_text('{"install": [{"metadata": {"name": "xformers", "version": "0.0.27"}}]}')
        return runner.RunResult(tuple(argv), 0 if outcome == "ok" else 1, "", 0.1)

    monkeypatch.setattr(runner, "run_installer", fake)
    if outcome in ("error", "interrupt"):
        with pytest.raises((ToolError, KeyboardInterrupt)):
            install.run(_install_args())
    else:
        assert install.run(_install_args()) == (0 if outcome == "ok" else 1)
    assert seen and "--quiet" not in seen[0] and "--dry-run" in seen[0]
    assert not list(tmp_path.glob("attnlock-install-*"))
    if outcome == "ok":
        assert capsys.readouterr().out == "xformers==0.0.27\n"


def test_runner_streams_the_installers_output(tmp_path: Path) -> None:
    from attnlock.install.runner import run_installer

    echo = io.StringIO()
    code = "import sys; print('Collecting xformers', flush=True); print('Would install x', file=sys.stderr)"
    result = run_installer([sys.executable, "-c", code], echo=echo, timeout=60)
    assert result.returncode == 0
    assert "Collecting xformers" in echo.getvalue() and "Would install x" in echo.getvalue()


# ---------------------------------------------------------------- points 6-7: verify, db refresh


def _verify(monkeypatch: pytest.MonkeyPatch, checks: list[dict[str, object]], *, tty: bool = False,
            gpus: list[object] | None = None) -> None:
    from attnlock.commands import verify
    from attnlock.verify import verifier

    env_json: dict[str, object] = {"gpus": [] if gpus is None else gpus}
    monkeypatch.setattr(verify, "environment", lambda: (env_json, None))
    monkeypatch.setattr(verifier, "default_diagnoser", lambda target=None: None)

    def fake_run_verify(**kw: object) -> verifier.Report:
        progress = kw.get("progress")
        assert (progress is not None) is tty
        return verifier.Report(checks=[dict(c) for c in checks], environment=env_json, seconds=0.1)

    monkeypatch.setattr(verifier, "run_verify", fake_run_verify)
    err = _Tty() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)


def _skip(package: str, reason: str) -> dict[str, object]:
    return {"package": package, "check": "import", "device": "-", "status": "skip", "reason": reason,
            "ms": None, "tflops": None, "max_abs_err": None, "error": None}


def test_verify_with_nothing_to_check_says_so_and_exits_4(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from attnlock.cli import EXIT_NOTHING_VERIFIED

    checks = [_skip(p, f"not installed: no distribution {p}") for p in ("torch", "xformers", "flash-attn")]
    _verify(monkeypatch, checks)
    assert main(["verify"]) == EXIT_NOTHING_VERIFIED == 4
    err = sys.stderr.getvalue()  # type: ignore[attr-defined]
    assert "nothing was verified" in err and "no NVIDIA GPU was found" in err and "flash-attn, torch, xformers" in err
    capsys.readouterr()
    _verify(monkeypatch, checks)
    assert main(["verify", "--json"]) == 4
    data = json.loads(capsys.readouterr().out)
    assert "nothing was verified" not in data and "skipped" in data["nothing_verified"]


def test_verify_that_checked_something_keeps_0_and_1(monkeypatch: pytest.MonkeyPatch) -> None:
    passed = {**_skip("torch", ""), "status": "pass", "reason": None}
    _verify(monkeypatch, [passed, _skip("xformers", "not installed")])
    assert main(["verify"]) == 0
    failed = {**passed, "status": "fail", "error": "boom"}
    _verify(monkeypatch, [failed])
    assert main(["verify"]) == 1


def test_verify_announces_itself_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    passed = {**_skip("torch", ""), "status": "pass", "reason": None}
    _verify(monkeypatch, [passed], tty=True)
    assert main(["verify"]) == 0
    assert "attnlock verify: running the checks" in sys.stderr.getvalue()  # type: ignore[attr-defined]
    _verify(monkeypatch, [passed], tty=False)
    assert main(["verify"]) == 0
    assert sys.stderr.getvalue() == ""  # type: ignore[attr-defined]


def test_db_refresh_progress_draws_on_a_terminal_only() -> None:
    from attnlock.refresh.report import Progress

    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        progress = Progress(stream)
        progress.start("xformers", 3)
        progress.tick()
        progress.finish()
    assert "refresh xformers: 1/3 wheels read" in tty.getvalue() and pipe.getvalue() == ""


def test_exit_status_4_is_documented() -> None:
    contract = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert "4 verify checked nothing" in contract.replace("·", "").replace("  ", " ") or "`4`" in contract
    assert "4" in README.split("Exit codes:")[1].split("\n\n")[0]


# ---------------------------------------------------------------- point 8: README recipes


def test_readme_recipes_name_nothing_outside_the_repository() -> None:
    assert "OWNER" not in README and "../shared" not in README and "shared notes" not in README
    # The Colab cell installs the wheel built from the clone; the PyPI form is only mentioned for later.
    colab = README.split("**A Colab notebook**")[1].split("## ")[0]
    cell = colab.split("```python")[1].split("```")[0]
    assert "pip -q install attnlock-0.1.0-py3-none-any.whl" in cell and "pip -q install attnlock " not in cell
    assert "python -m pip wheel --no-deps -w dist ." in colab
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
    assert "[docs/CLI.md](docs/CLI.md)" in README
    contract = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert "shared" not in contract and "check --json" in contract and "4 verify checked nothing" in contract


@pytest.mark.slow
def test_colab_recipe_installs_the_built_wheel_and_activates(tmp_path: Path) -> None:
    """The README's Colab cell, on a fresh virtual environment: the wheel built the way the README
    says, installed from the file, then `attnlock activate` for a Colab-like target."""
    import os
    import subprocess

    from tests.support.installers import installer_env

    pytest.importorskip("hatchling")
    wheelhouse = os.environ.get("ATTNLOCK_TEST_WHEELHOUSE") or str(ROOT / ".wheelhouse")
    if not Path(wheelhouse).is_dir():
        pytest.skip("no local wheelhouse with attnlock's dependencies (scripts/test makes one)")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, env=installer_env(), timeout=300)
    wheel = dist / "attnlock-0.1.0-py3-none-any.whl"
    assert wheel.is_file()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = installer_env({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheelhouse})
    subprocess.run([py, "-m", "pip", "install", "-q", str(wheel)], check=True, env=env, timeout=300)
    colab = {"ATTNLOCK_TORCH": "2.3.0", "ATTNLOCK_CUDA": "cu121", "ATTNLOCK_GPU": "T4",
             "ATTNLOCK_CUDA_DRIVER": "535.104.05", "HOME": str(tmp_path)}
    res = subprocess.run([str(venv / "bin" / "attnlock"), "activate", "--with", "torch,torchvision,torchaudio,xformers"],
                         capture_output=True, text=True, env={**env, **colab}, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("export UV_CONSTRAINT=")
    constraints = (venv / "attnlock" / "constraints.txt").read_text()
    assert "torch==2.3.0" in constraints and "xformers==" in constraints
