"""Range-reading a remote wheel: zip32/zip64, tail/head/full central-directory paths, and bad servers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from attnlock.refresh.http import BudgetExceeded, Fetcher, FetchPolicy, HttpError, RangeNotHonoured
from attnlock.refresh.remotezip import RemoteZip, ZipReadError, find_entry
from tests.support.index import Faults, serve, write_simple_index
from tests.support.wheels import ZipMember, build_wheel, write_zip

META = "*.dist-info/METADATA"


def _fetcher(**policy: float) -> Fetcher:
    kw = {"timeout": 5.0, "attempts": 3, "backoff": 0.0, **policy}
    return Fetcher(None, FetchPolicy(**kw))  # type: ignore[arg-type]


def _publish(tmp_path: Path, *paths: Path) -> Path:
    return write_simple_index(tmp_path / "index", paths)


def _url(server: object, path: Path) -> str:
    return f"{server.index_url}{path.parent.name}/{path.name}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("zip64", [False, True], ids=["zip32", "zip64"])
@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "stored"])
@pytest.mark.parametrize("comment", [b"", b"x" * 300], ids=["nocomment", "comment"])
def test_reads_metadata_and_member_by_ranges(tmp_path: Path, zip64: bool, deflate: bool, comment: bytes) -> None:
    payload = os.urandom(3 * 1024 * 1024)  # incompressible bulk: the wheel is ~3 MiB
    whl = build_wheel(
        tmp_path / "d", "demo", "1.0", requires_dist=["torch==2.3.1"], requires_python=">=3.9",
        extra_files={"demo/_C.so": payload, "demo/cpp_lib.json": b'{"version": {"torch": "2.3.1+cu121"}}'},
        zip64=zip64, deflate=deflate, comment=comment,
    )
    root = _publish(tmp_path, whl)
    with serve(root) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "demo" / whl.name)))
        entries = rz.entries([META, "demo/cpp_lib.json"])
        meta = rz.read(find_entry(entries, META), max_size=1 << 20)  # type: ignore[arg-type]
        info = rz.read(find_entry(entries, "demo/cpp_lib.json"), max_size=1 << 20)  # type: ignore[arg-type]
        assert b"Requires-Dist: torch==2.3.1" in meta and b"Requires-Python: >=3.9" in meta
        assert info == b'{"version": {"torch": "2.3.1+cu121"}}'
        assert f.bytes_fetched < 200 * 1024 < whl.stat().st_size
    wheel_requests = [r for r in server.requests if r.path.endswith(".whl")]
    assert wheel_requests and all(r.range and r.status == 206 for r in wheel_requests)


def _many_member_zip(tmp_path: Path, dist_info_first: bool) -> Path:
    bulk = [ZipMember(f"pkg/sub/module_{i:05d}.py", b"x = 1\n") for i in range(4000)]
    meta = [
        ZipMember("pkg-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nRequires-Dist: a\n"),
        ZipMember("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
    ]
    members = meta + bulk if dist_info_first else bulk + meta
    d = tmp_path / "d"
    d.mkdir(exist_ok=True)
    path = d / "pkg-1.0-py3-none-any.whl"
    path.write_bytes(write_zip(members))
    return path


@pytest.mark.parametrize("dist_info_first", [False, True], ids=["metadata-in-tail", "metadata-in-head"])
def test_large_central_directory_is_not_read_whole(tmp_path: Path, dist_info_first: bool) -> None:
    whl = _many_member_zip(tmp_path, dist_info_first)
    root = _publish(tmp_path, whl)
    with serve(root) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "pkg" / whl.name)), tail_size=16384, head_size=16384)
        entries = rz.entries([META])
        assert len(entries) < 4000  # a part of the directory was enough
        assert rz.read(find_entry(entries, META), max_size=1 << 20).endswith(b"Requires-Dist: a\n")  # type: ignore[arg-type]
        assert f.bytes_fetched < 40 * 1024
        # A member listed in the middle needs the whole directory, still not the whole file.
        rz2 = RemoteZip(f.range_reader(_url(server, root / "pkg" / whl.name)), tail_size=16384, head_size=16384)
        full = rz2.entries(["pkg/sub/module_02000.py"])
        assert len(full) == 4002
        assert rz2.read(full["pkg/sub/module_02000.py"], max_size=100) == b"x = 1\n"


def test_server_ignoring_range_is_not_downloaded(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0", extra_files={"demo/big.bin": os.urandom(4 * 1024 * 1024)}, deflate=False)
    root = _publish(tmp_path, whl)
    with serve(root, Faults(ignore_range=True)) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "demo" / whl.name)))
        with pytest.raises(RangeNotHonoured, match="ignored the range request"):
            rz.entries([META])
        assert f.bytes_fetched == 0  # the body was never read


def test_server_ignoring_range_on_small_file_is_used(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0", requires_dist=["numpy"])
    root = _publish(tmp_path, whl)
    with serve(root, Faults(ignore_range=True)) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "demo" / whl.name)))
        meta = rz.read(find_entry(rz.entries([META]), META), max_size=1 << 20)  # type: ignore[arg-type]
        assert b"Requires-Dist: numpy" in meta
        assert f.bytes_fetched == whl.stat().st_size  # read once, reused for every later slice


@pytest.mark.parametrize("cut", [10, 5000], ids=["eocd-cut", "directory-cut"])
def test_truncated_zip_is_a_clear_error(tmp_path: Path, cut: int) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0", extra_files={"demo/x.bin": os.urandom(20000)})
    whl.write_bytes(whl.read_bytes()[:-cut])
    root = _publish(tmp_path, whl)
    with serve(root) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "demo" / whl.name)))
        with pytest.raises(ZipReadError, match="truncated"):
            entry = find_entry(rz.entries([META]), META)
            assert entry is not None
            rz.read(entry, max_size=1 << 20)


def test_zip_bomb_metadata_is_refused(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0", description="A" * (8 * 1024 * 1024))
    assert whl.stat().st_size < 64 * 1024  # 8 MiB of METADATA compressed into a few KiB
    root = _publish(tmp_path, whl)
    with serve(root) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "demo" / whl.name)))
        entry = find_entry(rz.entries([META]), META)
        assert entry is not None
        with pytest.raises(ZipReadError, match="over the 1048576-byte cap"):
            rz.read(entry, max_size=1 << 20)


def test_lying_zip_bomb_is_stopped_while_inflating(tmp_path: Path) -> None:
    # The central directory claims 100 bytes; the deflate stream expands to 8 MiB.
    import struct
    import zlib

    body = b"A" * (8 * 1024 * 1024)
    raw = bytearray(write_zip([ZipMember("demo-1.0.dist-info/METADATA", body)]))
    cd = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, cd + 24, 100)  # uncompressed size in the central directory
    d = tmp_path / "d"
    d.mkdir()
    whl = d / "demo-1.0-py3-none-any.whl"
    whl.write_bytes(bytes(raw))
    root = _publish(tmp_path, whl)
    with serve(root) as server, _fetcher() as f:
        rz = RemoteZip(f.range_reader(_url(server, root / "demo" / whl.name)))
        entry = find_entry(rz.entries([META]), META)
        assert entry is not None and entry.uncompressed_size == 100
        with pytest.raises(ZipReadError, match="zip bomb"):
            rz.read(entry, max_size=1 << 20)
    assert zlib.crc32(body)  # the payload really was that large


def test_5xx_then_success_is_retried_within_bounds(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0")
    root = _publish(tmp_path, whl)
    sleeps: list[float] = []
    with serve(root, Faults(fail=2)) as server:
        f = Fetcher(httpx.Client(timeout=5), FetchPolicy(attempts=3, backoff=0.25), sleep=sleeps.append)
        # A client handed in stays the caller's: closed below, not by the fetcher.
        got = f.read_range(_url(server, root / "demo" / whl.name), -100, None)
        assert got.data == whl.read_bytes()[-100:]
        assert sleeps == [0.25, 0.5]  # exponential backoff
        server.faults.fail = 5
        with pytest.raises(HttpError, match=r"HTTP 503 \(3 attempts\)"):
            f.read_range(_url(server, root / "demo" / whl.name), -100, None)
        f.client.close()
    assert [r.status for r in server.requests if r.path.endswith(".whl")].count(503) == 5


def test_timeout_is_bounded(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0")
    root = _publish(tmp_path, whl)
    with serve(root, Faults(delay=1.0)) as server, _fetcher(timeout=0.2, attempts=2) as f:
        started = time.monotonic()
        with pytest.raises(HttpError, match=r"timed out after 0.2 s \(2 attempts\)"):
            f.read_range(_url(server, root / "demo" / whl.name), -100, None)
        assert time.monotonic() - started < 1.5


def test_connection_cut_mid_body_is_retried_then_reported(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0", extra_files={"demo/x.bin": os.urandom(50000)})
    root = _publish(tmp_path, whl)
    with serve(root, Faults(truncate=100)) as server, _fetcher(attempts=2) as f:
        with pytest.raises(HttpError, match="2 attempts"):
            f.read_range(_url(server, root / "demo" / whl.name), -20000, None)
        server.faults.truncate = None
        assert len(f.read_range(_url(server, root / "demo" / whl.name), -20000, None).data) == 20000


def test_byte_budget_stops_the_run(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "d", "demo", "1.0", extra_files={"demo/x.bin": os.urandom(300000)}, deflate=False)
    root = _publish(tmp_path, whl)
    with serve(root) as server, _fetcher(max_bytes=100000) as f:
        with pytest.raises(BudgetExceeded, match="byte budget"):
            f.read_range(_url(server, root / "demo" / whl.name), 0, 200000)
