"""A fresh interpreter proves the fast paths (``--help``, ``detect``, ``check``) import no heavy module, even where torch is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("torch", "httpx", "tomlkit", "jax", "jaxlib", "triton", "xformers", "numpy", "uv")

_PROBE = """
import contextlib, io, json, sys
from attnlock.cli import main
argv = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    rc = main(argv)
forbidden = set(json.loads(sys.argv[2]))
print(json.dumps({"rc": rc, "heavy": sorted(m for m in sys.modules if m.split('.')[0] in forbidden)}))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNLOCK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("argv", [["--help"], ["detect"], ["detect", "--json"], ["detect", "--help"]],
                         ids=lambda a: " ".join(a))
def test_fast_path_imports_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    env = _env()
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(FORBIDDEN)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0
    assert report["heavy"] == []


#: ``check`` resolves the file's ranges with attnlock's own resolver (resolvelib, a small pure-Python
#: core dependency: it is allowed), never through pip or setuptools.
CHECK_FORBIDDEN = (*FORBIDDEN, "pip", "setuptools")


@pytest.mark.parametrize("files", [["requirements.txt"], ["requirements.txt", "pyproject.toml"]],
                         ids=lambda f: " ".join(f))
def test_check_file_imports_nothing_heavy(files: list[str], tmp_path: Path) -> None:
    """``attnlock check FILE`` against the shipped database (the pre-commit hook's path)."""
    (tmp_path / "requirements.txt").write_text("torch==2.3.0\nxformers==0.0.27\ntriton==2.3.0\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\ndependencies = ["torch>=2.9", "flash-attn==2.8.3+cu128torch2.11"]\n'
        '[[tool.uv.index]]\nname = "cu128"\nurl = "https://download.pytorch.org/whl/cu128"\n')
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(["check", *files]), json.dumps(CHECK_FORBIDDEN)],
                            capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rc"] == 1  # the files are broken: the rules ran
    assert report["heavy"] == []


def test_the_probe_would_see_a_heavy_import(tmp_path: Path) -> None:
    """Guard against a vacuous pass: importing a forbidden module inside the probe is reported."""
    probe = _PROBE.replace("rc = main(argv)", "rc = main(argv); import json as _j, email.parser")
    result = subprocess.run([sys.executable, "-c", probe, json.dumps(["--help"]), json.dumps(["email"])],
                            capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60, check=False)
    assert json.loads(result.stdout.strip().splitlines()[-1])["heavy"] != []
