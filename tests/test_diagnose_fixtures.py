"""Replay every real error log in tests/fixtures/logs through diagnose and check cause and fix."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from attnlock.cli import build_parser
from attnlock.target import target_from_args
from attnlock.diagnose import diagnose
from attnlock.diagnose.engine import normalize
from attnlock.diagnose.port import FlashAttnWheel, XformersBuild

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOGS = Path(__file__).parent / "fixtures" / "logs"
CASES = tomllib.loads((LOGS / "EXPECTED.toml").read_text(encoding="utf-8"))["case"]
PT = "https://download.pytorch.org/whl/"


FA = "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"


class FakeSource:
    """A few invented database answers, enough to drive every fix computation.

    The real adapter over attnlock.database is tested in test_diagnose_database.py.
    """

    def __init__(self) -> None:
        self.builds = [
            XformersBuild(Version("0.0.35"), Version("2.10.0+cu128"), None, None),
            XformersBuild(Version("0.0.27"), Version("2.3.1+cu121"), "cu121", PT + "cu121"),
            XformersBuild(Version("0.0.26.post1"), Version("2.3.0+cu121"), "cu121", PT + "cu121"),
            XformersBuild(Version("0.0.26.post1"), Version("2.3.0+cu118"), "cu118", PT + "cu118"),
            XformersBuild(Version("0.0.25.post1"), Version("2.2.2+cu121"), "cu121", PT + "cu121"),
            XformersBuild(Version("0.0.22.post7"), Version("2.1.0+cu121"), None, None),
        ]
        self.requires = {
            ("xformers", "0.0.27"): ["numpy", "torch==2.3.1"],
            ("xformers", "0.0.26.post1"): ["numpy", "torch==2.3.0"],
            ("xformers", "0.0.25.post1"): ["numpy", "torch==2.2.2"],
            ("torch", "2.3.1"): ['triton==2.3.1; platform_system == "Linux" and platform_machine == "x86_64"',
                                 "typing-extensions>=4.8.0"],
            ("torchvision", "0.18.0"): ["numpy", "torch==2.3.0"],
            ("torchvision", "0.18.1"): ["numpy", "torch==2.3.1"],
        }

    def xformers_builds_for_torch(self, torch: Version) -> list[XformersBuild]:
        return [b for b in self.builds if b.torch.public == torch.public]

    def xformers_builds(self, xformers: Version) -> list[XformersBuild]:
        return [b for b in self.builds if b.xformers == xformers]

    def index_url(self, variant: str) -> str | None:
        return PT + variant if re.fullmatch(r"cu\d+|cpu|rocm[\d.]+", variant) else None

    def releases(self, package: str) -> list[Version]:
        return sorted({Version(v) for p, v in self.requires if p == package})

    def requirements(self, package: str, version: Version) -> list[Requirement] | None:
        reqs = self.requires.get((package, str(version)))
        return None if reqs is None else [Requirement(r) for r in reqs]

    def flash_attn_wheels(self, version: Version | None = None) -> list[FlashAttnWheel]:
        out = []
        for abi in (True, False):
            for torch in ("2.4", "2.5"):
                name = f"flash_attn-2.7.4.post1+cu12torch{torch}cxx11abi{'TRUE' if abi else 'FALSE'}-cp310-cp310-linux_x86_64.whl"
                out.append(FlashAttnWheel(Version("2.7.4.post1"), FA + name, torch, "cu12", abi, "cp310"))
        return out

    def flash_attn_min_capability(self) -> tuple[int, int] | None:
        return (8, 0)

    def torch_default_variant(self, torch: Version) -> str | None:
        return {"2.4.0": "cu121"}.get(torch.public)

    def torch_cxx11abi(self, torch: Version, platform: str = "linux-x86_64") -> bool | None:
        return {"2.4.0": False, "2.5.1": False}.get(torch.public)


def _case_id(case: dict[str, object]) -> str:
    target = case.get("target")
    return str(case["file"]) + (f"[{' '.join(target)}]" if isinstance(target, list) else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_fixture_log(case: dict[str, object]) -> None:
    text = (LOGS / str(case["file"])).read_text(encoding="utf-8")
    argv = ["diagnose", "-", *case.get("target", [])]  # type: ignore[misc]
    target = target_from_args(build_parser().parse_args(argv), environ={}, use_detection=False)
    found = diagnose(text, target=target, db=FakeSource())
    assert [d.id for d in found] == case["ids"]
    first = found[0]
    for piece in case.get("cause", []):  # type: ignore[attr-defined]
        assert piece in first.cause, (piece, first.cause)
    for piece in case.get("fix", []):  # type: ignore[attr-defined]
        assert piece in first.fix, (piece, first.fix)
    for piece in case.get("commands", []):  # type: ignore[attr-defined]
        assert any(piece in c for c in first.commands), (piece, first.commands)
    for d in found:
        assert d.evidence and d.evidence in " ".join(normalize(text).split()), d.evidence
        assert d.cause and d.fix and "{" not in d.cause


def test_every_fixture_is_cited_and_expected() -> None:
    sources = (LOGS / "SOURCES.md").read_text(encoding="utf-8")
    cited = dict(re.findall(r"^- `([^`]+)`: (https://\S+|produced by .+)$", sources, re.MULTILINE))
    logs = sorted(p.name for p in LOGS.glob("*.log"))
    assert logs, "no fixtures"
    assert set(logs) == set(cited), set(logs) ^ set(cited)
    assert set(logs) == {c["file"] for c in CASES}
