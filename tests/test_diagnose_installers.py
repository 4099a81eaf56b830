"""Real pip and uv conflicts over a local index of stub wheels: diagnose them, then prove the fix resolves."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from attnlock.diagnose import diagnose
from attnlock.diagnose.port import FlashAttnWheel, XformersBuild
from tests.support.installers import find_uv, installer_env, pip_cache_args, uv_cache_args
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.slow

# The stub index: what it serves is all the fake database below knows.
WHEELS = {
    ("torch", "2.3.0"): [],
    ("torch", "2.3.1"): [],
    ("xformers", "0.0.26.post1"): ["torch==2.3.0"],
    ("xformers", "0.0.27"): ["torch==2.3.1"],
}


class IndexSource:
    """The diagnosis port answered from the stub index's own metadata."""

    def xformers_builds_for_torch(self, torch: Version) -> list[XformersBuild]:
        out = []
        for (name, version), reqs in sorted(WHEELS.items(), reverse=True):
            if name == "xformers" and Requirement(reqs[0]).specifier.contains(torch.public):
                out.append(XformersBuild(Version(version), Version(torch.public), None, None))
        return out

    def xformers_builds(self, xformers: Version) -> list[XformersBuild]:
        return []

    def index_url(self, variant: str) -> str | None:
        return None

    def releases(self, package: str) -> list[Version]:
        return sorted(Version(v) for n, v in WHEELS if n == package)

    def requirements(self, package: str, version: Version) -> list[Requirement] | None:
        reqs = WHEELS.get((package, str(version)))
        return None if reqs is None else [Requirement(r) for r in reqs]

    def flash_attn_wheels(self, version: Version | None = None) -> list[FlashAttnWheel]:
        return []

    def flash_attn_min_capability(self) -> tuple[int, int] | None:
        return None

    def torch_default_variant(self, torch: Version) -> str | None:
        return None

    def torch_cxx11abi(self, torch: Version, platform: str = "linux-x86_64") -> bool | None:
        return None


@pytest.fixture(scope="module")
def links(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("links")
    for (name, version), reqs in WHEELS.items():
        build_wheel(d, name, version, requires_dist=reqs)
    return d


def _pip(links: Path, tmp: Path, *reqs: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
            "--find-links", str(links), *pip_cache_args(tmp), *reqs]
    return subprocess.run(argv, capture_output=True, text=True, env=installer_env(), timeout=300)


def _uv(links: Path, tmp: Path, reqs: list[str], constraints: list[str] = ()) -> subprocess.CompletedProcess[str]:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    req = tmp / "requirements.in"
    req.write_text("\n".join(reqs) + "\n")
    argv = [uv, "pip", "compile", "--no-index", "--find-links", str(links), *uv_cache_args(tmp), str(req)]
    if constraints:
        con = tmp / "constraints.txt"
        con.write_text("\n".join(constraints) + "\n")
        argv += ["-c", str(con)]
    return subprocess.run(argv, capture_output=True, text=True, env=installer_env({"NO_COLOR": "1"}), timeout=300)


def _pins(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[:2] == ["pip", "install"], command
    return [w for w in words[2:] if not w.startswith("-")]


def test_pip_conflict_fixes_resolve(links: Path, tmp_path: Path) -> None:
    proc = _pip(links, tmp_path, "torch==2.3.0", "xformers==0.0.27")
    assert proc.returncode == 1
    (d,) = diagnose(proc.stdout + proc.stderr, db=IndexSource())
    assert d.id == "pip-resolution-impossible"
    assert len(d.commands) == 2
    for command in d.commands:
        again = _pip(links, tmp_path, *_pins(command))
        assert again.returncode == 0, (command, again.stdout, again.stderr)


def test_uv_conflict_fixes_resolve(links: Path, tmp_path: Path) -> None:
    proc = _uv(links, tmp_path, ["torch==2.3.0", "xformers==0.0.27"])
    assert proc.returncode == 1
    (d,) = diagnose(proc.stdout + proc.stderr, db=IndexSource())
    assert d.id == "uv-no-solution"
    assert "xformers==0.0.26.post1" in d.fix
    for command in d.commands:
        again = _uv(links, tmp_path, _pins(command))
        assert again.returncode == 0, (command, again.stdout, again.stderr)


def test_uv_conflict_through_a_constraint(links: Path, tmp_path: Path) -> None:
    proc = _uv(links, tmp_path, ["xformers>=0.0.27"], constraints=["torch==2.3.0"])
    assert proc.returncode == 1
    (d,) = diagnose(proc.stdout + proc.stderr, db=IndexSource())
    assert "(as a constraint)" in d.cause
    assert "pip install torch==2.3.1" in d.commands
    again = _uv(links, tmp_path, ["xformers>=0.0.27"], constraints=["torch==2.3.1"])
    assert again.returncode == 0, again.stderr


def test_recorded_fixtures_still_match_the_installers(links: Path, tmp_path: Path) -> None:
    # The committed fixtures were produced by these runs; a newer pip/uv that rewords them fails here.
    logs = Path(__file__).parent / "fixtures" / "logs"
    pip_now = _pip(links, tmp_path, "torch==2.3.0", "xformers==0.0.27")
    uv_now = _uv(links, tmp_path, ["torch==2.3.0", "xformers==0.0.27"])
    for now, fixture in ((pip_now, "pip-conflict-local-index.log"), (uv_now, "uv-conflict-requirements.log")):
        ids_now = [d.id for d in diagnose(now.stdout + now.stderr)]
        ids_then = [d.id for d in diagnose((logs / fixture).read_text())]
        assert ids_now == ids_then
