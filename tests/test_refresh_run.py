"""`attnlock db refresh` end to end against a local index of real wheels: output, reuse, --check, failures."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from attnlock.cli import main
from attnlock.errors import ToolError
from attnlock.refresh.http import Fetcher, FetchPolicy
from attnlock.refresh.report import dump_document
from attnlock.refresh.runner import refresh
from tests.support.index import Faults, IndexFile, Server, serve, write_simple_index
from tests.support.wheels import build_sdist, build_wheel

SCOPE = """\
source = "test scope"
checked = "2026-01-01"

[packages]
demo-torch = ">=1.0,<=2.0"
demo-xf = ">=0.1"
demo-list = "*"

[prereleases]
demo-xf = "newest-line"

[read]
demo-list = "list"

[build_info]
demo-xf = "demo_xf/cpp_lib.json"
"""

LINUX = ("cp311", "cp311", "manylinux_2_28_x86_64")


def _cpp(torch: str, py: str) -> dict[str, bytes]:
    doc = {"version": {"cuda": 1208, "hip": None, "torch": torch, "python": py},
           "env": {"TORCH_CUDA_ARCH_LIST": "8.0 9.0a"}}
    return {"demo_xf/cpp_lib.json": json.dumps(doc).encode()}


def _dists(d: Path) -> list[IndexFile | Path]:
    t = "2026-01-02T03:04:05Z"
    files: list[IndexFile | Path] = []

    def add(p: Path, **kw: object) -> None:
        files.append(IndexFile(p, upload_time=t, **kw))  # type: ignore[arg-type]

    add(build_wheel(d, "demo-torch", "0.9", tags=LINUX))  # below the range
    for tags in [("cp310", "cp310", "manylinux_2_28_x86_64"), LINUX, ("cp311", "cp311", "win_amd64"),
                 ("cp311", "cp311", "win32")]:
        add(build_wheel(d, "demo-torch", "1.0", tags=tags, requires_dist=["triton==1.0; platform_system == 'Linux'"],
                        requires_python=">=3.10"))
    add(build_wheel(d, "demo-torch", "1.0", tags=("cp311", "none", "macosx_11_0_arm64"), requires_python=">=3.10"))
    add(build_sdist(d, "demo-torch", "1.0"))
    broken = build_wheel(d, "demo-torch", "2.0", tags=LINUX, extra_files={"demo_torch/x.bin": os.urandom(5000)})
    broken.write_bytes(broken.read_bytes()[:-30])
    add(broken)
    add(build_wheel(d, "demo-torch", "2.0", tags=("cp311", "cp311", "win_amd64"), requires_dist=["cuda-toolkit[cudart]==13.0.2"]))
    add(build_wheel(d, "demo-torch", "2.1", tags=LINUX))  # above the range
    add(build_wheel(d, "demo-xf", "0.1", tags=("cp310", "cp310", "manylinux2014_x86_64"),
                    requires_dist=["torch==2.3.1"], extra_files=_cpp("2.3.1+cu121", "3.10.14")))
    add(build_wheel(d, "demo-xf", "0.1", tags=("cp311", "cp311", "manylinux2014_x86_64"),
                    requires_dist=["torch==2.3.1"], extra_files=_cpp("2.3.1+cu121", "3.11.9")))
    add(build_wheel(d, "demo-xf", "0.2.dev1", requires_dist=["torch>=2.10", "mslk"]))  # no cpp_lib.json
    add(build_wheel(d, "demo-xf", "0.1.dev5"))  # an old dev line: out
    add(build_wheel(d, "demo-xf", "0.2", tags=("py39", "none", "win_amd64"), requires_dist=["torch>=2.10"],
                    extra_files=_cpp("2.10.0+cu128", "3.10.11")), yanked="broken build")
    add(build_wheel(d, "demo-list", "9.1.0.70", tags=LINUX))
    return files


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Server]:
    root = write_simple_index(tmp_path / "index", _dists(tmp_path / "dists"))  # type: ignore[arg-type]
    with serve(root) as server:
        yield server


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "curated").mkdir(parents=True)
    (root / "curated" / "refresh.toml").write_text(SCOPE)
    return root


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def _refresh(data: Path, index: Server, *extra: str) -> tuple[int, str, str]:
    return _cli("db", "--data-dir", str(data), "refresh", "--index-url", index.index_url, "--retries", "1", *extra)


def _wheel_requests(index: Server) -> list[str]:
    return [r.path for r in index.requests if r.path.endswith(".whl")]


def test_refresh_writes_derived_documents(data: Path, index: Server) -> None:
    rc, out, err = _refresh(data, index, "--json")
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["packages"]["demo-torch"]["added"] == ["1.0", "2.0"]
    assert summary["packages"]["demo-xf"]["added"] == ["0.1", "0.2.dev1", "0.2"]
    assert sorted(summary["written"]) == ["demo-list.json", "demo-torch.json", "demo-xf.json"]
    assert 0 < summary["bytes_fetched"] and summary["wheel_bytes_total"] > 0
    assert "reading the index from --index-url" in err

    torch = json.loads((data / "derived" / "demo-torch.json").read_text())
    assert torch["schema"] == 1 and torch["package"] == "demo-torch" and torch["checked"] == dt.date.today().isoformat()
    r10 = torch["releases"]["1.0"]
    assert r10["upload_time"] == "2026-01-02T03:04:05Z" and r10["yanked"] is False
    assert "demo_torch-1.0.tar.gz" in r10["files"] and len(r10["files"]) == 6
    assert set(r10["files"]["demo_torch-1.0-cp311-cp311-win32.whl"]) >= {"size", "sha256"}
    # Linux and Windows METADATA are identical: one record; macOS differs: another.  win32 is no family.
    assert [m["platforms"] for m in r10["metadata"]] == [["linux-x86_64", "windows-amd64"], ["macos-arm64"]]
    linux = r10["metadata"][0]
    assert linux["source"] == "demo_torch-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"  # newest Python tag
    assert linux["requires_dist"] == ["triton==1.0; platform_system == 'Linux'"]  # verbatim from METADATA
    assert linux["requires_python"] == ">=3.10"
    assert r10["metadata"][1]["requires_dist"] == []
    # The truncated Linux wheel of 2.0 is an error for that family only.
    m20 = {tuple(m["platforms"]): m for m in torch["releases"]["2.0"]["metadata"]}
    assert "truncated" in m20[("linux-x86_64",)]["error"]
    assert m20[("windows-amd64",)]["requires_dist"] == ["cuda-toolkit[cudart]==13.0.2"]

    xf = json.loads((data / "derived" / "demo-xf.json").read_text())
    assert list(xf["releases"]) == ["0.1", "0.2.dev1", "0.2"]  # ascending, old dev line excluded
    bi = xf["releases"]["0.1"]["build_info"]
    assert bi["demo_xf-0.1-cp310-cp310-manylinux2014_x86_64.whl"]["torch"] == "2.3.1+cu121"
    assert bi["demo_xf-0.1-cp311-cp311-manylinux2014_x86_64.whl"]["python"] == "3.11.9"
    assert bi["demo_xf-0.1-cp311-cp311-manylinux2014_x86_64.whl"]["cuda"] == "12.8"
    assert bi["demo_xf-0.1-cp311-cp311-manylinux2014_x86_64.whl"]["arch_list"] == ["8.0", "9.0a"]
    assert xf["releases"]["0.2.dev1"]["build_info"] == {"demo_xf-0.2.dev1-py3-none-any.whl": {"absent": True}}
    assert xf["releases"]["0.2.dev1"]["metadata"][0]["requires_dist"] == ["torch>=2.10", "mslk"]
    r02 = xf["releases"]["0.2"]
    assert r02["yanked"] is True and r02["files"]["demo_xf-0.2-py39-none-win_amd64.whl"]["yanked"] == "broken build"

    lst = json.loads((data / "derived" / "demo-list.json").read_text())
    assert "metadata" not in lst["releases"]["9.1.0.70"] and lst["releases"]["9.1.0.70"]["files"]
    assert not any("demo_list" in p for p in _wheel_requests(index))  # release list only

    # Never a whole wheel: every wheel request was a range request answered 206.
    assert all(r.range and r.status == 206 for r in index.requests if r.path.endswith(".whl"))
    # Stable text: keys sorted, releases in version order, files named without the index URL.
    text = (data / "derived" / "demo-xf.json").read_text()
    assert text == dump_document(json.loads(text)) and "127.0.0.1" not in text
    assert text.index('"0.2.dev1"') < text.index('"0.2":') and text.index('"checked"') < text.index('"package"')


def test_written_data_passes_db_validate(data: Path, index: Server) -> None:
    assert _refresh(data, index)[0] == 0
    from attnlock.database import load

    problems = [p for p in load(data).validate() if "derived" in p.file or "refresh" in p.file]
    assert problems == []
    # The validator does look at these files: a reordered document is reported.
    path = data / "derived" / "demo-xf.json"
    doc = json.loads(path.read_text())
    doc["releases"] = dict(reversed(list(doc["releases"].items())))
    path.write_text(json.dumps(doc))
    from attnlock.database.store import Database

    assert any("ascending" in p.message for p in Database(data).validate())


def test_rerun_reuses_facts_and_keeps_checked(data: Path, index: Server) -> None:
    with Fetcher(policy=FetchPolicy(attempts=1)) as f:
        refresh(data, index.index_url, f, today=dt.date(2026, 1, 1))
    before = {p.name: p.read_bytes() for p in (data / "derived").iterdir()}
    assert json.loads(before["demo-xf.json"])["checked"] == "2026-01-01"
    n_wheel_requests = len(_wheel_requests(index))
    with Fetcher(policy=FetchPolicy(attempts=1)) as f:
        result = refresh(data, index.index_url, f, today=dt.date(2026, 2, 2))
    assert not result.stale and result.written == []
    assert {p.name: p.read_bytes() for p in (data / "derived").iterdir()} == before
    # Only the broken wheel (an error is never reused) is read again.
    again = _wheel_requests(index)[n_wheel_requests:]
    assert again and {Path(p).name for p in again} == {"demo_torch-2.0-cp311-cp311-manylinux_2_28_x86_64.whl"}
    assert sum(s.files_reused for s in result.stats.values()) >= 5


def test_check_exits_1_when_stale_and_writes_nothing(tmp_path: Path, data: Path, index: Server) -> None:
    assert _refresh(data, index)[0] == 0
    assert _refresh(data, index, "--check")[0] == 0
    before = {p.name: p.read_bytes() for p in (data / "derived").iterdir()}
    write_simple_index(index.root, [build_wheel(tmp_path / "more", "demo-torch", "1.5", tags=LINUX)])
    rc, out, err = _refresh(data, index, "--check")
    assert rc == 1 and "stale" in err
    assert "demo-torch: +1 added (1.5)" in out
    assert {p.name: p.read_bytes() for p in (data / "derived").iterdir()} == before
    assert _refresh(data, index)[0] == 0
    assert "1.5" in json.loads((data / "derived" / "demo-torch.json").read_text())["releases"]
    assert _refresh(data, index, "--check")[0] == 0


def test_html_fallback_gives_the_same_facts(tmp_path: Path, data: Path, index: Server) -> None:
    assert _refresh(data, index)[0] == 0
    via_json = json.loads((data / "derived" / "demo-xf.json").read_text())
    other = tmp_path / "data2"
    (other / "curated").mkdir(parents=True)
    (other / "curated" / "refresh.toml").write_text(SCOPE)
    index.faults = Faults(drop_json=True)
    assert _refresh(other, index)[0] == 0
    via_html = json.loads((other / "derived" / "demo-xf.json").read_text())
    assert list(via_html["releases"]) == list(via_json["releases"])
    for v, rel in via_json["releases"].items():
        assert via_html["releases"][v]["metadata"] == rel["metadata"]
        assert via_html["releases"][v]["build_info"] == rel["build_info"]
        assert {n: f["sha256"] for n, f in via_html["releases"][v]["files"].items()} == {
            n: f["sha256"] for n, f in rel["files"].items()}
    assert any(r.accept and "text/html" in r.accept and r.path == "/demo-xf/" for r in index.requests)


def test_failure_midway_writes_nothing(data: Path, index: Server) -> None:
    assert _refresh(data, index)[0] == 0
    before = {p.name: p.read_bytes() for p in (data / "derived").iterdir()}
    write_simple_index(index.root, [build_wheel(data.parent / "more", "demo-xf", "0.3", requires_dist=["x"])])
    # demo-torch and demo-xf would change, but demo-list's page fails for good: nothing is written.
    index.faults = Faults(applies=lambda p: p.startswith("/demo-list"), fail=100)
    rc, _out, err = _refresh(data, index)
    assert rc == 1 and "HTTP 503 (2 attempts)" in err
    assert {p.name: p.read_bytes() for p in (data / "derived").iterdir()} == before


def test_budget_exceeded_writes_nothing(data: Path, index: Server) -> None:
    with Fetcher(policy=FetchPolicy(attempts=1, max_bytes=3000)) as f, pytest.raises(ToolError, match="byte budget"):
        refresh(data, index.index_url, f)
    assert not (data / "derived").exists() or not list((data / "derived").iterdir())


def test_range_ignored_is_recorded_per_file(data: Path, tmp_path: Path) -> None:
    big = build_wheel(tmp_path / "d", "demo-list", "1.0", tags=LINUX)
    dists = [build_wheel(tmp_path / "d", "demo-xf", "0.1", tags=LINUX, extra_files={
        **_cpp("2.3.1", "3.11.0"), "demo_xf/blob.bin": os.urandom(600 * 1024)}, deflate=False), big]
    root = write_simple_index(tmp_path / "index", dists)
    with serve(root, Faults(ignore_range=True)) as server:
        rc, _out, err = _refresh(data, server, "--package", "demo-xf")
    assert rc == 0
    doc = json.loads((data / "derived" / "demo-xf.json").read_text())
    rel = doc["releases"]["0.1"]
    assert "ignored the range request" in rel["metadata"][0]["error"]
    assert "ignored the range request" in next(iter(rel["build_info"].values()))["error"]
    assert "error:" in err
    assert not (data / "derived" / "demo-list.json").exists()  # --package limits the run


def test_unknown_package_and_missing_index_are_usage_errors(data: Path, index: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, _o, err = _refresh(data, index, "--package", "nope")
    assert rc == 2 and "not in data/curated/refresh.toml: nope" in err
    for var in [k for k in os.environ if k.startswith(("PIP_", "UV_", "ATTNLOCK_INDEX"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    rc, _o, err = _cli("db", "--data-dir", str(data), "refresh")
    assert rc == 2 and "--index-url" in err


def test_httpx_is_not_imported_by_the_cli_or_the_package() -> None:
    code = ("import sys, attnlock.cli, attnlock.refresh, attnlock.refresh.cli, attnlock.refresh.runner;"
            "attnlock.cli.build_parser(); print('httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
def test_progress_only_on_a_terminal(data: Path, index: Server, tty: bool) -> None:
    from attnlock.refresh.report import Progress

    stream: io.StringIO = _Tty() if tty else io.StringIO()
    with Fetcher(policy=FetchPolicy(attempts=1)) as f:
        refresh(data, index.index_url, f, progress=Progress(stream))
    text = stream.getvalue()
    if tty:
        assert "refresh demo-xf: 4/4 wheels read" in text and text.endswith("\r\x1b[K")
    else:
        assert text == ""
