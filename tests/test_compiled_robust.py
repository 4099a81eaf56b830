"""The compiled database under attack: entries of the wrong form, other Pythons' entries, sources
that stop parsing, a disk that cannot be written, several processes filling one cache."""

from __future__ import annotations

import errno
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attnlock.database import compiled, store
from attnlock.database.store import Database
from attnlock.errors import DataError

ROOT = Path(__file__).resolve().parent.parent

DEMO = {"checked": "2026-12-04", "releases": {
    "1.0": {"files": {"demo-1.0-py3-none-any.whl": {"size": 1}},
            "metadata": [{"source": "w", "platforms": ["any"], "requires_dist": ["torch==2.3.1", "numpy"]}]}}}
TORCH_TOML = 'checked = 2026-12-04\n[[variants]]\ntorch = ">=2.3"\npypi = "cu121"\nsource = "test"\n'


def _data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "derived").mkdir(parents=True)
    (root / "curated").mkdir()
    (root / "derived" / "demo.json").write_text(json.dumps(DEMO))
    (root / "curated" / "torch.toml").write_text(TORCH_TOML)
    for p in (root / "derived" / "demo.json", root / "curated" / "torch.toml"):
        st = p.stat()  # edited an hour ago: an entry made now vouches for it by its stamp alone
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - 3600 * 1_000_000_000))
    return root


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "attnlock" / "db").glob("*/*.m"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def _use(root: Path) -> tuple[Any, ...]:
    """What commands read: the raw files, releases, their files and requirements, a curated record."""
    db = Database(root)
    (rel,) = db.releases("demo")
    return (db.derived_raw("demo"), db.checked("demo"), [f.filename for f in rel.files],
            [t for _n, t in rel.metadata[0].lines_naming(frozenset({"torch"}))],
            db.curated_raw("torch"), db.curated_records("torch", "variants"))


SHAPES = [42, None, ["x"], ("a", "b"), ("doc",), ({"releases": 5}, []), ([1], {}), {"releases": {}},
          ({"releases": {}}, {}, {})]


@pytest.mark.parametrize("payload", SHAPES, ids=repr)
@pytest.mark.parametrize("which", ["derived--demo.json.m", "curated--torch.toml.m"])
def test_an_entry_of_another_form_is_a_miss_not_a_traceback(payload: object, which: str, cache: Path,
                                                             tmp_path: Path) -> None:
    """An entry whose header vouches for its source but whose payload is not what the parser
    returns ((doc, indexes) for JSON, a table for TOML) is parsed around and replaced."""
    if which.startswith("curated") and isinstance(payload, dict):
        pytest.skip("a table: the right form (an entry holding another table is test_perf_store's case)")
    root = _data(tmp_path)
    expected = _use(root)
    (entry,) = [e for e in _entries(cache) if e.name == which]
    header = compiled._parse_header(entry.read_bytes())
    assert header is not None
    entry.write_bytes(compiled._assemble(header, marshal.dumps(payload)))
    assert _use(root) == expected
    assert compiled._parse_header(entry.read_bytes()) is not None
    assert marshal.loads(entry.read_bytes()[len(compiled.MAGIC) + 4 + compiled._header_len(entry.read_bytes()):]) \
        != payload  # rewritten from the source
    assert [p for p in Database(root).validate() if p.key == "compiled"] == []


@pytest.mark.parametrize("text", ['"a string"', "[1, 2]", "5", "null"])
def test_a_derived_file_that_is_not_an_object_is_a_data_error(text: str, cache: Path, tmp_path: Path) -> None:
    root = _data(tmp_path)
    (root / "derived" / "demo.json").write_text(text)
    for ask in (lambda db: db.releases("demo"), lambda db: db.checked("demo"), lambda db: db.derived_raw("demo")):
        with pytest.raises(DataError, match="not an object"):
            ask(Database(root))


def test_shipped_entries_of_another_marshal_format_are_no_problem(cache: Path, tmp_path: Path) -> None:
    """A pure wheel installs on any Python: entries of a marshal format the installing one does not
    write are unused (the cache takes over) and db validate has nothing to report; a file that is no
    entry is reported."""
    root = _data(tmp_path)
    shipped = root / compiled.SHIPPED_DIR
    assert compiled.compile_into(root, shipped, store.PARSERS) == ["curated/torch.toml", "derived/demo.json"]
    for entry in shipped.iterdir():
        blob = entry.read_bytes()
        header = compiled._parse_header(blob)
        assert header is not None
        other = compiled._assemble(header.__class__(**{**header.__dict__, "runtime": "marshal/99"}),
                                   blob[len(compiled.MAGIC) + 4 + compiled._header_len(blob):])
        entry.write_bytes(other)
    expected = _use(root)
    assert [p for p in Database(root).validate() if p.key == "compiled"] == []
    (shipped / "curated--torch.toml.m").write_bytes(b"not an entry at all")
    problems = [p for p in Database(root).validate() if p.key == "compiled"]
    assert [Path(p.file).name for p in problems] == ["curated--torch.toml.m"]
    assert "rebuild the wheel" in problems[0].message
    assert _use(root) == expected


def test_db_validate_reports_an_entry_whose_source_stopped_parsing(cache: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The source edited into invalid JSON keeping its size and mtime: the stale entry is named, as is the JSON."""
    from attnlock.cli import main

    root = _data(tmp_path)
    _use(root)
    path = root / "derived" / "demo.json"
    st = path.stat()
    text = path.read_text()
    path.write_text("{" + text[1:-1] + "{")  # same size, no longer JSON
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    problems = Database(root).validate()
    assert any(p.key == "compiled" and p.file.endswith("derived--demo.json.m") and "delete the entry" in p.message
               for p in problems), problems
    assert main(["db", "--data-dir", str(root), "validate"]) == 1
    out = capsys.readouterr().out
    assert "derived--demo.json.m: compiled:" in out and "delete the entry" in out


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   OSError(errno.EROFS, "Read-only file system"),
                                   PermissionError(errno.EACCES, "Permission denied")], ids=str)
def test_a_cache_that_cannot_be_written_is_no_error(error: OSError, cache: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from attnlock import atomic

    root = _data(tmp_path)
    expected = _use(root)
    for entry in _entries(cache):
        entry.unlink()

    def fail(*_a: object, **_k: object) -> None:
        raise error

    monkeypatch.setattr(atomic, "write_bytes_atomic", fail)
    assert _use(root) == expected
    assert _entries(cache) == []


def test_processes_filling_one_cache_at_once(cache: Path, tmp_path: Path) -> None:
    """Entries are replaced atomically: racing writers and readers all get the data, and leave
    whole entries and no temporary files behind."""
    root = _data(tmp_path)
    expected = json.dumps(DEMO, sort_keys=True)
    code = ("import json, sys; from pathlib import Path; from attnlock.database.store import Database\n"
            "for _ in range(20):\n"
            "    db = Database(Path(sys.argv[1])); db.releases('demo'); db.curated_raw('torch')\n"
            "    print(json.dumps(db.derived_raw('demo'), sort_keys=True))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.splitlines() == [expected] * 20
    entries = _entries(cache)
    assert sorted(e.name for e in entries) == ["curated--torch.toml.m", "derived--demo.json.m"]
    assert all(compiled._parse_header(e.read_bytes()) is not None for e in entries)
    assert [p.name for p in (cache / "attnlock" / "db").glob("*/.*")] == []


COLLECTION_CACHE = compiled.cache_dir()  # where a database read while collecting would write


def test_collection_writes_no_user_cache() -> None:
    assert COLLECTION_CACHE is not None and "attnlock-test-cache-" in str(COLLECTION_CACHE), COLLECTION_CACHE


@pytest.fixture(scope="module")
def module_cache_dir() -> Path | None:
    """What a module-scoped fixture that reads the database (test_emit_pyproject's plans) writes into:
    it is set up before any function-scoped fixture."""
    return compiled.cache_dir()


def test_module_fixtures_write_no_user_cache(module_cache_dir: Path | None,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """Guards the suite: no test, module fixture included, fills the real ~/.cache/attnlock."""
    assert module_cache_dir is not None
    assert ("attnlock-test-cache-" in str(module_cache_dir)
            or module_cache_dir.is_relative_to(tmp_path_factory.getbasetemp())), module_cache_dir


def test_a_cached_entry_whose_source_was_removed_is_no_problem(cache: Path, tmp_path: Path) -> None:
    """``git rm data/derived/x.json``: its cached entry is never read again (a source that is gone is
    absent), so db validate has nothing to report; a shipped entry without its source is reported."""
    root = _data(tmp_path)
    _use(root)
    (root / "derived" / "demo.json").unlink()
    assert Database(root).derived_raw("demo") is None
    assert [p for p in Database(root).validate() if p.key == "compiled"] == []
    (root / "derived" / "demo.json").write_text(json.dumps(DEMO))
    compiled.compile_into(root, root / compiled.SHIPPED_DIR, store.PARSERS)
    (root / "derived" / "demo.json").unlink()
    problems = [p for p in Database(root).validate() if p.key == "compiled"]
    assert [Path(p.file).name for p in problems] == ["derived--demo.json.m"]
    assert str(root / compiled.SHIPPED_DIR) in problems[0].file and "is gone" in problems[0].message


def test_an_entry_indexed_by_other_code_is_a_miss(cache: Path, tmp_path: Path) -> None:
    """A derived entry stores the Requires-Dist index as records.py computed it: after the screen
    changes (a git pull, an upgrade reading a persistent ATTNLOCK_DATA_DIR) the data file keeps its
    stamp, yet the old index must not be served."""
    from attnlock.database import records

    root = _data(tmp_path)

    def other_screen(lines: Any) -> Any:  # what an older attnlock indexed: numpy under "torch"
        return {"torch": tuple((i, None, False) for i in range(len(lines)))}

    with pytest.MonkeyPatch.context() as mp:
        older = getattr(records, "INDEX_VERSION", 1) - 1
        mp.setattr(records, "INDEX_VERSION", older, raising=False)
        mp.setattr(store, "INDEX_VERSION", older, raising=False)
        mp.setattr(store, "requires_dist_index", other_screen)
        stale = Database(root).releases("demo")[0].metadata[0].lines_naming(frozenset({"torch"}))
        assert [t for _n, t in stale] == ["torch==2.3.1", "numpy"]  # the other code's entry, now cached
    assert len(_entries(cache)) == 1
    (rel,) = Database(root).releases("demo")
    assert [t for _n, t in rel.metadata[0].lines_naming(frozenset({"torch"}))] == ["torch==2.3.1"]


def test_the_index_version_follows_the_screen() -> None:
    """The screen code changed: update DIGEST, and bump records.INDEX_VERSION if the index it makes
    changed (cached entries hold the old one)."""
    import hashlib
    import inspect

    from attnlock.database import records

    code = "".join(inspect.getsource(f) for f in (records._extra_required, records._screen_line,
                                                   records.requires_dist_index))
    code += "".join(p.pattern for p in (records._REQ_NAME, records._ONLY_EXTRA, records._AND_EXTRA, records._QUOTED,
                                        records._GROUP, records._OR))
    assert (records.INDEX_VERSION, hashlib.sha256(code.encode()).hexdigest()[:16]) == (1, DIGEST)


DIGEST = "b88f0150e16ef3a4"  # of the screen code at INDEX_VERSION 1
