"""Round trips of the uv emitter over 28 real pyproject.toml files (tests/fixtures/pyproject/).

After attnlock writes its keys, everything outside them is byte for byte the original
(line diff: only insertions, or replacements inside attnlock-owned keys), the rest of the
document means the same thing, and writing twice changes nothing.
"""

from __future__ import annotations

import copy
import difflib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from attnlock.database.store import Database
from attnlock.emit import update_pyproject
from attnlock.emit.uv import INDEX_PREFIX
from attnlock.errors import InputError
from attnlock.model import Plan
from attnlock.database import load
from attnlock.resolver import covered, parse_with, resolve
from tests.test_resolver_cases import DB, make_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).parent / "fixtures" / "pyproject"
FILES = sorted(CORPUS.glob("*.toml"))


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    db = Database(DB)
    index_plan = resolve(db, make_target({"torch": "2.3.1", "cuda": "cu118", "python": "3.11",
                                          "platform": "linux-x86_64"}),
                         parse_with("torch,torchvision,xformers,flash-attn"))
    pypi_plan = resolve(db, make_target({"torch": "2.3.1", "python": "3.11", "platform": "linux-x86_64"}),
                        parse_with("torch,xformers"))
    sdist_plan = resolve(db, make_target({"python": "3.13", "platform": "linux-x86_64"}),
                         parse_with("torch,flash-attn"), allow_build=["flash-attn"])
    return {"index": index_plan, "pypi": pypi_plan, "sdist": sdist_plan}


def _owners(text: str) -> list[tuple[str, str | None]]:
    """(table, key) each line belongs to: a line scan good enough for these files."""
    table, key, out = "", None, []
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        m = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", stripped)
        if depth == 0 and m:
            table, key = m.group(1).replace('"', ""), None
        elif depth == 0:
            k = re.match(r'^([A-Za-z0-9_."-]+)\s*=', stripped)
            if k:
                key = k.group(1).strip('"')
        out.append((table, key if not table.endswith(("uv.index", "uv.dependency-metadata")) else None))
        if depth or (key and not m):
            depth += stripped.count("[") - stripped.count("]")
            depth = max(depth, 0)
    # An array-of-tables entry belongs to the `name = "..."` it declares.
    lines = text.splitlines()
    start = 0
    for i in range(len(lines) + 1):
        if i == len(lines) or re.match(r"^\s*\[", lines[i]):
            names = [re.match(r'^\s*name\s*=\s*"([^"]+)"', x) for x in lines[start:i]]
            found = next((n.group(1) for n in names if n), None)
            for j in range(start, i):
                if out[j][0].endswith(("uv.index", "uv.dependency-metadata")):
                    out[j] = (out[j][0], found)
            start = i
    return out


def _owned(table: str, key: str | None, plan: Plan) -> bool:
    routed = {p.package for p in plan.pins if p.index}
    if table == "tool.uv" and key == "constraint-dependencies":
        return True
    if table == "tool.uv.sources" and key in routed:
        return True
    if table == "tool.uv.extra-build-dependencies" and key in {p.package for p in plan.pins if p.sdist}:
        return True
    if table == "tool.uv.dependency-metadata" and key in {p.package for p in plan.pins if p.sdist}:
        return True
    # attnlock-* index tables; and the blank line a new table appended after the last one needs.
    return table == "tool.uv.index" and (key is None or key.startswith(INDEX_PREFIX))


