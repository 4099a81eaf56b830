"""Issue 13 items 1, 2 and 4 at the command boundary, over the repository's own data/: older releases
answer `db show`, packages planned on request are judged by `check`, community wheel sources are an
explicit opt-in named on every pin; and the curated records behind them are parsed strictly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attnlock.cli import main
from attnlock.compat.community import parse_sources, parse_wheels
from attnlock.compat.packages import (
    parse_cuda_libraries,
    parse_end_of_life,
    parse_pairings,
    parse_presence,
)

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
H100 = ["--python", "3.12", "--platform", "linux-x86_64", "--gpu", "sm_90", "--driver", "580.65.06"]


@pytest.fixture(autouse=True)
def repo_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTNLOCK_DATA_DIR", str(REPO_DATA))
    for name in ("ATTNLOCK_TORCH", "ATTNLOCK_CUDA", "ATTNLOCK_PYTHON", "ATTNLOCK_PLATFORM", "ATTNLOCK_GPU",
                 "ATTNLOCK_CUDA_DRIVER", "ATTNLOCK_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ db show answers the older releases

@pytest.mark.parametrize(("package", "version", "fragment"), [
    ("xformers", "0.0.12", "xformers-0.0.12.tar.gz"),
    ("torch", "1.12.1", "cu102"),  # the default-index build, from the wheel's torch/version.py
    ("jax", "0.3.25", "no longer on the default index"),
    ("jaxlib", "0.3.25", "from 0.4.13 only"),  # not served: the database says so instead of "unknown"
    ("torchtext", "0.18.0", "development is stopped"),
    ("triton-windows", "3.6.0.post26", "<2.12,>=2.10"),
    ("bitsandbytes", "0.42.0", "cu123"),
])
def test_db_show_answers(capsys: pytest.CaptureFixture[str], package: str, version: str, fragment: str) -> None:
    code, out, err = run(capsys, "db", "show", package, version, "--json")
    assert code == 0, err
    assert fragment in out, out[:2000]


def test_db_show_lists_the_community_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "show", "community", "--json")
    assert code == 0
    (src,) = json.loads(out)
    assert src["name"] == "mjun0812" and "Not built, reviewed or signed" in src["trust"]


# ------------------------------------------------------------------ check judges the new packages

@pytest.mark.parametrize(("lines", "code", "fragment"), [
    (["torch==2.4.0", "torchtext==0.18.0"], 1, "no torchtext==0.18.0 release was built for torch 2.4.0"),
    (["torch==2.3.1", "torchtext==0.18.0"], 0, ""),
    (["torch==2.6.0", "pytorch-triton==0.0.1"], 1, "name placeholder"),
])
def test_check_judges_packages_named_in_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               lines: list[str], code: int, fragment: str) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("\n".join(lines) + "\n")
    got, out, err = run(capsys, "check", str(req), "--python", "3.10", "--platform", "linux-x86_64",
                        "--gpu", "sm_80", "--driver", "550.54.14")
    assert got == code, out + err
    assert fragment in out


# ------------------------------------------------------------------ community sources: opt-in, named

def test_without_the_flag_nothing_changes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "--torch", "2.13.0", *H100, "--with", "torch,flash-attn")
    assert code == 1 and "no flash-attn release was built for torch 2.13.0" in err
    assert out == ""  # nothing planned from the community source without the flag …
    assert "plan it with --source community" in err  # … the error only says that one publishes a wheel


def test_community_pin_names_its_source_in_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--torch", "2.13.0", *H100, "--with", "torch,flash-attn", "--source", "community"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    lines = out.splitlines()
    pin = next(i for i, line in enumerate(lines) if line.startswith("flash-attn @ "))
    assert "mjun0812/flash-attention-prebuild-wheels/releases/download/" in lines[pin]
    assert lines[pin - 1].startswith("# source: community source mjun0812 (https://github.com/mjun0812/")
    assert "--source community" in next(line for line in lines if line.startswith("# Regenerate:"))
    code, out, err = run(capsys, *argv, "--json")
    doc: dict[str, Any] = json.loads(out)
    assert doc["sources"] == {"flash-attn": "community source mjun0812 "
                                            "(https://github.com/mjun0812/flash-attention-prebuild-wheels)"}
    code, out, err = run(capsys, *argv, "--format", "uv")
    assert "# flash-attn: from the community source mjun0812" in out
    # The generated file passes check: naming the wheel's URL is the file's own opt-in.
    path = tmp_path / "constraints.txt"
    assert run(capsys, *argv, "-o", str(path))[0] == 0
    code, out, err = run(capsys, "check", str(path), *H100)
    assert "AL112" not in out, out


def test_json_has_no_sources_key_without_community_pins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "--torch", "2.8.0", *H100, "--with", "torch,flash-attn",
                         "--source", "community", "--json")
    assert code == 0, err
    assert "sources" not in json.loads(out)  # the official wheel was planned: nothing to name


def test_an_unknown_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "generate", "--torch", "2.13.0", *H100, "--with", "flash-attn", "--source", "nope")
    assert code == 2 and "unknown wheel source nope" in err and "mjun0812" in err


# ------------------------------------------------------------------ strict records

SOURCE = {"name": "x", "repository": "https://github.com/x/y", "url_template": "https://github.com/x/y/{tag}/{file}",
          "packages": ["flash-attn"], "trust": "t", "source": "https://github.com/x/y", "checked": "2026-12-04"}


@pytest.mark.parametrize(("record", "key"), [
    ({"source_name": "nobody", "package": "flash-attn", "version": "2.8.3", "tag": "v1",
      "files": ["flash_attn-2.8.3+cu130torch2.13-cp312-cp312-linux_x86_64.whl"]}, "source_name"),
    ({"source_name": "x", "package": "flash-attn", "version": "2.8.3", "tag": "v1",
      "files": ["flash_attn-2.8.2+cu130torch2.13-cp312-cp312-linux_x86_64.whl"]}, "files"),
    ({"source_name": "x", "package": "flash-attn", "version": "2.8.3", "tag": "v1",
      "files": ["flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl"]}, "files"),
    ({"source_name": "x", "package": "xformers", "version": "0.0.30", "tag": "v1", "files": ["a.whl"]}, "package"),
])
def test_community_wheel_records_are_strict(record: dict[str, Any], key: str) -> None:
    sources, problems = parse_sources([SOURCE], "community.toml")
    assert problems == []
    wheels, problems = parse_wheels([record], {s.name: s for s in sources}, "community.toml")
    assert wheels == () and [p.key for p in problems] == [f"wheels[0].{key}"]


def test_community_source_needs_an_https_template_with_tag_and_file() -> None:
    _, problems = parse_sources([dict(SOURCE, url_template="http://x/{file}")], "community.toml")
    assert [p.key for p in problems] == ["source[0].url_template"]


@pytest.mark.parametrize(("parse", "table", "record", "key"), [
    (parse_pairings, "torch_pairing", {"package": "torchtext", "versions": "==0.18.0", "torch": ">=2.3,<<2.4"},
     "torch"),
    (parse_end_of_life, "end_of_life", {"package": "torchtext", "last": "zero", "announced": "x"}, "last"),
    (parse_presence, "index_presence", {"package": "x", "served": "gone", "what": "x"}, "served"),
    (parse_cuda_libraries, "cuda_library", {"package": "bitsandbytes", "versions": ">=0.50", "match": "minor"},
     "match"),
])
def test_packages_records_are_strict(parse: Any, table: str, record: dict[str, Any], key: str) -> None:
    parsed, problems = parse([record], "packages.toml")
    assert parsed == () and [p.key for p in problems] == [f"{table}[0].{key}"]


# ------------------------------------------------------------------ curated vs derived: bitsandbytes' libraries

def _bnb_cases() -> list[Any]:
    """Every bitsandbytes known-bad record that names a torch CUDA variant: the releases it covers."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    doc = tomllib.loads((REPO_DATA / "curated" / "known_bad.toml").read_text(encoding="utf-8"))
    return [pytest.param(rec, id=rec["id"]) for rec in doc["combination"]
            if rec.get("class") == "bitsandbytes" and rec.get("torch_variant") and "bitsandbytes" in rec["packages"]]


