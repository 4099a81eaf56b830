"""`attnlock install` / `activate` in real virtualenvs against local indexes, with the real pip and uv.

The environment holds torch 2.3.0 (+cu121 per its version.py, as real builds have). The index
also offers torch 2.3.1 and xformers 0.0.27 (which pins torch==2.3.1), so a plain install of
xformers replaces the user's torch; attnlock's install must not. The database is the resolver's
fixture database (tests/fixtures/resolver/db), whose facts mirror these releases.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import packaging
import pytest
import resolvelib
import tomlkit

from tests.support.index import write_simple_index
from tests.support.installers import find_uv
from tests.support.wheels import build_wheel

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DB = ROOT / "tests" / "fixtures" / "resolver" / "db"

pytestmark = pytest.mark.slow


def _torch(wheels: Path, version: str) -> Path:
    version_py = f"__version__ = '{version}'\ndebug = False\ncuda = '12.1'\ngit_version = '0'\nhip = None\n"
    return build_wheel(wheels, "torch", version, extra_files={"torch/version.py": version_py.encode()})


def _index(tmp: Path, xformers_026_torch: str = "2.3.0") -> Path:
    wheels = tmp / "wheels"
    files = [
        _torch(wheels, "2.3.0"),
        _torch(wheels, "2.3.1"),
        build_wheel(wheels, "xformers", "0.0.26.post1", requires_dist=[f"torch=={xformers_026_torch}"]),
        build_wheel(wheels, "xformers", "0.0.27", requires_dist=["torch==2.3.1"]),
    ]
    return write_simple_index(tmp / "index", files)


def _pythonpath(tmp: Path) -> Path:
    """attnlock and its dependencies for the venv's interpreter, and nothing else of this one."""
    pp = tmp / "pp"
    pp.mkdir()
    for name, where in [("attnlock", ROOT / "attnlock"), ("packaging", Path(packaging.__file__).parent),
                        ("resolvelib", Path(resolvelib.__file__).parent), ("tomlkit", Path(tomlkit.__file__).parent)]:
        (pp / name).symlink_to(where, target_is_directory=True)
    return pp


def _venv(tmp: Path, name: str, index: Path, env: dict[str, str]) -> str:
    venv = tmp / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-cache-dir", "torch==2.3.0"], check=True, env=env,
                   timeout=300)
    return py


def _database(tmp: Path) -> Path:
    """The resolver's fixture database cut down to what the local index serves (no judgements)."""
    db = tmp / "data"
    shutil.copytree(FIXTURE_DB, db)
    (db / "curated" / "known_bad.toml").unlink()
    shutil.copy(ROOT / "data" / "curated" / "signatures.toml", db / "curated" / "signatures.toml")
    keep = {"torch": {"2.3.0", "2.3.1"}, "xformers": {"0.0.26.post1", "0.0.27"}}
    for name, versions in keep.items():
        path = db / "derived" / f"{name}.json"
        doc = json.loads(path.read_text())
        doc["releases"] = {v: r for v, r in doc["releases"].items() if v in versions}
        path.write_text(json.dumps(doc))
    return db


def _env(tmp: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "ATTNLOCK_")) and k != "VIRTUAL_ENV"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.as_uri(), PIP_DISABLE_PIP_VERSION_CHECK="1",
               UV_NO_CONFIG="1", UV_INDEX_URL=index.as_uri(), UV_CACHE_DIR=str(tmp / "uv-cache"),
               PYTHONNOUSERSITE="1", PYTHONPATH=str(_pythonpath(tmp)), ATTNLOCK_DATA_DIR=str(_database(tmp)),
               ATTNLOCK_GPU="any", ATTNLOCK_CUDA_DRIVER="any", NO_COLOR="1")
    return env