def _without_owned(data: dict[str, Any], plan: Plan) -> dict[str, Any]:
    data = copy.deepcopy(data)
    uv = data.get("tool", {}).get("uv")
    if uv is None:
        return data
    owned = {p.package for p in plan.pins} | set(covered(load()))
    routed = {p.package for p in plan.pins if p.index}
    if "constraint-dependencies" in uv:
        uv["constraint-dependencies"] = [c for c in uv["constraint-dependencies"]
                                         if Requirement(c).name not in owned]
    if "index" in uv:
        uv["index"] = [t for t in uv["index"] if not t["name"].startswith(INDEX_PREFIX)]
    for name in routed:
        uv.get("sources", {}).pop(name, None)
    sdists = {p.package for p in plan.pins if p.sdist}
    if "dependency-metadata" in uv:
        uv["dependency-metadata"] = [m for m in uv["dependency-metadata"] if m["name"] not in sdists]
    for name in sdists:
        uv.get("extra-build-dependencies", {}).pop(name, None)
    for key in ("constraint-dependencies", "index", "sources", "dependency-metadata", "extra-build-dependencies"):
        if key in uv and not uv[key]:
            del uv[key]
    if not uv:
        del data["tool"]["uv"]
    if "tool" in data and not data["tool"]:
        del data["tool"]
    return data


def _check(original: str, plan: Plan) -> str:
    new = update_pyproject(original, plan)
    assert update_pyproject(new, plan) == new, "writing twice must change nothing"
    a, b = original.splitlines(keepends=True), new.splitlines(keepends=True)
    owners = _owners(original)
    for op, i1, i2, _j1, _j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            for i in range(i1, i2):
                if i == len(a) - 1 and not original.endswith("\n") and b and a[i] in new:
                    continue  # the last line gained the newline the appended table needs
                assert _owned(*owners[i], plan), f"line {i + 1} outside attnlock's keys changed: {a[i]!r}"
    assert _without_owned(tomllib.loads(new), plan) == _without_owned(tomllib.loads(original), plan)
    return new


@pytest.mark.parametrize("path", FILES, ids=[p.name.split("__")[1] for p in FILES])
@pytest.mark.parametrize("which", ["index", "pypi", "sdist"])
def test_round_trip_real_files(path: Path, which: str, plans: dict[str, Plan]) -> None:
    original = path.read_bytes().decode("utf-8")
    new = _check(original, plans[which])
    data = tomllib.loads(new)["tool"]["uv"]
    assert all(re.search(r"(==|@ )", c) for c in data["constraint-dependencies"]
               if Requirement(c).name in {p.package for p in plans[which].pins})
    if which == "index":
        ours = [t for t in data["index"] if t["name"].startswith(INDEX_PREFIX)]
        assert ours and all(t["explicit"] is True for t in ours)
        assert data["sources"]["torch"][0]["index"] == ours[0]["name"]
    if which == "sdist":
        assert [m["name"] for m in data["dependency-metadata"]][-1] == "flash-attn"
    # Re-planning for another target replaces attnlock's keys and leaves no stale index.
    other = plans["pypi" if which != "pypi" else "index"]
    again = update_pyproject(new, other)
    names = [t["name"] for t in tomllib.loads(again)["tool"]["uv"].get("index", [])]
    expected = {INDEX_PREFIX + ix.name for ix in other.indexes}
    assert {n for n in names if n.startswith(INDEX_PREFIX)} == expected


def test_corpus_is_complete() -> None:
    assert len(FILES) == 28 and (CORPUS / "SOURCES.md").exists()


@pytest.mark.parametrize("path", FILES[:6], ids=[p.name.split("__")[1] for p in FILES[:6]])
def test_crlf_and_missing_final_newline_survive(path: Path, plans: dict[str, Plan]) -> None:
    crlf = path.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\n", "\r\n")
    new = _check(crlf, plans["index"])
    assert "\n" not in new.replace("\r\n", "")
    bare = path.read_text(encoding="utf-8").rstrip("\n")
    new = _check(bare, plans["index"])
    assert not new.endswith("\n")


def test_invalid_toml_is_never_touched(plans: dict[str, Plan]) -> None:
    with pytest.raises(InputError) as info:
        update_pyproject('[project]\nname = "x"\n[tool.uv\n', plans["index"], path="pyproject.toml")
    assert info.value.line == 3 and info.value.path == "pyproject.toml"