@pytest.mark.parametrize("record", _bnb_cases())
def test_bitsandbytes_cuda_records_match_the_wheels_file_lists(record: dict[str, Any]) -> None:
    """A record saying releases lack the library for a CUDA variant: every release in its range that
    ships per-CUDA libraries lacks it in its Linux x86_64 wheel, and the first release after the range has it."""
    from packaging.specifiers import SpecifierSet

    from attnlock.compat.packages import binary_cuda
    from attnlock.database.store import Database

    db = Database(REPO_DATA)
    spec = SpecifierSet(record["packages"]["bitsandbytes"])
    rels = [r for r in db.releases("bitsandbytes") if r.members and not r.version.is_prerelease]

    def linux(rel: Any) -> tuple[str, ...]:
        return next((labels for wheel, labels in binary_cuda(rel).items() if "x86_64" in wheel or "any" in wheel), ())

    inside = [r for r in rels if spec.contains(r.version)]
    after = [r for r in rels if r.version > max(r.version for r in inside)] if inside else []
    assert inside and after
    for variant in record["torch_variant"]:
        assert all(variant not in linux(r) for r in inside), [(str(r.version), linux(r)) for r in inside]
        assert variant in linux(after[0]), (str(after[0].version), linux(after[0]))


@pytest.mark.parametrize(("package", "version"), [
    ("torch", "9.9.9"),  # only open-ended known-bad ranges (torch>=2.7.0) contain it
    ("vllm", "9.9.9"),  # an engine: its coupling and an "unknown" wheel build are no release either
    ("xformers", "0.0.999"),
])
def test_db_show_refuses_a_version_that_does_not_exist(capsys: pytest.CaptureFixture[str], package: str,
                                                       version: str) -> None:
    code, out, err = run(capsys, "db", "show", package, version)
    assert code == 2, out[:500]
    assert f"{package} {version} is not in the database" in err and "newest known:" in err
