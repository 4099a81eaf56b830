"""Contract tests: generate, check and diagnose give one answer, because they ask one model.

* every committed ``constraints/`` file passes ``check`` (no error) for the target it was made for;
* every plan of the resolver cases, rendered as a constraints file, passes ``check``;
* every diagnose fix that carries pins (the corpus and the fixture logs) passes ``check``;
* random targets and package sets: what ``generate`` plans, ``check`` accepts.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnlock.check import check_paths
from attnlock.database import load
from attnlock.diagnose import diagnose
from attnlock.emit.constraints import render_constraints
from attnlock.errors import AttnlockError
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, Target
from attnlock.resolver import parse_with, resolve
from tests.test_resolver_cases import make_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = sorted((ROOT / "constraints").glob("*.txt"))
CASES = ROOT / "tests" / "fixtures" / "resolver" / "cases"
LOGS = sorted((ROOT / "tests" / "fixtures" / "logs").rglob("*.log"))


@pytest.fixture(scope="module")
def db() -> Any:
    return load()


def _errors(report: Any) -> list[str]:
    return [f"{f.code} {f.path}:{f.line} {f.message} | fix: {f.fix}" for f in report.findings if f.severity == "error"]


def _target_of(path: Path) -> Target:
    """The target a committed file was generated for, from its ``# Regenerate:`` line."""
    line = next(ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("# Regenerate:"))
    argv = shlex.split(line.split(":", 1)[1])
    opts = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    return Target(cuda=CudaVariant.parse(opts["--cuda"]), python=PythonVersion.parse(opts["--python"]),
                  platform=Platform.parse(opts["--platform"]))


@pytest.mark.parametrize("path", CONSTRAINTS, ids=[p.stem for p in CONSTRAINTS])
def test_committed_constraints_pass_check(path: Path, db: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "constraints.txt"
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert not _errors(check_paths(["constraints.txt"], _target_of(path), db))


def _repository_cases() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        if raw.get("database") != "repository":
            continue
        for case in raw["case"]:
            if "error" not in case:
                out.append(pytest.param(case, id=f"{path.stem}:{case['id']}"))
    return out


@pytest.mark.parametrize("case", _repository_cases())
def test_every_generated_plan_passes_check(case: dict[str, Any], db: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    target = make_target(case["target"])
    plan = resolve(db, target, parse_with(case.get("with")), allow_build=case.get("allow_build", []),
                   default_set=bool(case.get("skip_missing", False)), sources=case.get("sources", []))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "constraints.txt").write_text(render_constraints(plan, command="attnlock generate"), encoding="utf-8")
    check_target = Target(cuda=plan.target.cuda, python=target.python, platform=target.platform, gpu=target.gpu,
                          driver=target.driver)
    assert not _errors(check_paths(["constraints.txt"], check_target, db))


def _pinned_fixes() -> list[Any]:
    database = load()
    target = Target(python=PythonVersion(3, 11), platform=Platform("linux", "x86_64"))
    out = []
    for path in LOGS:
        text = path.read_text(encoding="utf-8", errors="replace")
        for dx in diagnose(text, target=target, db=database):
            if dx.pins:
                lines = (*(f"--extra-index-url {u}" for u in dx.indexes), *dx.pins)
                out.append(pytest.param(lines, id=f"{path.stem}:{dx.id}"))
    return out


PINNED = _pinned_fixes()


def test_some_diagnoses_carry_a_plan() -> None:
    assert len(PINNED) >= 3, "the contract below would test nothing"


@pytest.mark.parametrize("pins", PINNED)
def test_every_diagnose_fix_passes_check(pins: tuple[str, ...], db: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = "\n".join(pins) + "\n"
    (tmp_path / "requirements.txt").write_text(text, encoding="utf-8")
    torch = next((p for p in pins if p.startswith("torch==")), None)
    label = re.search(r"\+(cu\d+|cpu)$", torch or "")
    cuda = CudaVariant.parse(label.group(1)) if label else None
    target = Target(cuda=cuda, python=PythonVersion(3, 11), platform=Platform("linux", "x86_64"))
    assert not _errors(check_paths(["requirements.txt"], target, db)), text


PACKAGES = ["xformers", "flash-attn", "triton", "torchvision", "torchaudio", "unsloth", "jax"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    torch=st.sampled_from(["2.3.1", "2.4.1", "2.6.0", "2.8.0", "2.10.0", "2.11.0", "2.13.0", None]),
    cuda=st.sampled_from(["cu121", "cu124", "cu126", "cu128", "cu130", "cpu", None]),
    python=st.sampled_from(["3.10", "3.11", "3.12"]),
    gpu=st.sampled_from(["sm_80", "sm_90", "sm_120", None]),
    packages=st.lists(st.sampled_from(PACKAGES), min_size=1, max_size=3, unique=True),
)
def test_random_targets_generate_what_check_accepts(torch: str | None, cuda: str | None, python: str,
                                                   gpu: str | None, packages: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    database = load()
    spec: dict[str, str] = {"python": python, "platform": "linux-x86_64"}
    if torch:
        spec["torch"] = torch
    if cuda:
        spec["cuda"] = cuda
    if gpu:
        spec["gpu"] = gpu
    target = make_target(spec)
    try:
        plan = resolve(database, target, parse_with(",".join(["torch", *packages])))
    except AttnlockError:
        return  # no plan: nothing generated, nothing to check
    monkeypatch.chdir(tmp_path)
    (tmp_path / "constraints.txt").write_text(render_constraints(plan, command="attnlock generate"), encoding="utf-8")
    check_target = Target(cuda=plan.target.cuda, python=target.python, platform=target.platform, gpu=target.gpu)
    gpu_arg = ComputeCapability.parse(gpu) if gpu else None
    assert check_target.gpu == gpu_arg
    assert not _errors(check_paths(["constraints.txt"], check_target, database)), (spec, packages)


def test_known_bad_review_table_matches_the_records() -> None:
    """data/KNOWN_BAD.md is generated from the records (python -m attnlock.compat.review data/KNOWN_BAD.md)."""
    from attnlock.compat import model_for
    from attnlock.compat.review import render

    committed = (ROOT / "data" / "KNOWN_BAD.md").read_text(encoding="utf-8")
    assert committed == render(model_for(load()).known_bad()), "regenerate data/KNOWN_BAD.md"
