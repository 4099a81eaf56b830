"""The database's own readings of names, wheel tags and Requires-Dist give packaging's answers.

The compiled-database change (issue 15) replaced packaging's ``parse_wheel_filename``,
``canonicalize_name`` and the parse-every-line screen with cheaper readings; these tests hold
them to the originals over every value the shipped data holds, and over generated ones.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)

from attnlock.database.records import (
    FileInfo,
    MetadataRecord,
    marker_holds,
    target_environment,
)
from attnlock.model import Platform, PythonVersion, canonical

ROOT = Path(__file__).resolve().parent.parent
DERIVED = sorted((ROOT / "data" / "derived").glob("*.json"))


@functools.cache
def _doc(path: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _releases(path: Path) -> dict[str, dict[str, object]]:
    releases = _doc(path).get("releases")
    return releases if isinstance(releases, dict) else {}


def _wheel_names() -> list[str]:
    return sorted({name for path in DERIVED for rel in _releases(path).values()
                   for name in (rel.get("files") or {}) if name.endswith(".whl")})


def _packaging_tags(filename: str) -> frozenset[tuple[str, str, str]]:
    """What the code before the change answered: packaging's tags, none for a name it rejects."""
    try:
        return frozenset((t.interpreter, t.abi, t.platform) for t in parse_wheel_filename(filename)[3])
    except InvalidWheelFilename:
        return frozenset()


# ------------------------------------------------------------------ wheel tags

TARGETS = [(Platform("linux", "x86_64"), PythonVersion(3, 10)), (Platform("linux", "aarch64"), PythonVersion(3, 12)),
           (Platform("windows", "amd64"), PythonVersion(3, 11)), (Platform("macos", "arm64"), PythonVersion(3, 13)),
           (Platform("macos", "x86_64"), PythonVersion(3, 9)), (None, PythonVersion(3, 14)),
           (Platform("linux", "x86_64"), None), (None, None)]


def _runs_reference(filename: str, platform: Platform | None, python: PythonVersion | None) -> bool:
    from attnlock.database.records import Tag, _python_tag_ok

    for i, a, p in _packaging_tags(filename):
        if platform is not None and not platform.matches_wheel_platform(p):
            continue
        if python is not None and not _python_tag_ok(Tag(i, a, p), python):
            continue
        return True
    return False


def test_every_shipped_wheel_name_has_packagings_tags() -> None:
    names = _wheel_names()
    assert len(names) > 1000  # the test reads the real data, not an empty directory
    kinds = {"build tag": lambda n: n.count("-") == 5, "compressed": lambda n: "." in n[:-4].rsplit("-", 3)[1],
             "macos": lambda n: "macosx" in n, "windows": lambda n: "win" in n, "manylinux": lambda n: "manylinux" in n,
             "pure": lambda n: n.endswith("-none-any.whl")}
    for kind, has in kinds.items():
        assert any(has(n) for n in names), f"no {kind} wheel in data/derived: the test lost its coverage"
    for name in names:
        assert {tuple(t) for t in FileInfo(name).tags} == _packaging_tags(name), name
        for platform, python in TARGETS:
            assert FileInfo(name).runs_on(platform, python) == _runs_reference(name, platform, python), name


@pytest.mark.parametrize("filename", [
    "foo-1.0-py2.py3-none-any.whl",
    "foo-1.0-1-cp39.cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "foo-1.0-12abc-cp311-cp311-musllinux_1_2_aarch64.whl",
    "Foo_Bar-1.0-CP311-CP311-WIN_AMD64.whl",
    "torch-2.4.0+cu121-cp311-cp311-linux_x86_64.whl",
    # names packaging rejects: the code before the change gave them no tags
    "foo-1.0-build-py3-none-any.whl",  # a build tag must start with a digit
    "foo-notaversion-py3-none-any.whl",
    "fo__o-1.0-py3-none-any.whl",
    "f o-1.0-py3-none-any.whl",
    "foo-1.0-py3--any.whl",
    "foo-1.0-py3.-none-any.whl",
    "foo-1.0-3py-none-any.whl",  # an interpreter tag that is not an identifier
    "-1.0-py3-none-any.whl",
    "foo-1.0-py3-none.whl",
    "foo-1.0-1-2-py3-none-any.whl",
    "foo-1.0-py3-none-any.tar.gz",
])
def test_wheel_tags_equal_packagings(filename: str) -> None:
    assert {tuple(t) for t in FileInfo(filename).tags} == _packaging_tags(filename)
    for platform, python in TARGETS:
        assert FileInfo(filename).runs_on(platform, python) == _runs_reference(filename, platform, python)


