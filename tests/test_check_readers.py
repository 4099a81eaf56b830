"""Readers of ``attnlock check``: positions and spans of requirements, and bad input as findings."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from attnlock.check import check_paths
from attnlock.check.requirements import RequirementsReader
from attnlock.check.source import MAX_BYTES
from attnlock.check.tomlfiles import read_pylock, read_pyproject, read_uv_lock


def _entries(path: Path) -> list[tuple[int, int, str]]:
    docs = RequirementsReader().read(str(path))
    return [(e.line, e.column, e.text) for d in docs for e in d.entries]


def test_requirements_positions_spans_and_options(tmp_path: Path) -> None:
    text = (
        "# header comment\r\n"
        "\r\n"
        "  torch==2.3.1+cu121 ; sys_platform == 'linux'  # trailing\r\n"
        "--extra-index-url https://download.pytorch.org/whl/cu121\r\n"
        "-i https://example.invalid/simple\r\n"
        "xformers==0.0.27 \\\r\n"
        "    --hash=sha256:00 --hash=sha256:11\r\n"
        "flash-attn @ https://github.com/Dao-AILab/flash-attention/releases/download/v2.6.3/"
        "flash_attn-2.6.3+cu123torch2.3cxx11abiFALSE-cp310-cp310-linux_x86_64.whl#sha256=ab\r\n"
        "--pre\r\n"
        "triton==2.3.1"
    )
    path = tmp_path / "requirements.txt"
    path.write_bytes(text.encode())
    (doc,) = RequirementsReader().read(str(path))
    assert doc.findings == []
    got = [(e.line, e.column, e.text) for e in doc.entries]
    assert got[0] == (3, 3, "torch==2.3.1+cu121 ; sys_platform == 'linux'")
    assert got[1] == (6, 1, "xformers==0.0.27")
    assert got[2][0:2] == (8, 1) and got[2][2].startswith("flash-attn @ https://")
    assert got[3] == (10, 1, "triton==2.3.1")
    assert doc.entries[1].hashes == ("sha256:00", "sha256:11")
    assert str(doc.entries[2].url_version) == "2.6.3+cu123torch2.3cxx11abifalse"
    assert doc.source is not None
    for e in doc.entries:
        assert e.span is not None
        assert doc.source.text[e.span.start:e.span.end] == e.text
    assert [(i.option, i.line, i.url) for i in doc.indexes] == [
        ("--extra-index-url", 4, "https://download.pytorch.org/whl/cu121"),
        ("--index-url", 5, "https://example.invalid/simple"),
    ]


def test_continuation_inside_a_requirement_is_not_editable(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("torch\\\n==2.3.1\n")
    (doc,) = RequirementsReader().read(str(path))
    (entry,) = doc.entries
    assert (entry.line, entry.column, entry.text, entry.span) == (1, 1, "torch==2.3.1", None)


def test_hash_comment_inside_url_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("pkg @ https://example.invalid/pkg-1.0-py3-none-any.whl#sha256=00 # real comment\n")
    (doc,) = RequirementsReader().read(str(path))
    assert doc.entries[0].text == "pkg @ https://example.invalid/pkg-1.0-py3-none-any.whl#sha256=00"


def test_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.txt").write_text("torch==2.3.1\n-c ../pins.txt\n")
    (tmp_path / "pins.txt").write_text("triton==2.3.1\n")
    (tmp_path / "requirements.txt").write_text("-r sub/base.txt\nxformers==0.0.27\n")
    docs = RequirementsReader().read(str(tmp_path / "requirements.txt"))
    kinds = {Path(d.path).name: d.kind for d in docs}
    assert kinds == {"requirements.txt": "requirements", "base.txt": "requirements", "pins.txt": "constraints"}
    names = sorted((e.name, e.kind) for d in docs for e in d.entries)
    assert names == [("torch", "requirement"), ("triton", "constraint"), ("xformers", "requirement")]


def test_self_include_and_diamond(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r a.txt\n")
    report = check_paths([str(tmp_path / "a.txt")])
    assert [(f.code, f.line) for f in report.findings] == [("AL003", 1)]
    for name in ("b", "c"):
        (tmp_path / f"{name}.txt").write_text("-r d.txt\n")
    (tmp_path / "d.txt").write_text("torch==2.3.1\n")
    (tmp_path / "top.txt").write_text("-r b.txt\n-r c.txt\n")
    report = check_paths([str(tmp_path / "top.txt")])
    assert report.findings == []


@pytest.mark.parametrize(
    ("data", "line", "column", "words"),
    [
        (b"torch==2.3.1\n\x00\x01binary", 2, 1, "binary"),
        (b"# -*- coding: klingon -*-\ntorch\n", 1, 1, "unknown encoding"),
        (b"torch==2.3.1\nxformers\n# caf\xe9\n", 3, 6, "not valid utf-8"),
        (b"\xff\xfe\x00\x00" + "torch\n".encode("utf-32-le")[:3], 1, 5, "not valid utf-32"),
    ],
    ids=["binary", "unknown-encoding", "bad-utf8", "truncated-utf32"],
)
def test_bad_bytes_are_findings_with_line(tmp_path: Path, data: bytes, line: int, column: int, words: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(data)
    report = check_paths([str(path)])
    (f,) = report.findings
    assert (f.code, f.path, f.line, f.column) == ("AL001", str(path), line, column)
    assert words in f.message.lower()


def test_declared_latin1_and_utf16_bom_are_read(tmp_path: Path) -> None:
    p1 = tmp_path / "requirements-a.txt"
    p1.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\ntorch==2.3.1\n")
    p2 = tmp_path / "requirements-b.txt"
    p2.write_bytes(codecs.BOM_UTF16_LE + "torch==2.3.1\n".encode("utf-16-le"))
    for p in (p1, p2):
        (doc,) = RequirementsReader().read(str(p))
        assert [(e.line, e.text) for e in doc.entries][-1][1] == "torch==2.3.1"
        assert doc.findings == []
        assert doc.source is not None and not doc.source.fixable


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    with open(path, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    (f,) = check_paths([str(path)]).findings
    assert (f.code, f.line) == ("AL001", 1) and "at most" in f.message


def test_missing_directory_and_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "requirements-fifo.txt")
    (tmp_path / "requirements-dir.txt").mkdir()
    paths = [str(tmp_path / n) for n in ("requirements-missing.txt", "requirements-dir.txt", "requirements-fifo.txt")]
    report = check_paths(paths)
    assert [(Path(f.path).name, f.code, f.line) for f in report.findings] == [
        ("requirements-dir.txt", "AL001", 1), ("requirements-fifo.txt", "AL001", 1),
        ("requirements-missing.txt", "AL001", 1)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("torch\n")
    path.chmod(0)
    (f,) = check_paths([str(path)]).findings
    assert f.code == "AL001" and "permission" in f.message


def test_pyproject_positions(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "x"\nrequires-python = ">=3.10"\ndependencies = [\n'
        '    "torch==2.3.1",\n  \'xformers==0.0.27; sys_platform == "linux"\',\n]\n'
        "[project.optional-dependencies]\ngpu = [ 'triton==2.3.1' ]\n"
        '[dependency-groups]\ndev = ["pytest>=8", { include-group = "lint" }]\nlint = ["ruff"]\n'
        '[tool.uv]\noverride-dependencies = ["triton==2.3.1"]\n'
        '[[tool.uv.index]]\nname = "cu121"\nurl = "https://download.pytorch.org/whl/cu121"\nexplicit = true\n'
        '[tool.uv.sources]\ntorch = [{ index = "cu121", marker = "sys_platform == \'linux\'" }]\n'
    )
    doc = read_pyproject(str(path))
    assert doc.findings == []
    got = [(e.line, e.column, e.kind, e.group, e.text) for e in doc.entries]
    assert got == [
        (5, 6, "requirement", "", "torch==2.3.1"),
        (6, 4, "requirement", "", 'xformers==0.0.27; sys_platform == "linux"'),
        (9, 10, "requirement", "extra:gpu", "triton==2.3.1"),
        (11, 9, "requirement", "group:dev", "pytest>=8"),
        (12, 10, "requirement", "group:lint", "ruff"),
        (14, 27, "override", "", "triton==2.3.1"),
    ]
    assert doc.requires_python == ">=3.10"
    (index,) = doc.indexes
    assert (index.line, index.name, index.explicit, index.packages) == (17, "cu121", True, ("torch",))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[project]\ndependencies = ["torch"\n', 3, "invalid toml"),
        ('[project]\ndependencies = "torch==2.3.1"\n', 2, "must be an array"),
        ("[project]\ndependencies = [1]\n", 2, "must be a requirement string"),
        ('[project]\ndependencies = ["torch==="]\n[project.optional-dependencies]\nx = ["a b c"]\n', 4, "cannot parse"),
        ('[tool]\nuv = 3\n', 2, "must be a table"),
    ],
    ids=["syntax", "not-a-list", "not-a-string", "garbled-requirement", "wrong-table"],
)
def test_pyproject_problems_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    findings = check_paths([str(path)]).findings
    assert any(f.line == line and words in f.message.lower() and f.code == "AL002" for f in findings), findings


def test_uv_lock_and_pylock(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\nrequires-python = ">=3.10"\nresolution-markers = ["sys_platform == \'linux\'"]\n\n'
        '[[package]]\nname = "demo"\nversion = "0.1.0"\nsource = { editable = "." }\n\n'
        '[[package]]\nname = "torch"\nversion = "2.3.1+cu121"\n'
        'source = { registry = "https://download.pytorch.org/whl/cu121" }\n'
        'resolution-markers = ["sys_platform == \'linux\'"]\n'
        '[[package.wheels]]\nurl = "https://download.pytorch.org/whl/cu121/torch-2.3.1.whl"\n\n'
        '[[package]]\nname = "virtual"\nsource = { virtual = "." }\n'
    )
    doc = read_uv_lock(str(lock))
    assert doc.findings == []
    assert [(e.line, e.column, e.text, e.index) for e in doc.entries] == [
        (7, 11, "demo==0.1.0", None),
        (12, 11, "torch==2.3.1+cu121", "https://download.pytorch.org/whl/cu121"),
    ]
    assert str(doc.entries[1].extra_marker) == 'sys_platform == "linux"'
    pylock = tmp_path / "pylock.toml"
    pylock.write_text('lock-version = "1.0"\n[[packages]]\nname = "torch"\nversion = "2.3.1"\n'
                      'marker = "python_version >= \'3.10\'"\nindex = "https://example.invalid/simple"\n'
                      '[[packages]]\nname = "x"\nversion = 12\n')
    doc = read_pylock(str(pylock))
    assert [(e.line, e.text, e.index) for e in doc.entries] == [(4, "torch==2.3.1", "https://example.invalid/simple")]
    assert [(f.code, f.line) for f in doc.findings] == [("AL002", 9)]


CAPTURED = Path(__file__).parent / "fixtures" / "check" / "captured"


def test_captured_uv_lock_and_pylock() -> None:
    """Real `uv lock` / `uv export --format pylock.toml` output (uv 0.13.9, index host replaced)."""
    doc = read_uv_lock(str(CAPTURED / "uv.lock"))
    assert doc.findings == []
    assert [(e.text, e.line, e.column) for e in doc.entries] == [
        ("demo==0.1.0", 7, 11), ("packaging==26.3", 26, 11), ("resolvelib==1.2.1", 35, 11),
        ("tomli==2.5.0", 44, 11), ("tomlkit==0.15.2", 116, 11)]
    assert doc.entries[1].index == "https://example.invalid/simple"
    assert str(doc.entries[3].extra_marker) == 'python_full_version < "3.11"'  # from demo's edge
    assert str(doc.entries[2].extra_marker) == 'sys_platform == "linux"'
    pylock = read_pylock(str(CAPTURED / "pylock.toml"))
    assert pylock.findings == []
    names = [(e.name, e.line) for e in pylock.entries]
    assert names[0] == ("packaging", 9) and {n for n, _ in names} == {"packaging", "resolvelib", "tomli", "tomlkit"}
    for e in pylock.entries:
        assert e.index == "https://example.invalid/simple"
        assert pylock.source is not None
        assert pylock.source.line_text(e.line).startswith("version = ")


def test_locator_finds_every_string_of_captured_and_curated_toml() -> None:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    from attnlock.check.toml_locate import TomlLocator

    def leaves(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if isinstance(node, dict):
            return [p for k, v in node.items() for p in leaves(v, path + (k,))]
        if isinstance(node, list):
            return [p for i, v in enumerate(node) for p in leaves(v, path + (i,))]
        return [path] if isinstance(node, str) else []

    data_dir = Path(__file__).parent / "fixtures" / "check" / "data" / "curated"
    for path in [CAPTURED / "uv.lock", CAPTURED / "pylock.toml", *sorted(data_dir.glob("*.toml"))]:
        text = path.read_text("utf-8")
        data = tomllib.loads(text)
        located = TomlLocator(text)
        assert set(located.strings) == set(leaves(data)), path.name
        for key, span in located.strings.items():
            value: object = data
            for k in key:
                value = value[k]  # type: ignore[index]
            assert tomllib.loads("v = " + text[span.start:span.end])["v"] == value
