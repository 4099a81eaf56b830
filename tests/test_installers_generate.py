"""Proof with the real installers: pip and uv, given attnlock's output, choose exactly the planned
builds — and without it they choose a broken combination.

A local PyPI-like index and a local PyTorch-like index (one simple index per variant, as
``/whl/<variant>/``) are built from stub wheels whose METADATA is the fixture database's
(``tests/fixtures/resolver/db``, which mirrors real releases); flash-attn's labelled GitHub
wheels are plain files beside them.  The database copy the CLI reads names this server instead
of the PyTorch index and GitHub (its ``url_template`` records are data: no code is patched).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from attnlock.database.store import Database
from attnlock.model import Platform, PythonVersion
from tests.support.index import Server, serve, write_simple_index
from tests.support.installers import find_uv, installer_env, pip_argv, pip_cache_args, uv_cache_args
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.slow

FIXTURE_DB = Path(__file__).parent / "fixtures" / "resolver" / "db"
ROOT = Path(__file__).resolve().parent.parent
PY = PythonVersion(sys.version_info[0], sys.version_info[1])
LINUX = Platform("linux", "x86_64")
TIMEOUT = 180


@dataclass
class World:
    server: Server
    db_dir: Path
    gh_dir: Path
    tmp: Path

    @property
    def pypi(self) -> str:
        return f"{self.server.url}/pypi/"

    def index(self, variant: str) -> str:
        return f"{self.server.url}/whl/{variant}/"


def _runs_here(filename: str) -> bool:
    tags = parse_wheel_filename(filename)[3]
    return any((t.interpreter in (PY.cp_tag, "py3", f"py{PY.major}{PY.minor}", "py39")
                or (t.abi == "abi3" and t.interpreter.startswith("cp3") and int(t.interpreter[3:]) <= PY.minor))
               and (t.platform == "any" or t.platform.endswith("x86_64")) for t in tags)


def _tags(filename: str) -> tuple[str, str, str]:
    parts = filename[:-4].split("-")
    return parts[-3], parts[-2], parts[-1]


def _build_world(tmp: Path) -> tuple[Path, Path, Path]:
    """(server root, database copy, flash-attn wheel dir): every stub mirrors the fixture database."""
    if sys.platform != "linux" or PY.cp_tag not in ("cp310", "cp311", "cp312"):
        pytest.skip("the stub wheels are tagged for CPython 3.10-3.12 on linux-x86_64")
    db = Database(FIXTURE_DB)
    root, build = tmp / "srv", tmp / "build"
    pypi: list[Path] = []
    names_needed: dict[str, set[str]] = {}
    for name in db.packages():
        for rel in db.releases(name):
            rec = rel.metadata_for(LINUX)
            deps = rec.requires_dist if rec else ()
            for f in rel.wheels():
                if not _runs_here(f.filename):
                    continue
                pypi.append(build_wheel(build / "pypi", name, str(rel.version), tags=_tags(f.filename),
                                        requires_dist=deps, requires_python=str(rel.requires_python or "") or None))
                for d in deps:
                    r = Requirement(d)
                    pins = {s.version for s in r.specifier if s.operator == "=="}
                    names_needed.setdefault(str(canonicalize_name(r.name)), set()).update(pins)
    # Dependencies the database does not cover (filelock, numpy, cuda-toolkit's nvidia-cublas …):
    # plain stubs without dependencies, at every version something pins and at 99.0.
    for dep, pins in sorted(names_needed.items()):
        if dep in db.packages():
            continue
        for version in sorted(pins | {"99.0"}):
            pypi.append(build_wheel(build / "pypi", dep, version))
    write_simple_index(root / "pypi", pypi)
    # The PyTorch index: builds with a local label per variant, as download.pytorch.org/whl/<variant>.
    per_variant: dict[str, list[Path]] = {}
    cp = (PY.cp_tag, PY.cp_tag, "manylinux2014_x86_64")
    for rel in db.releases("torch"):
        tv = db.torch_variants(rel.version)
        rec = rel.metadata_for(LINUX)
        if tv is None or rec is None or not rel.has_wheel_for(LINUX, PY):
            continue
        for variant in tv.index:
            deps = [d for d in rec.requires_dist if variant == tv.pypi or not
                    (d.startswith(("nvidia-", "cuda-toolkit")) or (not variant.is_cuda and d.startswith("triton")))]
            per_variant.setdefault(variant.label, []).append(
                build_wheel(build / variant.label, "torch", f"{rel.version}+{variant.label}", tags=cp,
                            requires_dist=deps))
    for rel in db.releases("xformers"):
        from attnlock.compat import model_for

        for b in model_for(db).xformers_builds(rel):
            if b.origin != "index" or b.index is None:
                continue
            per_variant.setdefault(b.index, []).append(
                build_wheel(build / b.index, "xformers", f"{rel.version}+{b.label or b.index}", tags=cp,
                            requires_dist=["numpy", f"torch=={b.built_for.public}"]))
    for variant, files in per_variant.items():
        write_simple_index(root / "whl" / variant, files)
    # flash-attn's GitHub release wheels, under the exact (upper-case ABI) names the matrix gives.
    gh = root / "gh"
    for w in db.flash_attn_wheels("flash-attn"):
        if w.python != PY.cp_tag or w.platform != "linux-x86_64":
            continue
        made = build_wheel(build / "gh", "flash-attn", f"{w.version}+{w.local_label}",
                           tags=(w.python, w.python, "linux_x86_64"), requires_dist=["torch"])
        dest = gh / f"v{w.version}" / w.filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(made, dest)
    return root, build, gh


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("installers")
    root, _build, gh = _build_world(tmp)
    with serve(root) as server:
        db_dir = tmp / "db"
        shutil.copytree(FIXTURE_DB, db_dir)
        torch_toml = db_dir / "curated" / "torch.toml"
        torch_toml.write_text(torch_toml.read_text().replace(
            "https://download.pytorch.org/whl/{variant}", f"{server.url}/whl/{{variant}}/"))
        fa = db_dir / "curated" / "flash_attn.toml"
        fa.write_text(fa.read_text().replace(
            "https://github.com/Dao-AILab/flash-attention/releases/download", f"{server.url}/gh"))
        yield World(server, db_dir, gh, tmp)


# ------------------------------------------------------------------ helpers


def attnlock(world: World, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = installer_env({"ATTNLOCK_DATA_DIR": str(world.db_dir), "PYTHONPATH": str(ROOT), **(env_extra or {})})
    return subprocess.run([sys.executable, "-m", "attnlock", "generate", *args], capture_output=True, text=True,
                          env=env, timeout=TIMEOUT, check=False, cwd=world.tmp)


def target_args(torch: str, cuda: str | None = None) -> list[str]:
    args = ["--torch", torch, "--python", str(PY), "--platform", "linux-x86_64", "--gpu", "sm_80",
            "--driver", "none"]
    return args + (["--cuda", cuda] if cuda else [])


def pip_choose(world: World, tmp: Path, *args: str) -> dict[str, Version]:
    """Run pip's resolver for real (dry run, nothing installed) and read what it picked."""
    report = tmp / f"report-{len(list(tmp.glob('report-*')))}.json"
    argv = [*pip_argv(), "install", "--dry-run", "--ignore-installed", "--report", str(report), "--quiet",
            "--index-url", world.pypi, *pip_cache_args(tmp), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    return {str(canonicalize_name(i["metadata"]["name"])): Version(i["metadata"]["version"]) for i in data["install"]}


def uv_choose(world: World, tmp: Path, requirements: str, *args: str) -> dict[str, Version]:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (pip install uv)")
    req = tmp / f"req-{len(list(tmp.glob('req-*')))}.in"
    req.write_text(requirements)
    argv = [uv, "pip", "compile", str(req), "--quiet", "--no-header", "--no-annotate", "--index-url", world.pypi,
            "--python-version", str(PY), "--python-platform", "x86_64-manylinux_2_28", *uv_cache_args(tmp), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Version] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        req_ = Requirement(line)
        if req_.url:
            out[str(canonicalize_name(req_.name))] = Version(parse_wheel_filename(req_.url.rsplit("/", 1)[1])[1].public
                                                             + "+" + str(parse_wheel_filename(
                                                                 req_.url.rsplit("/", 1)[1])[1].local))
        else:
            out[str(canonicalize_name(req_.name))] = Version(str(req_.specifier).lstrip("="))
    return out


def planned(world: World, *args: str) -> dict[str, Version]:
    proc = attnlock(world, *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    out = {n: Version(s.lstrip("=")) for n, s in data["pins"].items()}
    for name, url in data["urls"].items():
        out[name] = parse_wheel_filename(url.rsplit("/", 1)[1])[1]
    return out


def flash_label(v: Version) -> str:
    return str(v.local)


# ------------------------------------------------------------------ tests


def test_pip_with_constraints_installs_the_planned_pytorch_index_builds(world: World, tmp_path: Path) -> None:
    args = target_args("2.3.1", "cu118")
    with_ = ["--with", "torch,xformers,flash-attn"]
    plan = planned(world, *args, *with_)
    assert plan["torch"] == Version("2.3.1+cu118") and plan["xformers"] == Version("0.0.27+cu118")
    assert flash_label(plan["flash-attn"]) == "cu118torch2.3cxx11abifalse"
    c = tmp_path / "constraints.txt"
    proc = attnlock(world, *args, *with_, "-o", str(c))
    assert proc.returncode == 0, proc.stderr
    text = c.read_text()
    assert "--index-url" not in text.replace("--extra-index-url", "") and world.index("cu118") in text

    chosen = pip_choose(world, tmp_path, "-c", str(c), "torch", "xformers", "flash-attn")
    for name in ("torch", "xformers", "triton", "flash-attn"):
        assert chosen[name] == plan[name], (name, chosen[name], plan[name])

    # Without attnlock: the same request with the same indexes takes the highest flash-attn label,
    # built for another torch, and pip's own check does not notice.
    blind = pip_choose(world, tmp_path, "--extra-index-url", world.index("cu118"), "--find-links",
                       str(world.gh_dir / "v2.6.3"), "torch==2.3.1+cu118", "xformers==0.0.27+cu118",
                       "flash-attn")
    assert blind["torch"] == Version("2.3.1+cu118")
    assert flash_label(blind["flash-attn"]) != flash_label(plan["flash-attn"])
    assert "torch2.4" in flash_label(blind["flash-attn"])


def test_pip_without_attnlock_moves_torch_for_the_newest_xformers(world: World, tmp_path: Path) -> None:
    args = target_args("2.3.1")
    c = tmp_path / "constraints.txt"
    proc = attnlock(world, *args, "--with", "torch,xformers", "-o", str(c))
    assert proc.returncode == 0, proc.stderr
    chosen = pip_choose(world, tmp_path, "-c", str(c), "xformers")
    assert (chosen["torch"], chosen["xformers"], chosen["triton"]) == (
        Version("2.3.1"), Version("0.0.27"), Version("2.3.1"))
    blind = pip_choose(world, tmp_path, "xformers")
    # pip takes the newest xformers and the newest torch its metadata admits: 0.0.35 on torch
    # 2.11.0, although 0.0.35's extension was built for torch 2.10.0+cu128 (its cpp_lib.json).
    assert blind["xformers"] == Version("0.0.35") and blind["torch"] == Version("2.11.0")


def test_latest_torch_is_the_newest_with_a_matching_xformers_build(world: World, tmp_path: Path) -> None:
    args = target_args("latest")
    plan = planned(world, *args, "--with", "torch,xformers")
    assert (plan["torch"], plan["xformers"]) == (Version("2.10.0"), Version("0.0.35"))
    c = tmp_path / "c.txt"
    assert attnlock(world, *args, "--with", "torch,xformers", "-o", str(c)).returncode == 0
    chosen = pip_choose(world, tmp_path, "-c", str(c), "torch", "xformers")
    assert (chosen["torch"], chosen["xformers"]) == (Version("2.10.0"), Version("0.0.35"))
    chosen = uv_choose(world, tmp_path, "torch\nxformers\n", "-c", str(c))
    assert (chosen["torch"], chosen["xformers"]) == (Version("2.10.0"), Version("0.0.35"))
    blind = uv_choose(world, tmp_path, "torch\nxformers\n")
    assert blind["torch"] == Version("2.11.0")


def test_uv_pip_compile_with_constraints(world: World, tmp_path: Path) -> None:
    args = target_args("2.3.1", "cu118")
    with_ = ["--with", "torch,xformers,flash-attn"]
    plan = planned(world, *args, *with_)
    c = tmp_path / "constraints.txt"
    assert attnlock(world, *args, *with_, "-o", str(c)).returncode == 0
    chosen = uv_choose(world, tmp_path, "torch\nxformers\nflash-attn\n", "-c", str(c))
    for name in ("torch", "xformers", "triton", "flash-attn"):
        assert chosen[name] == plan[name], (name, chosen[name], plan[name])
    blind = uv_choose(world, tmp_path, "torch==2.3.1+cu118\nxformers==0.0.27+cu118\nflash-attn\n",
                      "--extra-index-url", world.index("cu118"), "--find-links", str(world.gh_dir / "v2.6.3"))
    assert "torch2.4" in flash_label(blind["flash-attn"])


def test_uv_lock_with_the_generated_pyproject(world: World, tmp_path: Path) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (pip install uv)")
    project = tmp_path / "demo"
    project.mkdir()
    pyproject = project / "pyproject.toml"
    original = (
        "[project]\n"
        'name = "demo"\n'
        'version = "0.1.0"\n'
        f'requires-python = "=={PY}.*"\n'
        'dependencies = ["torch", "xformers", "flash-attn"]\n'
        "\n"
        "# the user's own settings stay as they are\n"
        "[tool.uv]\n"
        "environments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
    )
    pyproject.write_text(original)
    args = target_args("2.3.1", "cu118")
    proc = attnlock(world, *args, "--with", "torch,xformers,flash-attn", "--pyproject", str(pyproject))
    assert proc.returncode == 0, proc.stderr
    text = pyproject.read_text()
    assert text.startswith(original.rstrip("\n").rsplit("\n", 1)[0]) and "explicit = true" in text
    lock = subprocess.run([uv, "lock", "--default-index", world.pypi, *uv_cache_args(tmp_path)], cwd=project,
                          capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=False)
    assert lock.returncode == 0, lock.stderr
    locked = (project / "uv.lock").read_text()
    pkgs = dict(re.findall(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', locked))
    assert pkgs["torch"] == "2.3.1+cu118" and pkgs["xformers"] == "0.0.27+cu118" and pkgs["triton"] == "2.3.1"
    assert world.index("cu118").rstrip("/") in locked
    assert pkgs["flash-attn"].lower() == "2.6.3+cu118torch2.3cxx11abifalse"
    assert f"{world.server.url}/gh/v2.6.3/flash_attn-2.6.3+cu118torch2.3cxx11abiFALSE-{PY.cp_tag}" in locked
    # Without attnlock's settings uv locks the newest xformers and the torch its metadata admits.
    pyproject.write_text(original.replace(', "flash-attn"', ""))
    (project / "uv.lock").unlink()
    lock = subprocess.run([uv, "lock", "--default-index", world.pypi, *uv_cache_args(tmp_path)], cwd=project,
                          capture_output=True, text=True, env=installer_env(), timeout=TIMEOUT, check=False)
    assert lock.returncode == 0, lock.stderr
    pkgs = dict(re.findall(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"',
                           (project / "uv.lock").read_text()))
    assert (pkgs["torch"], pkgs["xformers"]) == ("2.11.0", "0.0.35")


def test_validate_runs_the_real_uv_against_the_configured_index(world: World, tmp_path: Path) -> None:
    if find_uv() is None:
        pytest.skip("uv is not installed (pip install uv)")
    args = target_args("2.3.1", "cu118")
    ok = attnlock(world, *args, "--with", "torch,xformers", "--validate",
                  env_extra={"ATTNLOCK_INDEX_URL": world.pypi})
    assert ok.returncode == 0, ok.stderr
    assert "validated" in ok.stderr
    # An index without the planned builds: uv cannot resolve, and attnlock says so (exit 1).
    empty = tmp_path / "empty-index"
    write_simple_index(empty, [build_wheel(tmp_path / "w", "six", "1.0")])
    bad = attnlock(world, *args, "--with", "torch,xformers", "--validate", "--index-url", empty.as_uri())
    assert bad.returncode == 1 and "uv could not resolve" in bad.stderr


def test_vllm_constraints_keep_the_users_torch_with_pip_and_uv(world: World, tmp_path: Path) -> None:
    """vllm pins torch exactly (the fixture's vllm.json keeps only its requirements on the attention stack):
    planned for torch 2.3.1, the constraints make pip and uv take the vllm
    release that pins 2.3.1 (and its xformers); without them both take the newest vllm and move torch."""
    args = target_args("2.3.1")
    plan = planned(world, *args, "--with", "vllm")
    assert (plan["vllm"], plan["torch"], plan["xformers"]) == (Version("0.5.3.post1"), Version("2.3.1"),
                                                             Version("0.0.27"))
    c = tmp_path / "constraints.txt"
    assert attnlock(world, *args, "--with", "vllm", "-o", str(c)).returncode == 0
    for chosen in (pip_choose(world, tmp_path, "-c", str(c), "vllm"), uv_choose(world, tmp_path, "vllm\n", "-c", str(c))):
        for name in ("vllm", "torch", "xformers", "torchvision"):
            assert chosen[name] == plan[name], (name, chosen[name], plan[name])
    blind = pip_choose(world, tmp_path, "vllm")
    assert (blind["vllm"], blind["torch"]) == (Version("0.6.3.post1"), Version("2.4.0"))