_PART = st.text(alphabet="abcpy0123456789_.+!", min_size=0, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PART, min_size=4, max_size=7))
def test_generated_wheel_names_get_packagings_tags(parts: list[str]) -> None:
    filename = "-".join(parts) + ".whl"
    assert {tuple(t) for t in FileInfo(filename).tags} == _packaging_tags(filename)


# ------------------------------------------------------------------ names


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=20) | st.text(alphabet="aAzZ09-_.", max_size=20))
def test_canonical_is_canonicalize_name(name: str) -> None:
    assert canonical(name) == canonicalize_name(name)


def test_canonical_is_canonicalize_name_for_every_character() -> None:
    """Lower-casing can make a character longer (U+0130): the order of lowering and folding matters."""
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) == "Cs":
            continue
        text = f"a{chr(cp)}.-_B"
        assert canonical(text) == canonicalize_name(text), hex(cp)


# ------------------------------------------------------------------ Requires-Dist screen

ENVS = [target_environment(p, py) for p, py in TARGETS[:5]]


@functools.cache
def _requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


@functools.cache
def _holds(text: str, env_index: int, extras: tuple[str, ...]) -> bool:
    req = _requirement(text)
    return req is not None and marker_holds(req.marker, ENVS[env_index], extras)


def _lead(text: str) -> str | None:
    req = _requirement(text)
    return canonical(req.name) if req is not None else None


def _extras_named(records: set[tuple[str, ...]]) -> list[str]:
    found = {m for rd in records for t in rd for m in re.findall(r"""extra\s*==\s*["']([^"']+)""", t)}
    return sorted(found)


