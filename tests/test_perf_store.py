"""The database's fast paths give the answers of the slow ones: compiled entries, lazy Requires-Dist, release index."""

from __future__ import annotations

import datetime
import json
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from attnlock.database import compiled
from attnlock.database.store import Database, MetadataRecord, cache_dir, marker_holds, target_environment
from attnlock.model import Platform, PythonVersion

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ compiled entries

BIG_TOML = """\
title = "cache test"
checked = 2026-11-21
when = 2026-11-21T10:30:00Z
local = 2026-11-21T10:30:00.123456
at = 07:32:00
ratio = 0.1
huge = inf
nested = {a = [1, 2, {b = "c"}], "$not_a_tag" = true}

""" + "".join(f"""
[[release]]
package = "flash-attn"
version = "2.{i}.0"
torch = ["2.3", "2.4"]
cuda = ["cu122", "cu123"]
python = ["cp310", "cp311"]
note = "padding padding padding padding padding padding padding padding padding padding {i}"
""" for i in range(80))


def _data_dir(tmp_path: Path, text: str = BIG_TOML, stem: str = "flash_attn") -> Path:
    root = tmp_path / "data"
    (root / "curated").mkdir(parents=True)
    (root / "derived").mkdir()
    (root / "curated" / f"{stem}.toml").write_text(text)
    return root


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "attnlock" / "db").glob("*/*.m"))


def _rewrite(entry: Path, change: Callable[[Any], Any]) -> None:
    """Re-encode a compiled entry with its payload changed (the header, stamp included, kept)."""
    blob = entry.read_bytes()
    header = compiled._parse_header(blob)
    assert header is not None
    payload = marshal.loads(blob[len(compiled.MAGIC) + 4 + compiled._header_len(blob):])
    data = change(compiled._untag(payload) if header.tagged else payload)
    new = compiled.encode(header, data)
    assert new is not None
    entry.write_bytes(new)


def _age(path: Path, seconds: int = 3600) -> None:
    """Move ``path``'s mtime into the past: an entry made now then vouches for it by its stamp alone."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def test_cache_dir_follows_xdg(cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir() == cache / "attnlock"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "attnlock"


def test_compiled_load_equals_tomllib_and_is_written_outside_data(cache: Path, tmp_path: Path) -> None:
    root = _data_dir(tmp_path)
    expected = tomllib.loads(BIG_TOML)
    assert isinstance(expected["checked"], datetime.date) and isinstance(expected["at"], datetime.time)
    first = Database(root).curated_raw("flash_attn")
    assert first == expected
    entries = _entries(cache)
    assert len(entries) == 1
    second = Database(root).curated_raw("flash_attn")  # from the entry
    assert second == expected
    assert type(second["checked"]) is datetime.date and type(second["when"]) is datetime.datetime
    assert second["when"].utcoffset() == datetime.timedelta(0) and second["local"].tzinfo is None
    assert sorted(p.name for p in (root / "curated").iterdir()) == ["flash_attn.toml"]
    assert not any((root / "derived").iterdir())


def test_the_entry_is_what_a_second_load_returns(cache: Path, tmp_path: Path) -> None:
    """Guards against entries that are written but never read: an edited entry with a valid stamp is served."""
    root = _data_dir(tmp_path)
    _age(root / "curated" / "flash_attn.toml")
    Database(root).curated_raw("flash_attn")
    (entry,) = _entries(cache)
    _rewrite(entry, lambda d: {**d, "title": "served from the entry"})
    assert Database(root).curated_raw("flash_attn")["title"] == "served from the entry"
    assert Database(root).validate()[-1].key == "compiled"  # db validate sees the entry differ from its source


def test_a_stamp_that_vouches_needs_no_hash(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry made well after its source last changed is used on one stat: the source is not read."""
    root = _data_dir(tmp_path)
    _age(root / "curated" / "flash_attn.toml")
    expected = Database(root).curated_raw("flash_attn")

    def no_hash(*_a: object) -> bool:
        raise AssertionError("hashed a source whose stamp vouches for the entry")

    monkeypatch.setattr(compiled, "_same_content", no_hash)
    assert Database(root).curated_raw("flash_attn") == expected


