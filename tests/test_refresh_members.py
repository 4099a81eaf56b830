"""refresh.toml [members]: member names listed from every wheel (bitsandbytes' CUDA libraries), reused by sha256."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from attnlock.compat.packages import binary_cuda
from attnlock.database.store import Database
from attnlock.refresh.http import Fetcher, FetchPolicy
from attnlock.refresh.runner import refresh
from tests.support.index import IndexFile, Server, serve, write_simple_index
from tests.support.wheels import build_wheel

SCOPE = """\
source = "test scope"
checked = "2026-01-01"

[packages]
demo-bnb = "*"

[members]
demo-bnb = "demo_bnb/libdemo_*"
"""

LIBS = {
    "demo_bnb/libdemo_cuda118.so": b"\x7fELF",
    "demo_bnb/libdemo_cuda121_nocublaslt.so": b"\x7fELF",
    "demo_bnb/libdemo_cpu.so": b"\x7fELF",
    "demo_bnb/__init__.py": b"",
}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Server]:
    d = tmp_path / "dists"
    t = "2026-01-02T03:04:05Z"
    files = [
        IndexFile(build_wheel(d, "demo-bnb", "0.1", extra_files=LIBS), upload_time=t),
        IndexFile(build_wheel(d, "demo-bnb", "0.2", tags=("py3", "none", "win_amd64"),
                              extra_files={"demo_bnb/libdemo_cuda124.dll": b"MZ"}), upload_time=t),
    ]
    root = write_simple_index(tmp_path / "index", files)  # type: ignore[arg-type]
    with serve(root) as server:
        yield server


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "curated").mkdir(parents=True)
    (root / "curated" / "refresh.toml").write_text(SCOPE)
    return root


def test_member_names_are_listed_per_wheel_and_reused(data: Path, index: Server) -> None:
    with Fetcher(policy=FetchPolicy(attempts=1)) as f:
        refresh(data, index.index_url, f, today=dt.date(2026, 1, 1))
    doc = json.loads((data / "derived" / "demo-bnb.json").read_text())
    assert doc["releases"]["0.1"]["members"] == {"demo_bnb-0.1-py3-none-any.whl": [
        "demo_bnb/libdemo_cpu.so", "demo_bnb/libdemo_cuda118.so", "demo_bnb/libdemo_cuda121_nocublaslt.so"]}
    assert doc["releases"]["0.2"]["members"] == {"demo_bnb-0.2-py3-none-win_amd64.whl":
                                                 ["demo_bnb/libdemo_cuda124.dll"]}
    # Only range requests: the listing comes from the central directory.
    assert all(r.range and r.status == 206 for r in index.requests if r.path.endswith(".whl"))
    n = len([r for r in index.requests if r.path.endswith(".whl")])
    with Fetcher(policy=FetchPolicy(attempts=1)) as f:
        result = refresh(data, index.index_url, f, today=dt.date(2026, 2, 2))
    assert not result.stale and len([r for r in index.requests if r.path.endswith(".whl")]) == n


def test_the_store_reads_member_listings_and_the_model_names_cuda_labels(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "derived").mkdir(parents=True)
    names = ["bitsandbytes/libbitsandbytes_cpu.so", "bitsandbytes/libbitsandbytes_cuda121_nocublaslt.so",
             "bitsandbytes/libbitsandbytes_cuda118.so", "bitsandbytes/libbitsandbytes_rocm62.so",
             "bitsandbytes/libbitsandbytes_cuda130.dll"]
    doc = {"schema": 1, "package": "bitsandbytes", "checked": "2026-12-04", "method": "test", "releases": {
        "0.48.0": {"files": {"bitsandbytes-0.48.0-py3-none-any.whl": {"size": 1, "sha256": "0" * 64}},
                   "yanked": False, "members": {"bitsandbytes-0.48.0-py3-none-any.whl": names}}}}
    (root / "derived" / "bitsandbytes.json").write_text(json.dumps(doc))
    rel = Database(root).release("bitsandbytes", "0.48.0")
    assert rel is not None
    assert binary_cuda(rel) == {"bitsandbytes-0.48.0-py3-none-any.whl": ("cu118", "cu121", "cu130")}
