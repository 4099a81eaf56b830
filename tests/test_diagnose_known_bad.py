"""The curated known-bad combinations are cited, and diagnose recognises each one's error text."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from attnlock.diagnose import diagnose

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).resolve().parent.parent / "data" / "curated" / "known_bad.toml"
RECORDS = tomllib.loads(DATA.read_text(encoding="utf-8"))["combination"]


@pytest.mark.parametrize("rec", RECORDS, ids=[r["id"] for r in RECORDS])
def test_known_bad_record_is_cited_and_parses(rec: dict[str, object]) -> None:
    for key in ("id", "packages", "reason", "error", "fix", "evidence", "source", "checked"):
        assert rec.get(key), key
    assert str(rec["evidence"]).startswith("https://")
    assert rec["evidence"] in rec["source"]  # type: ignore[operator]
    datetime.date.fromisoformat(str(rec["checked"]))
    assert rec.get("status", "known-bad") in ("known-bad", "reported")
    packages = rec["packages"]
    assert isinstance(packages, dict) and packages
    for name, spec in packages.items():
        assert canonicalize_name(name) == name
        SpecifierSet("" if spec == "*" else spec)


@pytest.mark.parametrize("rec", RECORDS, ids=[r["id"] for r in RECORDS])
def test_known_bad_error_is_diagnosed(rec: dict[str, object]) -> None:
    found = diagnose(str(rec["error"]))
    assert found, f"no signature recognises the error of {rec['id']}"
    involved = set(rec["packages"])  # type: ignore[arg-type]
    assert involved & {p for d in found for p in d.packages}
