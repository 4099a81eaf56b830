"""Replay the corpus of real error logs (tests/fixtures/logs/corpus) through diagnose.

Each log is text a user pasted into a public issue thread (MANIFEST.toml names the
thread).  A log is recognised when the expected signature is among the diagnoses and
the expected packages are among that diagnosis' packages.  At least 90% of the corpus
must be recognised; the per-class counts are printed (``pytest -s``) and kept in the
test's report.  No network: the shipped database answers the fix computations.
"""

from __future__ import annotations

import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from attnlock.diagnose import Diagnosis
from attnlock.diagnose.database_source import source_for
from attnlock.diagnose.engine import run
from attnlock.diagnose.port import CompatibilitySource
from attnlock.diagnose.signatures import load_signatures

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).parent / "fixtures" / "logs" / "corpus"
LOGS: list[dict[str, object]] = tomllib.loads((CORPUS / "MANIFEST.toml").read_text(encoding="utf-8"))["log"]
THRESHOLD = 0.90


@lru_cache(maxsize=1)
def _source() -> CompatibilitySource | None:
    return source_for(None)


def diagnose_file(name: str) -> list[Diagnosis]:
    text = (CORPUS / name).read_bytes().decode("utf-8", errors="replace")
    return run(text, load_signatures(), target=None, source=_source())


def recognised(case: dict[str, object]) -> bool:
    want_pkgs = set(case["packages"])  # type: ignore[arg-type]
    return any(d.id == case["signature"] and want_pkgs <= set(d.packages) for d in diagnose_file(str(case["file"])))


def test_manifest_lists_every_log_once() -> None:
    names = [str(c["file"]) for c in LOGS]
    assert len(names) == len(set(names))
    on_disk = {p.name for p in CORPUS.glob("*.log")}
    assert set(names) == on_disk
    for case in LOGS:
        assert str(case["thread"]).startswith("https://github.com/"), case
        assert case["checked"]


def test_every_expected_signature_exists() -> None:
    ids = {s.id for s in load_signatures()}
    missing = sorted({str(c["signature"]) for c in LOGS} - ids)
    assert not missing


@pytest.mark.parametrize("case", LOGS, ids=[str(c["file"]).removesuffix(".log") for c in LOGS])
def test_log(case: dict[str, object]) -> None:
    if case.get("unrecognised"):
        pytest.xfail(str(case["unrecognised"]))
    got = diagnose_file(str(case["file"]))
    summary = [(d.id, d.packages) for d in got]
    assert recognised(case), f"expected {case['signature']} {case['packages']}, got {summary}"


def test_corpus_is_recognised(capsys: pytest.CaptureFixture[str]) -> None:
    total: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for case in LOGS:
        cls = str(case["class"])
        total[cls] += 1
        hits[cls] += recognised(case)
    lines = [f"{cls:18} {hits[cls]:3}/{total[cls]:3}" for cls in sorted(total)]
    rate = sum(hits.values()) / sum(total.values())
    lines.append(f"{'all':18} {sum(hits.values()):3}/{sum(total.values()):3} ({rate:.1%})")
    with capsys.disabled():
        print("\ncorpus recognition by class:\n" + "\n".join(lines))
    assert len(LOGS) >= 150
    assert rate >= THRESHOLD, "\n".join(lines)
