"""Rule cases of ``attnlock check`` replayed from tests/fixtures/check/cases.toml against the fixture database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytest

from attnlock.check import check_paths
from attnlock.check.checker import default_paths
from attnlock.check.fix import fix_files
from attnlock.commands.check import target_from_args
from attnlock.database import load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).parent / "fixtures" / "check"
CASES: list[dict[str, Any]] = tomllib.loads((FIXTURES / "cases.toml").read_text("utf-8"))["case"]


def _target(case: dict[str, Any]) -> Any:
    options = {"torch": None, "cuda": None, "python": None, "platform": None, "gpu": None, "driver": None}
    options.update(case.get("target", {}))
    return target_from_args(argparse.Namespace(**options), environ={})


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


def _codes(report: Any) -> list[str]:
    return sorted(f"{f.code} {Path(f.path).as_posix()}:{f.line}:{f.column}" for f in report.findings)


@pytest.fixture(scope="module")
def db() -> Any:
    return load(FIXTURES / "data")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: Any) -> None:
    _write(tmp_path, case["files"])
    monkeypatch.chdir(tmp_path)
    paths = case.get("check") or sorted(case["files"])
    # database = "repository": the case replays against the shipped data/ (resolution needs all of it).
    report = check_paths(paths, _target(case), load() if case.get("database") == "repository" else db)
    assert _codes(report) == sorted(case["expect"]), [f"{f.code} {f.message} | fix: {f.fix}" for f in report.findings]
    for f in report.findings:
        assert f.line >= 1 and f.column >= 1 and f.path
        assert f.fix, f"{f.code} has no fix line"
    if "message" in case:
        assert any(case["message"] in f.message for f in report.findings), [f.message for f in report.findings]
    if "fix" in case:
        assert any(case["fix"] in (f.fix or "") for f in report.findings), [f.fix for f in report.findings]
    if "fixed" in case:
        fix_files(report.findings, report.documents)
        for name, text in case["fixed"].items():
            assert (tmp_path / name).read_bytes() == text.encode("utf-8")
        again = check_paths(paths, _target(case), db)
        assert _codes(again) == sorted(case["after_fix"])


def test_every_code_is_exercised_by_a_case() -> None:
    """Each rule code (beyond the input-error ones tested in test_check_readers) has a case."""
    from attnlock.check.codes import CODES

    seen = {e.split()[0] for c in CASES for e in c["expect"]}
    # AL007/AL110 (duplicate_pins) are exercised in tests/test_hardening_check.py
    missing = sorted(code for code in CODES if code not in seen and code not in ("AL001", "AL005", "AL007", "AL110"))
    assert missing == []


def test_default_paths_pick_requirement_like_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "constraints-cu121.txt", "dev.in", "pyproject.toml",
                 "uv.lock", "pylock.toml", "setup.py", "notes.txt", "README.md", "MANIFEST.in"):
        (tmp_path / name).write_text("")
    (tmp_path / "requirements.d").mkdir()
    monkeypatch.chdir(tmp_path)
    assert default_paths(".") == ["constraints-cu121.txt", "dev.in", "pylock.toml", "pyproject.toml",
                                  "requirements-dev.txt", "requirements.txt", "uv.lock"]


def test_codes_are_documented_identically() -> None:
    """The table in attnlock.check's docstring and codes.CODES agree (code and severity)."""
    import re

    import attnlock.check
    from attnlock.check.codes import CODES, markdown_table

    documented = dict(re.findall(r"^(AL\d{3})\s+(error|warning)\s", attnlock.check.__doc__ or "", re.M))
    assert documented == {c.code: c.severity for c in CODES.values()}
    table = markdown_table()
    assert all(f"| `{code}` | {c.severity} |" in table for code, c in CODES.items())


def test_shipped_database_judges_the_seed_example(tmp_path: Path) -> None:
    """Against data/ as shipped: xformers 0.0.27 with torch 2.3.0 is an error.

    The shipped data has xformers 0.0.27's metadata; losing it is a regression, so this fails (never skips).
    """
    from packaging.version import Version

    shipped = load()
    release = shipped.release("xformers", Version("0.0.27"))
    assert release is not None and release.metadata, "the shipped database lost xformers 0.0.27 (metadata)"
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.3.0\nxformers==0.0.27\n")
    report = check_paths([str(path)], None, shipped)
    assert [(f.code, f.line) for f in report.findings] == [("AL101", 2)]


def test_hook_files_pattern() -> None:
    """The published hook's ``files`` regex (pre-commit matches it with re.search on repo paths)."""
    import re

    text = (Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text("utf-8")
    (pattern,) = re.findall(r"^  files: (.+)$", text, re.M)
    checked = ["requirements.txt", "a/requirements-dev.txt", "constraints.txt", "x/constraints-cu121.txt", "dev.in",
               "requirements/base.txt", "pyproject.toml", "sub/pyproject.toml", "uv.lock", "pylock.toml",
               "pylock.gpu.toml"]
    skipped = ["setup.py", "notrequirements.txt", "README.md", "MANIFEST.in", "pkg/MANIFEST.in", "uv.lock.bak",
               "pyproject.toml.orig", "docs/requirements.md"]
    assert [p for p in checked if not re.search(pattern, p)] == []
    assert [p for p in skipped if re.search(pattern, p)] == []