def _installed(py: str, env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run([py, "-m", "pip", "list", "--format", "json"], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return {d["name"]: d["version"] for d in json.loads(out)}


def _attnlock(py: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([py, "-m", "attnlock", *args], env=env, capture_output=True, text=True, timeout=600)


def test_install_keeps_torch_where_plain_pip_replaces_it(tmp_path: Path) -> None:
    index = _index(tmp_path)
    env = _env(tmp_path, index)
    py = _venv(tmp_path, "venv", index, env)

    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    dry = _attnlock(py, {**env, "TMPDIR": str(tmpdir)}, "install", "--dry-run", "xformers")
    assert dry.returncode == 0, dry.stderr
    assert "running: " in dry.stderr and "--dry-run" in dry.stderr and "-c " in dry.stderr
    # pip's own progress is streamed (not --quiet), on stderr: stdout carries the result only.
    assert "--quiet" not in dry.stderr and "Would install xformers-0.0.26.post1" in dry.stderr
    assert dry.stdout.split() == ["xformers==0.0.26.post1"]
    assert not list(tmpdir.glob("attnlock-install-*"))  # its temporary plan is gone
    assert "xformers" not in _installed(py, env)  # a dry run changes nothing

    res = _attnlock(py, env, "install", "--no-verify", "xformers")
    assert res.returncode == 0, res.stderr
    assert _installed(py, env)["torch"] == "2.3.0"
    assert _installed(py, env)["xformers"] == "0.0.26.post1"

    # The same request, plain: pip takes the newest xformers and replaces the user's torch.
    subprocess.run([py, "-m", "pip", "uninstall", "-q", "-y", "xformers"], check=True, env=env, timeout=120)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-cache-dir", "xformers"], check=True, env=env, timeout=300)
    assert _installed(py, env)["xformers"] == "0.0.27"
    assert _installed(py, env)["torch"] == "2.3.1"


@pytest.mark.skipif(find_uv() is None, reason="uv is not installed (pip install uv)")
def test_install_with_uv_keeps_torch_where_plain_uv_replaces_it(tmp_path: Path) -> None:
    index = _index(tmp_path)
    env = _env(tmp_path, index)
    env["PATH"] = str(Path(find_uv() or "").parent) + os.pathsep + env.get("PATH", "")
    py = _venv(tmp_path, "venv", index, env)
    res = _attnlock(py, env, "install", "--uv", "--no-verify", "xformers")
    assert res.returncode == 0, res.stderr
    assert "uv pip install --python" in res.stderr.replace(find_uv() or "uv", "uv")
    assert _installed(py, env)["torch"] == "2.3.0"
    assert _installed(py, env)["xformers"] == "0.0.26.post1"
    uv = find_uv() or "uv"
    subprocess.run([uv, "pip", "uninstall", "--python", py, "xformers"], check=True, env=env, timeout=120,
                   capture_output=True)
    subprocess.run([uv, "pip", "install", "--python", py, "xformers"], check=True, env=env, timeout=300,
                   capture_output=True)
    assert _installed(py, env)["xformers"] == "0.0.27"
    assert _installed(py, env)["torch"] == "2.3.1"


def test_conflict_is_explained_before_any_installer_runs(tmp_path: Path) -> None:
    index = _index(tmp_path)
    env = _env(tmp_path, index)
    py = _venv(tmp_path, "venv", index, env)
    res = _attnlock(py, env, "install", "xformers==0.0.27")
    assert res.returncode == 1
    assert "running:" not in res.stderr  # no installer ran
    assert "torch 2.3.1 would work" in res.stderr and "--allow-torch-change" in res.stderr
    assert "Traceback" not in res.stderr
    assert _installed(py, env)["torch"] == "2.3.0"
    # Asked for, the change is made.
    res = _attnlock(py, env, "install", "--no-verify", "--allow-torch-change", "xformers==0.0.27")
    assert res.returncode == 0, res.stderr
    assert _installed(py, env)["torch"] == "2.3.1"


def test_failing_install_exits_nonzero_with_a_diagnosis(tmp_path: Path) -> None:
    """The index disagrees with the database (xformers 0.0.26.post1 re-published pinning torch 2.3.1):
    pip's resolution fails and its error goes through diagnose."""
    index = _index(tmp_path, xformers_026_torch="2.3.1")
    env = _env(tmp_path, index)
    py = _venv(tmp_path, "venv", index, env)
    res = _attnlock(py, env, "install", "--no-verify", "xformers")
    assert res.returncode == 1
    assert "running:" in res.stderr
    assert "diagnosis [pip-resolution-impossible]" in res.stderr
    assert "Traceback" not in res.stderr
    assert _installed(py, env)["torch"] == "2.3.0"
    assert "xformers" not in _installed(py, env)


def test_activate_guards_plain_pip_and_prints_uv_line(tmp_path: Path) -> None:
    index = _index(tmp_path)
    env = _env(tmp_path, index)
    py = _venv(tmp_path, "venv", index, env)
    # pip must read the environment's own pip.conf: no PIP_CONFIG_FILE=devnull here, and the
    # machine's global configuration hidden behind an empty XDG_CONFIG_DIRS.
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    (tmp_path / "xdg").mkdir()
    genv = {**env, "PIP_CONFIG_FILE": str(empty), "XDG_CONFIG_DIRS": str(tmp_path / "xdg")}
    res = _attnlock(py, genv, "activate", "--with", "torch,xformers")
    assert res.returncode == 0, res.stderr
    venv = Path(py).parent.parent
    assert res.stdout.strip() == f"export UV_CONSTRAINT={venv / 'attnlock' / 'constraints.txt'}"
    constraints = (venv / "attnlock" / "constraints.txt").read_text()
    assert "torch==2.3.0" in constraints and "xformers==0.0.26.post1" in constraints
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-cache-dir", "xformers"], check=True, env=genv,
                   timeout=300)
    assert _installed(py, genv)["torch"] == "2.3.0"
    assert _installed(py, genv)["xformers"] == "0.0.26.post1"
    res = _attnlock(py, genv, "deactivate")
    assert res.returncode == 0 and res.stdout.strip() == "unset UV_CONSTRAINT"
    assert not (venv / "pip.conf").exists() and not (venv / "attnlock").exists()


@pytest.mark.parametrize("installer", ["--pip", "--uv"])
def test_flash_attn_without_a_prebuilt_wheel_offers_the_build(installer: str, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No flash-attn wheel exists for torch 2.11+cu130 (shipped data): the error names the torch that has
    one and the --allow-build way; with it, a dry run shows the build-tools and build commands."""
    from attnlock.cli import main

    if installer == "--uv" and find_uv() is None:
        pytest.skip("uv is not installed")
    monkeypatch.setenv("ATTNLOCK_CUDA_DRIVER", "580.159.04")
    target = ["--torch", "2.11.0", "--cuda", "cu130", "--gpu", "H100", "--python", "3.12"]
    assert main(["install", installer, "--dry-run", *target, "flash-attn"]) == 1
    err = capsys.readouterr().err
    assert "no flash-attn release was built for torch 2.11.0+cu130" in err
    assert "--allow-build flash-attn" in err and "running:" not in err
    assert main(["install", installer, "--dry-run", "--allow-build", "flash-attn", *target, "flash-attn"]) == 0
    out, err = capsys.readouterr()
    generate, tools, build = out.strip().splitlines()
    # The commands name a constraints file the first one writes: the temporary one is gone on exit.
    assert generate.startswith("attnlock generate ") and generate.endswith("-o constraints.txt")
    assert tools.endswith("setuptools wheel packaging psutil ninja") and " -c constraints.txt " in tools
    assert build.endswith("--no-build-isolation flash-attn") and " -c constraints.txt " in build
    assert "compiled from source" in err and "TORCH_CUDA_ARCH_LIST limits the build to sm_90" in err
