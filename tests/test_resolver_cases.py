"""Data-driven resolver cases: tests/fixtures/resolver/cases/*.toml over the fixture database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from attnlock.database.store import Database
from attnlock.errors import NoPlanError, UsageError
from attnlock.model import (
    ComputeCapability,
    CudaVariant,
    Platform,
    PythonVersion,
    Target,
    parse_specifier,
    parse_version,
)
from attnlock.resolver import parse_with, resolve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).parent / "fixtures" / "resolver"
DB = HERE / "db"


REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def _cases() -> list[Any]:
    """Every case; a file whose top-level ``database = "repository"`` replays against ``data/``
    (the reviewer's reproductions on the real database), the others against the fixture."""
    out = []
    for path in sorted((HERE / "cases").glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        where = "repository" if raw.get("database") == "repository" else "fixture"
        for case in raw["case"]:
            out.append(pytest.param(dict(case, _database=where), id=f"{path.stem}:{case['id']}"))
    return out


def make_target(spec: dict[str, str]) -> Target:
    """A Target from TARGET option strings (no detection)."""
    fields: dict[str, Any] = {}
    torch = spec.get("torch")
    if torch == "latest":
        fields["torch_latest"] = True
    elif torch:
        fields["torch"] = parse_specifier(f"=={torch}" if torch[0].isdigit() else torch)
        label = Version(torch).local if torch[0].isdigit() else None
        if label:
            fields["cuda"] = CudaVariant.parse(label)
    if "cuda" in spec:
        fields["cuda"] = CudaVariant.parse(spec["cuda"])
    if "python" in spec:
        fields["python"] = PythonVersion.parse(spec["python"])
    if "platform" in spec:
        fields["platform"] = Platform.parse(spec["platform"])
    if "gpu" in spec:
        fields["gpu"] = ComputeCapability.parse(spec["gpu"])
    if "gpu_name" in spec:
        fields["gpu_name"] = spec["gpu_name"]
    if "driver" in spec:
        fields["driver"] = parse_version(spec["driver"])
        fields["driver_text"] = spec["driver"]
    return Target(**fields)


@pytest.fixture(scope="module")
def db() -> Database:
    return Database(DB)


@pytest.fixture(scope="module")
def repo_db() -> Database:
    return Database(REPO_DATA)


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict[str, Any], db: Database, repo_db: Database) -> None:
    if case["_database"] == "repository":
        db = repo_db
    target = make_target(case["target"])
    wanted = parse_with(case.get("with"))
    allow = case.get("allow_build", [])
    default_set = bool(case.get("skip_missing", False))
    sources = case.get("sources", [])
    if "error" in case:
        expected_type = UsageError if case.get("error_type") == "usage" else NoPlanError
        with pytest.raises(expected_type) as info:
            resolve(db, target, wanted, allow_build=allow, default_set=default_set, sources=sources)
        assert case["error"] in info.value.message, info.value.render()
        if "hint" in case:
            assert info.value.hint is not None and case["hint"] in info.value.hint, info.value.render()
        for fragment in case.get("hint_absent", []):
            assert fragment not in (info.value.hint or ""), info.value.render()
        return
    plan = resolve(db, target, wanted, allow_build=allow, default_set=default_set, sources=sources)
    got = {p.package: p for p in plan.pins}
    for name, version in case.get("expect", {}).items():
        assert name in got, f"{name} missing from plan {sorted(got)}"
        assert str(got[name].version) == str(Version(version)), got[name].reason
        assert got[name].reason.startswith(name), got[name].reason
    for name, label in case.get("index", {}).items():
        pin = got[name]
        if label:
            assert pin.index is not None and pin.index.rstrip("/").endswith(label), pin
        else:
            assert pin.index is None, pin
    for name, fragment in case.get("url", {}).items():
        assert got[name].url is not None and fragment in got[name].url, got[name]
    for name in case.get("absent", []):
        assert name not in got
    for fragment in case.get("notes", []):
        assert any(fragment in n for n in plan.notes), plan.notes
    for name in case.get("sdist", []):
        assert got[name].sdist and got[name].url is None
    for name in case.get("present", []):
        assert name in got, f"{name} missing from plan {sorted(got)}"
    for fragment in case.get("notes_absent", []):
        assert not any(fragment in n for n in plan.notes), plan.notes
    for fragment in case.get("excluded_absent", []):
        assert not any(fragment in f"{e.package}{e.specifier} {e.reason}" for e in plan.excluded), plan.excluded
    for name, fragment in case.get("source", {}).items():
        if fragment:
            assert got[name].source is not None and fragment in got[name].source, got[name]
            assert fragment in got[name].reason, got[name].reason  # the reason names the source too
        else:
            assert got[name].source is None, got[name]
    for name, label in case.get("build", {}).items():
        assert got[name].version is not None and got[name].version.local == (label or None), got[name]


def test_every_pin_has_a_one_line_reason(db: Database) -> None:
    plan = resolve(db, make_target({"python": "3.11", "platform": "linux-x86_64"}), None)
    assert plan.pins
    for pin in plan.pins:
        assert pin.reason and "\n" not in pin.reason


def test_known_bad_evidence_is_in_the_answer(db: Database) -> None:
    with pytest.raises(NoPlanError) as info:
        resolve(db, make_target({"torch": "2.3.0", "python": "3.11", "platform": "linux-x86_64"}),
                parse_with("torch,xformers"))
    assert "(https://github.com/facebookresearch/xformers/issues/0)" in info.value.message
    # Only combinations this plan could meet are listed as excluded.
    plan = resolve(db, make_target({"torch": "2.3.1", "python": "3.11", "platform": "linux-x86_64"}),
                   parse_with("torch,xformers"))
    assert plan.excluded == ()
    plan = resolve(db, make_target({"torch": "2.3.0", "python": "3.11", "platform": "linux-x86_64"}),
                   parse_with("torch,xformers"), default_set=True)
    assert [p.package for p in plan.pins] == ["torch", "triton", "nvidia-cublas-cu12", "nvidia-cudnn-cu12",
                                              "nvidia-nccl-cu12"]
    assert any("xformers: left out" in n and "known bad" in n for n in plan.notes)


def test_default_set_leaves_out_packages_without_a_release_for_the_target(db: Database) -> None:
    plan = resolve(db, make_target({"python": "3.13", "platform": "linux-x86_64"}), None)
    names = {p.package for p in plan.pins}
    assert "flash-attn" not in names and "torch" in names
    assert any(n.startswith("flash-attn: left out") for n in plan.notes), plan.notes


def test_two_cuda_majors_side_by_side_is_a_warning(db: Database) -> None:
    plan = resolve(db, make_target({"torch": "2.4.0", "cuda": "cu118", "python": "3.11",
                                    "platform": "linux-x86_64"}), parse_with("torch,jax[cuda12]"))
    assert any("two CUDA majors" in n for n in plan.notes), plan.notes


def test_nearest_search_suggests_a_working_target(db: Database) -> None:
    with pytest.raises(NoPlanError) as info:
        resolve(db, make_target({"torch": "2.11.0+cu130", "python": "3.11", "platform": "linux-x86_64"}),
                parse_with("torch,xformers"))
    assert info.value.hint == "use --torch 2.10.0 --cuda cu130"  # the same CUDA variant first


@pytest.mark.parametrize("text", ["torch,,xformers[", "xformers @ https://x/y.whl", "tor ch"])
def test_malformed_with_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_with(text)


def test_the_default_set_is_data(tmp_path: Path) -> None:
    """refresh.toml [covered] decides what the default set plans (no list in the code)."""
    import shutil

    root = tmp_path / "db"
    shutil.copytree(DB, root)
    refresh = root / "curated" / "refresh.toml"
    refresh.write_text(refresh.read_text(encoding="utf-8").replace(
        'packages = ["torch", "torchvision", "torchaudio", "triton", "xformers", "flash-attn", "jax", "unsloth"]',
        'packages = ["torch", "xformers"]'), encoding="utf-8")
    target = make_target({"torch": "2.3.1", "python": "3.11", "platform": "linux-x86_64"})
    names = {p.package for p in resolve(Database(root), target, None).pins}
    assert "xformers" in names and "jax" not in names and "flash-attn" not in names
    names = {p.package for p in resolve(Database(DB), target, None).pins}
    assert "jax" in names
