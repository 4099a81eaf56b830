"""Serving engines that pin torch exactly (compat/engines.py): strict records, pin lines, check's note."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from attnlock.check import output
from attnlock.check.checker import check_paths
from attnlock.compat import model_for
from attnlock.compat.engines import exact_torch_pin, parse_engines, parse_wheel_builds
from attnlock.database import load
from attnlock.model import Target


@pytest.mark.parametrize(("record", "key"), [
    ({"package": "vllm", "coupling": "loose", "source": "x", "checked": "2026-12-04"}, "coupling"),
    ({"package": "vllm", "coupling": "exact", "exact_since": "zero", "source": "x"}, "exact_since"),
    ({"coupling": "exact", "source": "x"}, "package"),
])
def test_a_bad_engine_record_is_a_problem_not_a_crash(record: dict[str, str], key: str) -> None:
    found, problems = parse_engines([record], "curated/engines.toml")
    assert found == ()
    assert [p.key for p in problems] == [f"engine[0].{key}"]


@pytest.mark.parametrize(("record", "key"), [
    ({"package": "vllm", "versions": "~~0.6", "torch_build": "cu121"}, "versions"),
    ({"package": "vllm", "versions": "<0.7", "torch_build": "cuda12"}, "torch_build"),
    ({"package": "vllm", "versions": "<0.7", "torch_build": "default"}, "torch_build"),
])
def test_a_bad_wheel_build_record_is_a_problem(record: dict[str, str], key: str) -> None:
    found, problems = parse_wheel_builds([record], "curated/engines.toml")
    assert found == () and [p.key for p in problems] == [f"wheel_build[0].{key}"]


def test_the_shipped_engine_records_parse() -> None:
    model = model_for(load())
    assert {e.package for e in model.engines()} == {"vllm", "vllm-flash-attn", "sglang"}
    assert not [p for p in model.problems() if "engines" in p.path]


@pytest.mark.parametrize(("package", "version", "torch"), [
    ("vllm", "0.2.0", None),  # torch>=2.0.0: no exact pin
    ("vllm", "0.2.6", "2.1.2"),
    ("vllm", "0.6.5", "2.5.1"),  # torch==2.5.1; platform_machine != "aarch64": a marker, not an extra
    ("vllm", "0.11.0", "2.8.0"),
    ("sglang", "0.5.2", None),  # torch==2.8.0 only under the srt extra
    ("sglang", "0.5.3", "2.8.0"),  # the base requirements pin it
    ("vllm-flash-attn", "2.6.2", "2.4.0"),
])
def test_exact_torch_pin_reads_the_base_requirements(package: str, version: str, torch: str | None) -> None:
    rel = load().release(package, version)
    assert rel is not None
    assert exact_torch_pin(rel) == (Version(torch) if torch else None)


def test_pin_lines_group_consecutive_releases() -> None:
    words = [ln.words() for ln in model_for(load()).engine_pin_lines("vllm")]
    assert "vllm 0.10.2–0.11.0 pin torch==2.8.0" in words
    assert "vllm 0.4.1 pins torch==2.2.1" in words
    # A release with its own recorded wheel build is a line of its own: 0.11.1's wheel wants cu129.
    assert "vllm 0.11.1 pins torch==2.9.0" in words and "vllm 0.11.2–0.13.0 pin torch==2.9.0" in words


def test_a_package_the_database_does_not_know_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.txt").write_text("torch==2.8.0\nvllm==0.11.0\nnot-a-known-package==1.0\n",
                                               encoding="utf-8")
    report = check_paths(["requirements.txt"], Target(), load())
    assert report.errors == 0 and report.not_judged == ["not-a-known-package"]
    assert "note: not judged, the database has no releases of: not-a-known-package" in output.summary(report)
    assert '"not_judged": [\n    "not-a-known-package"\n  ]' in output.to_json(report)