def test_a_racy_entry_is_checked_by_content_then_stamped_again(cache: Path, tmp_path: Path) -> None:
    """An entry made within the timestamp granularity of its source's change is checked by hash;
    once that window has passed, the entry is stamped again so the next load needs only the stat."""
    root = _data_dir(tmp_path)
    Database(root).curated_raw("flash_attn")
    (entry,) = _entries(cache)
    header = compiled._parse_header(entry.read_bytes())
    assert header is not None
    src = root / "curated" / "flash_attn.toml"
    assert src.stat().st_mtime_ns >= header.made_ns - compiled.RACY_NS  # racy: checked by content
    _age(src)
    st = src.stat()
    # The entry still names the old mtime: a miss, parsed and written again with the new stamp.
    Database(root).curated_raw("flash_attn")
    again = compiled._parse_header(entry.read_bytes())
    assert again is not None and again.mtime_ns == st.st_mtime_ns and st.st_mtime_ns < again.made_ns - compiled.RACY_NS


def test_stale_entry_is_ignored_after_the_toml_changes(cache: Path, tmp_path: Path) -> None:
    root = _data_dir(tmp_path)
    path = root / "curated" / "flash_attn.toml"
    assert Database(root).curated_raw("flash_attn")["title"] == "cache test"
    # Same size and same mtime, different bytes, within the timestamp granularity: only the hash can tell.
    st = path.stat()
    path.write_text(BIG_TOML.replace('"cache test"', '"cache TEST"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert Database(root).curated_raw("flash_attn")["title"] == "cache TEST"
    # A different size.
    path.write_text(BIG_TOML.replace('"cache test"', '"a longer title"'))
    assert Database(root).curated_raw("flash_attn")["title"] == "a longer title"
    assert len(_entries(cache)) == 1  # the file's entry was replaced, not added to


def test_an_edit_that_keeps_size_and_an_old_mtime_is_what_db_validate_finds(cache: Path, tmp_path: Path) -> None:
    """The one edit a stat cannot see (same size, mtime put back to an old value, as make and git
    also miss): the entry is served, and ``db validate`` names it with the fix."""
    root = _data_dir(tmp_path)
    path = root / "curated" / "flash_attn.toml"
    _age(path)
    Database(root).curated_raw("flash_attn")
    st = path.stat()
    path.write_text(BIG_TOML.replace('"cache test"', '"cache TEST"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    problems = [p for p in Database(root).validate() if p.key == "compiled"]
    assert len(problems) == 1 and "delete the entry" in problems[0].message
    Path(problems[0].file).unlink()
    assert Database(root).curated_raw("flash_attn")["title"] == "cache TEST"


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff not an entry", compiled.MAGIC + b"\xff\xff\xff\x7f",
                                     compiled.MAGIC + b"\x02\x00\x00\x00[\x00", b"{" * 5000],
                         ids=["empty", "binary", "huge-header", "wrong-header", "text"])
def test_corrupt_entry_is_ignored_and_replaced(garbage: bytes, cache: Path, tmp_path: Path) -> None:
    root = _data_dir(tmp_path)
    expected = tomllib.loads(BIG_TOML)
    Database(root).curated_raw("flash_attn")
    (entry,) = _entries(cache)
    entry.write_bytes(garbage)
    assert Database(root).curated_raw("flash_attn") == expected
    assert compiled._parse_header(entry.read_bytes()) is not None  # rewritten


def test_truncated_entry_is_ignored(cache: Path, tmp_path: Path) -> None:
    root = _data_dir(tmp_path)
    Database(root).curated_raw("flash_attn")
    (entry,) = _entries(cache)
    entry.write_bytes(entry.read_bytes()[:-100])
    assert Database(root).curated_raw("flash_attn") == tomllib.loads(BIG_TOML)


def test_entry_with_wrongly_tagged_value_is_ignored(cache: Path, tmp_path: Path) -> None:
    root = _data_dir(tmp_path)
    Database(root).curated_raw("flash_attn")
    (entry,) = _entries(cache)
    blob = entry.read_bytes()
    header = compiled._parse_header(blob)
    assert header is not None and header.tagged
    payload = marshal.loads(blob[len(compiled.MAGIC) + 4 + compiled._header_len(blob):])
    payload["checked"] = {"$toml": "date", "v": "not a date"}
    entry.write_bytes(compiled._assemble(header, marshal.dumps(payload)))
    assert Database(root).curated_raw("flash_attn") == tomllib.loads(BIG_TOML)


def test_unusable_cache_directory_falls_back_to_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    root = _data_dir(tmp_path)
    assert Database(root).curated_raw("flash_attn") == tomllib.loads(BIG_TOML)
    assert blocker.read_text() == "a file where the cache directory would be"


def test_a_table_with_a_tag_key_is_not_compiled(cache: Path, tmp_path: Path) -> None:
    text = BIG_TOML + '\n[odd]\n"$toml" = "date"\nv = "2026-01-01"\n'
    root = _data_dir(tmp_path, text)
    assert Database(root).curated_raw("flash_attn") == tomllib.loads(text)
    assert _entries(cache) == []
    assert Database(root).curated_raw("flash_attn")["odd"] == {"$toml": "date", "v": "2026-01-01"}


def test_broken_toml_is_still_a_data_error(cache: Path, tmp_path: Path) -> None:
    from attnlock.errors import DataError

    root = _data_dir(tmp_path, BIG_TOML + "\n[[release]\n")
    with pytest.raises(DataError):
        Database(root).curated_raw("flash_attn")
    assert _entries(cache) == []


def test_shipped_data_loads_the_same_through_compiled_entries(cache: Path) -> None:
    root = ROOT / "data"
    for path in sorted((root / "curated").glob("*.toml")):
        expected = tomllib.loads(path.read_text(encoding="utf-8"))
        assert Database(root).curated_raw(path.stem) == expected, path.name
        assert Database(root).curated_raw(path.stem) == expected, path.name  # second: compiled
    for path in sorted((root / "derived").glob("*.json")):
        expected = json.loads(path.read_text(encoding="utf-8"))
        assert Database(root).derived_raw(path.stem) == expected, path.name
        fresh, again = Database(root), Database(root)
        assert again.derived_raw(path.stem) == expected, path.name
        assert fresh.releases(path.stem) == again.releases(path.stem)
    assert len(_entries(cache)) == len(list((root / "curated").glob("*.toml"))) + len(list((root / "derived").glob("*.json")))


def test_shipped_entries_serve_an_installed_copy_then_the_cache(cache: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel's entries (made by the build hook) are used once their sources' content is checked
    (installing gave the files new mtimes), and stamped into the cache for the next run."""
    from attnlock.database import store

    root = _data_dir(tmp_path)
    (root / "derived" / "demo.json").write_text(json.dumps(
        {"checked": "2026-12-04", "releases": {"1.0": {"metadata": [{"requires_dist": ["torch==2.3.1"]}]}}}))
    done = compiled.compile_into(root, root / compiled.SHIPPED_DIR, store.PARSERS)
    assert done == ["curated/flash_attn.toml", "derived/demo.json"]
    for p in (root / "curated" / "flash_attn.toml", root / "derived" / "demo.json"):
        _age(p)  # installed: new mtimes, unknown to the build

    def refuse(_raw: bytes) -> Any:
        raise AssertionError("parsed a source although a shipped entry matches it")

    parse_toml, parse_derived = store.parse_toml, store.parse_derived

    monkeypatch.setattr(store, "parse_toml", refuse)
    monkeypatch.setattr(store, "parse_derived", refuse)
    db = Database(root)
    assert db.curated_raw("flash_attn")["title"] == "cache test"
    assert [str(r.version) for r in db.releases("demo")] == ["1.0"]
    assert len(_entries(cache)) == 2
    monkeypatch.setattr(store, "parse_toml", parse_toml)
    monkeypatch.setattr(store, "parse_derived", parse_derived)
    assert [p for p in Database(root).validate() if p.key == "compiled"] == []
    monkeypatch.setattr(compiled, "_same_content", lambda *_a: False)  # the cache's stamp vouches now
    assert Database(root).curated_raw("flash_attn")["title"] == "cache test"


def test_a_shipped_entry_that_no_longer_matches_is_ignored_and_reported(cache: Path, tmp_path: Path) -> None:
    from attnlock.database import store

    root = _data_dir(tmp_path)
    compiled.compile_into(root, root / compiled.SHIPPED_DIR, store.PARSERS)
    path = root / "curated" / "flash_attn.toml"
    path.write_text(BIG_TOML.replace('"cache test"', '"cache TEST"'))  # same size: only the hash tells
    assert Database(root).curated_raw("flash_attn")["title"] == "cache TEST"
    problems = [p for p in Database(root).validate() if p.key == "compiled"]
    assert len(problems) == 1 and "rebuild the wheel" in problems[0].message


# ------------------------------------------------------------------ lazy Requires-Dist

REQUIRES_DIST = (
    "unsloth_zoo>=2026.10.9",
    "torch<2.15.0,>=2.4.0",
    "triton>=3.0; platform_system == 'Linux'",
    "triton-windows; platform_system == 'Windows'",
    "numpy<2; python_version < '3.12'",
    'bitsandbytes!=0.46.0,>=0.45.5; extra == "cu126-ampere-torch2121"',
    "xformers==0.0.35 ; extra == 'Cu126_Ampere_Torch2121'",
    'unsloth[huggingface]; extra == "cu130-ampere-torch2121"',
    'peft; extra == "huggingface" and python_version >= "3.10"',
    'trl; extra != "minimal"',
    'Torch.Vision ; extra == "vision"',
    'accelerate; extra == ""',
    "weird @ https://example.invalid/w.whl;extra == 'x'",
    "not a requirement ; extra == 'x'",
    "=== broken",
    "torch>=2.0; extra == \"torch-extra\"",
    'foo; (sys_platform == "linux" or sys_platform == "darwin") and extra == "gpu"',
    'bar; sys_platform == "win32" or python_version < "3.9" and extra == "gpu"',  # `or` binds looser
    'baz; platform_machine == "x86_64 or arm" and extra == "gpu"',  # an `or` inside a string
    "qux; ((sys_platform == 'linux') or (python_version >= '3.10')) and extra == 'Gpu_X'",
    'quux; python_version >= "3.10" and extra == "gpu" and sys_platform == "linux"',
    'corge; (python_version >= "3.10" and extra == "gpu"',  # unbalanced: invalid
)

TARGETS = [
    (None, None),
    (Platform("linux", "x86_64"), PythonVersion(3, 10)),
    (Platform("windows", "amd64"), PythonVersion(3, 12)),
    (Platform("macos", "arm64"), PythonVersion(3, 13)),
]
EXTRAS = [(), ("cu126-ampere-torch2121",), ("CU126.Ampere.Torch2121", "huggingface"), ("minimal",), ("x", "vision"),
          ("torch-extra",), ("gpu",), ("gpu-x", "GPU")]


def _reference(texts: tuple[str, ...], env: dict[str, str], extras: tuple[str, ...]) -> list[str]:
    """The original algorithm: parse every string, keep those whose marker holds."""
    out = []
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if marker_holds(req.marker, env, extras):
            out.append(str(req))
    return out


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}-{t[1]}")
@pytest.mark.parametrize("extras", EXTRAS, ids=lambda e: ",".join(e) or "no-extras")
def test_applicable_equals_parsing_everything(target: tuple[Platform | None, PythonVersion | None],
                                              extras: tuple[str, ...]) -> None:
    env = target_environment(*target)
    rec = MetadataRecord(source="test", platforms=("any",), requires_dist=REQUIRES_DIST)
    got = [str(r) for r in rec.applicable(env, extras)]
    assert got == _reference(REQUIRES_DIST, env, extras)
    for name in ("torch", "Torch_Vision", "triton", "xformers", "trl", "weird", "accelerate", "absent", "bar", "qux"):
        want = [r for r in _reference(REQUIRES_DIST, env, extras)
                if Requirement(r).name.lower().replace("_", "-").replace(".", "-") == name.lower().replace("_", "-")]
        assert [str(r) for r in rec.applicable(env, extras, name=name)] == want, name


def test_the_screen_keeps_what_only_parsing_can_decide() -> None:
    """Guards the screen itself: the top-level ``or`` line holds on Windows without any extra."""
    rec = MetadataRecord(source="test", platforms=("any",), requires_dist=REQUIRES_DIST)
    windows = target_environment(Platform("windows", "amd64"), PythonVersion(3, 12))
    linux = target_environment(Platform("linux", "x86_64"), PythonVersion(3, 12))
    assert [r.name for r in rec.applicable(windows, (), name="bar")] == ["bar"]
    assert [r.name for r in rec.applicable(linux, (), name="bar")] == []
    assert [r.name for r in rec.applicable(linux, ("gpu",), name="bar")] == []  # python_version < "3.9" fails
    linux38 = target_environment(Platform("linux", "x86_64"), PythonVersion(3, 8))
    assert [r.name for r in rec.applicable(linux38, ("gpu",), name="bar")] == ["bar"]
    assert [r.name for r in rec.applicable(linux38, (), name="bar")] == []
    assert {r.name for r in rec.applicable(linux, ("gpu",))} >= {"foo", "quux"}
    assert "foo" not in {r.name for r in rec.applicable(linux, ())}


def test_requirement_objects_are_the_records_own() -> None:
    """check's rules memoise by identity: asking twice, or through ``parsed``, gives the same objects."""
    rec = MetadataRecord(source="test", platforms=("any",), requires_dist=REQUIRES_DIST)
    env = target_environment(None, None)
    first = rec.applicable(env, ("huggingface",))
    assert [id(r) for r in first] == [id(r) for r in rec.applicable(env, ("huggingface",))]
    parsed_ids = {id(r) for r in rec.parsed}
    assert {id(r) for r in first} <= parsed_ids
    valid = []
    for text in REQUIRES_DIST:
        try:
            valid.append(str(Requirement(text)))
        except InvalidRequirement:
            continue
    assert [str(r) for r in rec.parsed] == valid and len(valid) < len(REQUIRES_DIST)


def test_target_environment_copies_are_independent() -> None:
    env = target_environment(Platform("linux", "x86_64"), PythonVersion(3, 11))
    env["python_version"] = "9.9"
    assert target_environment(Platform("linux", "x86_64"), PythonVersion(3, 11))["python_version"] == "3.11"


def _derived(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "derived").mkdir(parents=True)
    (root / "curated").mkdir()
    releases = {
        v: {"files": {}, "metadata": [{"source": "w", "platforms": ["any"], "requires_dist": list(REQUIRES_DIST)}]}
        for v in ("2026.1", "2026.10.9", "1.0", "2.3.1", "0.9.0rc1")
    }
    (root / "derived" / "unsloth.json").write_text(json.dumps({"checked": "2026-11-21", "releases": releases}))
    return root


def test_release_lookup_by_version(tmp_path: Path) -> None:
    db = Database(_derived(tmp_path))
    for v in ("2026.1", "2026.10.9", "1.0", "2.3.1", "0.9.0rc1"):
        rel = db.release("unsloth", v)
        assert rel is not None and rel.version == Version(v)
        assert db.release("Unsloth", Version(v)) is rel
    assert db.release("unsloth", "1.0.0") is db.release("unsloth", "1.0")  # equal versions
    assert db.release("unsloth", "2.3.1+cu121") is db.release("unsloth", "2.3.1")  # a local label
    assert db.release("unsloth", "3.0") is None
    assert db.release("unsloth", "3.0+cu121") is None
    assert db.release("absent", "1.0") is None


def test_release_requirements_through_the_database(tmp_path: Path) -> None:
    db = Database(_derived(tmp_path))
    rel = db.release("unsloth", "2026.10.9")
    assert rel is not None
    linux, py310 = Platform("linux", "x86_64"), PythonVersion(3, 10)
    env = target_environment(linux, py310)
    assert [str(r) for r in rel.requirements(linux, py310)] == _reference(REQUIRES_DIST, env, ())
    on_torch = rel.requirement_on("torch", linux, py310)
    assert on_torch is not None and str(on_torch.specifier) == "<2.15.0,>=2.4.0"
    assert rel.requirement_on("bitsandbytes", linux, py310) is None  # only with an extra
    assert rel.requirement_on("triton", Platform("windows", "amd64"), py310) is None
    assert rel.requirement_on("triton-windows", Platform("windows", "amd64"), py310) is not None


def test_the_cache_keeps_a_bounded_number_of_roots(cache: Path, tmp_path: Path) -> None:
    for i in range(compiled.MAX_ROOTS + 6):
        root = tmp_path / f"d{i}"
        (root / "curated").mkdir(parents=True)
        (root / "curated" / "flash_attn.toml").write_text(BIG_TOML.replace("cache test", f"copy {i}"))
        assert Database(root).curated_raw("flash_attn")["title"] == f"copy {i}"
    roots = [p for p in (cache / "attnlock" / "db").iterdir() if p.is_dir()]
    assert 0 < len(roots) <= compiled.MAX_ROOTS