@pytest.mark.parametrize("package", ["unsloth", "vllm", "sglang", "unsloth-zoo"])
def test_lines_naming_keeps_every_line_whose_marker_can_hold(package: str) -> None:
    """Brute force over the real data: every Requires-Dist line that names one of the packages and
    whose marker holds (packaging's evaluation) with the asked extras, on any of several targets,
    is among ``lines_naming``'s, in order; extras spelled as a user may write them (``Colab_New``)."""
    from attnlock.database import store
    from attnlock.resolver.candidates import known_packages

    path = ROOT / "data" / "derived" / f"{package}.json"
    records = {tuple(m["requires_dist"]) for rel in _releases(path).values() for m in rel.get("metadata") or []
               if isinstance(m, dict) and isinstance(m.get("requires_dist"), list)}
    assert records
    named = _extras_named(records)
    spelled = [named[i].upper().replace("-", "_") for i in range(0, len(named), max(1, len(named) // 4))]
    extras_sets = [(), *((x,) for x in named[:: max(1, len(named) // 6)]), tuple(spelled)]
    known = known_packages(store.load(ROOT / "data"))
    name_sets = [known, frozenset({"torch"}), frozenset({"xformers", "triton", "flash-attn"})]
    for rd in sorted(records):
        rec = MetadataRecord(source="test", platforms=("any",), requires_dist=rd)
        for extras in extras_sets:
            for names in name_sets:
                got = [t for _n, t in rec.lines_naming(names, frozenset(extras))]
                for e in range(len(ENVS)):
                    want = [t for t in rd if _lead(t) in names and _holds(t, e, extras)]
                    assert [t for t in got if _holds(t, e, extras)] == want, (extras, names, e)
                every = [t for _n, t in rec.lines_naming(names, None)]
                assert [t for t in every if _requirement(t) is not None] == [t for t in rd if _lead(t) in names], names


# ------------------------------------------------------------------ flash-attn matrix excludes


def _expand_reference(rec: dict[str, object]) -> list[tuple[object, ...]]:
    """The scan before the change: a combination is dropped when every key of some exclude equals it."""
    excludes = [e for e in rec.get("exclude", []) if isinstance(e, dict)]  # type: ignore[attr-defined]
    out = []
    for torch in rec.get("torch", []):  # type: ignore[attr-defined]
        for cuda in rec.get("cuda", []):  # type: ignore[attr-defined]
            for abi in rec.get("cxx11abi", []):  # type: ignore[attr-defined]
                for py in rec.get("python", []):  # type: ignore[attr-defined]
                    for plat in rec.get("platforms", ["linux-x86_64"]):  # type: ignore[attr-defined]
                        combo = {"torch": torch, "cuda": cuda, "cxx11abi": abi, "python": py, "platform": plat}
                        if any(all(combo.get(k) == v for k, v in e.items()) for e in excludes):
                            continue
                        out.append((str(torch), str(cuda), bool(abi), str(py), str(plat)))
    return out


ODD_EXCLUDES = [[{"torch": {"a": 1}}], [{"python": ["cp311"]}], [{"torch": "2.3", "cuda": [["cu122"]]}], [{}],
                [{"cxx11abi": 0}], [{"cxx11abi": 1, "torch": "2.4"}], [{"platfrom": "linux-x86_64"}],
                [{"cuda": "cu122"}, {"torch": {"nested": ["x"]}, "cuda": "cu123"}], ["not a table"]]


@pytest.mark.parametrize("exclude", ODD_EXCLUDES, ids=repr)
def test_flash_attn_excludes_drop_what_the_scan_dropped(exclude: list[object]) -> None:
    """A malformed exclude (a table or list value matches no combination) is no traceback."""
    from packaging.version import Version

    from attnlock.database.store import _expand_flash_attn

    rec = {"url_template": "https://example.invalid/{version}/{torch}/{cuda}/{abi}/{python}",
           "torch": ["2.3", "2.4"], "cuda": ["cu122", "cu123"], "cxx11abi": [False, True], "python": ["cp311"],
           "exclude": exclude}
    got = [(w.torch_minor, w.cuda, w.cxx11abi, w.python, w.platform)
           for w in _expand_flash_attn(rec, Version("2.6.3"), "flash-attn")]
    assert got == _expand_reference(rec)


def test_shipped_flash_attn_matrix_expands_as_the_scan_did() -> None:
    from attnlock.database.store import Database

    db = Database(ROOT / "data")
    records = db.curated_records("flash_attn", "release")
    assert any(r.get("exclude") for r in records)
    expected = [w for r in records if canonical(str(r.get("package", "flash-attn"))) == "flash-attn"
                for w in _expand_reference(r)]
    got = [(w.torch_minor, w.cuda, w.cxx11abi, w.python, w.platform) for w in db.flash_attn_wheels()]
    assert got == expected


@pytest.mark.parametrize("extra", ["cu121onlytorch220", "CU121OnlyTorch220", "Cu121OnlyTorch220"])
def test_check_reads_an_extra_however_it_is_spelled(extra: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``unsloth[CU121OnlyTorch220]`` names the extra ``cu121onlytorch220`` (PEP 685): its xformers
    pin conflicts with torch 2.3.0 whatever the spelling (the screen once dropped the line)."""
    from attnlock.cli import main

    req = tmp_path / "requirements.txt"
    req.write_text(f"torch==2.3.0\nunsloth[{extra}]==2024.8\n")
    rc = main(["check", str(req), "--platform", "linux-x86_64", "--python", "3.11"])
    out = capsys.readouterr().out
    assert rc == 1 and "AL112" in out and "xformers==0.0.24" in out, out
