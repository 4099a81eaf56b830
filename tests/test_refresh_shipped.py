"""The committed data/derived agrees with facts established independently (FACTS.md, issue 3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

DERIVED = Path(__file__).resolve().parent.parent / "data" / "derived"


def _release(package: str, version: str) -> dict[str, Any]:
    doc = json.loads((DERIVED / f"{package}.json").read_text(encoding="utf-8"))
    return doc["releases"][version]  # type: ignore[no-any-return]


def _requires(package: str, version: str, family: str = "linux-x86_64") -> list[Requirement]:
    rel = _release(package, version)
    rec = next(m for m in rel["metadata"] if family in m["platforms"])
    return [Requirement(r) for r in rec["requires_dist"]]


def _spec(reqs: list[Requirement], name: str) -> str:
    return ",".join(sorted(str(s) for r in reqs if r.name == name for s in r.specifier))


@pytest.mark.parametrize(
    ("version", "torch_spec", "built_for"),
    [("0.0.35", ">=2.10", "2.10.0+cu128"), ("0.0.27", "==2.3.1", "2.3.1+cu121"), ("0.0.26.post1", "==2.3.0", "2.3.0+cu121")],
)
def test_xformers_requires_and_build_info(version: str, torch_spec: str, built_for: str) -> None:
    assert _spec(_requires("xformers", version), "torch") == torch_spec
    infos = _release("xformers", version)["build_info"]
    assert infos and {i["torch"] for i in infos.values()} == {built_for}


def test_xformers_newest_dev_line_depends_on_mslk() -> None:
    doc = json.loads((DERIVED / "xformers.json").read_text(encoding="utf-8"))
    dev = [v for v in doc["releases"] if Version(v).is_devrelease]
    assert dev and all(Version(v).release == (0, 0, 35) for v in dev)
    newest = max(dev, key=Version)
    assert "mslk" in {r.name for r in _requires("xformers", newest, "any")}


def test_torch_cuda_toolkit_and_triton_forms() -> None:
    assert "cuda-toolkit" in {r.name for r in _requires("torch", "2.11.0")}
    assert "cuda-toolkit" not in {r.name for r in _requires("torch", "2.10.0")}
    for v in ("2.14.0", "2.15.0"):
        assert _spec(_requires("torch", v), "triton").startswith("~=")
    assert _spec(_requires("torch", "2.3.1"), "triton") == "==2.3.1"


def test_torch_range_is_stable_only_up_to_2_15() -> None:
    doc = json.loads((DERIVED / "torch.json").read_text(encoding="utf-8"))
    versions = [Version(v) for v in doc["releases"]]
    assert versions == sorted(versions)
    assert versions[0] == Version("1.12.0") and versions[-1] == Version("2.15.0")
    assert not any(v.is_prerelease or v.is_devrelease for v in versions)


def test_no_registry_host_and_no_whole_urls() -> None:
    for path in DERIVED.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://[^\"]*\.whl", text), path.name
