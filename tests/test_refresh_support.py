"""The shared test support builds archives pip, uv and zipfile accept, and serves them faithfully."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.index import PEP691_JSON, Faults, IndexFile, serve, write_simple_index
from tests.support.installers import find_uv, installer_env, pip_argv, pip_cache_args, uv_cache_args
from tests.support.wheels import build_sdist, build_wheel


@pytest.mark.parametrize("zip64", [False, True], ids=["zip32", "zip64"])
@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "stored"])
def test_wheel_is_a_valid_zip_with_matching_record(tmp_path: Path, zip64: bool, deflate: bool) -> None:
    whl = build_wheel(
        tmp_path,
        "Demo.Pkg",
        "1.0+cu121",
        tags=("cp310.cp311", "cp310", "linux_x86_64"),
        requires_dist=["torch==2.3.1", "numpy"],
        requires_python=">=3.9",
        extra_files={"demo_pkg/cpp_lib.json": b'{"torch": "2.3.1"}'},
        zip64=zip64,
        deflate=deflate,
    )
    assert whl.name == "demo_pkg-1.0+cu121-cp310.cp311-cp310-linux_x86_64.whl"
    with zipfile.ZipFile(whl) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        meta = zf.read("demo_pkg-1.0+cu121.dist-info/METADATA").decode()
        record = zf.read("demo_pkg-1.0+cu121.dist-info/RECORD").decode().splitlines()
        wheel = zf.read("demo_pkg-1.0+cu121.dist-info/WHEEL").decode()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            if not digest:
                assert path.endswith("RECORD")
                continue
            data = zf.read(path)
            assert int(size) == len(data)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}"
    assert "demo_pkg/cpp_lib.json" in names
    assert "Metadata-Version: 2.1" in meta and "Requires-Dist: torch==2.3.1" in meta
    assert "Requires-Python: >=3.9" in meta
    assert "Tag: cp311-cp310-linux_x86_64" in wheel and "Root-Is-Purelib: false" in wheel
    raw = whl.read_bytes()
    assert (b"PK\x06\x06" in raw) is zip64


def test_installer_env_hides_machine_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", "/nowhere")
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/")
    env = installer_env({"EXTRA": "1"})
    assert not [k for k in env if k.startswith(("PIP_", "UV_")) and k not in {
        "PIP_CONFIG_FILE", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT", "UV_NO_CONFIG"}]
    assert env["PIP_CONFIG_FILE"] == __import__("os").devnull and env["EXTRA"] == "1"
    out = subprocess.run(
        [*pip_argv(), "config", "list"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    lines = out.stdout.splitlines()
    assert lines and all(line.startswith(":env:") for line in lines), lines
    assert not [line for line in lines if "constraint" in line or "find-links" in line]


def _index(tmp_path: Path) -> Path:
    dists = tmp_path / "dists"
    files = [
        build_wheel(dists, "attnlock-demo-a", "1.0", requires_dist=["attnlock-demo-b>=2"], requires_python=">=3.8"),
        build_wheel(dists, "attnlock-demo-a", "2.0", requires_python=">=99"),
        build_sdist(dists, "attnlock-demo-b", "2.1", requires_python=">=3.8"),
    ]
    return write_simple_index(tmp_path / "index", [*files[:2], IndexFile(files[2], requires_python=">=3.8")])


def test_index_layout_and_pep691_negotiation(tmp_path: Path) -> None:
    root = _index(tmp_path)
    assert "data-requires-python=\"&gt;=99\"" in (root / "attnlock-demo-a" / "index.html").read_text()
    with serve(root) as server:
        req = urllib.request.Request(server.index_url + "attnlock-demo-a/", headers={"Accept": PEP691_JSON})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Content-Type"] == PEP691_JSON
            doc = json.load(resp)
        names = [f["filename"] for f in doc["files"]]
        assert names == ["attnlock_demo_a-1.0-py3-none-any.whl", "attnlock_demo_a-2.0-py3-none-any.whl"]
        assert doc["files"][1]["requires-python"] == ">=99"
        whl = root / "attnlock-demo-a" / names[0]
        assert doc["files"][0]["size"] == whl.stat().st_size
        data = whl.read_bytes()
        for header, expected, status in [
            ("bytes=0-9", data[:10], 206),
            ("bytes=-22", data[-22:], 206),
            (f"bytes={len(data) - 5}-", data[-5:], 206),
        ]:
            req = urllib.request.Request(server.index_url + f"attnlock-demo-a/{names[0]}", headers={"Range": header})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == status
                assert resp.read() == expected
        server.faults.ignore_range = True
        req = urllib.request.Request(server.index_url + f"attnlock-demo-a/{names[0]}", headers={"Range": "bytes=0-9"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and resp.read() == data
        server.faults = Faults(fail=1)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.index_url + f"attnlock-demo-a/{names[0]}", timeout=10)
        assert err.value.code == 503
        err.value.close()
        with urllib.request.urlopen(server.index_url + f"attnlock-demo-a/{names[0]}", timeout=10) as resp:
            assert resp.read() == data
        # The server logs a request after sending it: give the handler thread a moment.
        deadline = time.monotonic() + 5
        # Each request is logged by its own handler thread, so the last three (the range request served
        # whole, the 503, the retry) may be logged in any order on a loaded machine (a CI run beside
        # another test run logged the 503 before the earlier 200).
        while sorted(r.status for r in server.requests[-3:]) != [200, 200, 503] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(r.status for r in server.requests[-3:]) == [200, 200, 503]


@pytest.mark.slow
def test_pip_installs_from_file_index(tmp_path: Path) -> None:
    root = _index(tmp_path)
    target = tmp_path / "target"
    subprocess.run(
        [*pip_argv(), "install", "--index-url", root.as_uri(), *pip_cache_args(tmp_path),
         "--target", str(target), "attnlock-demo-a"],
        env=installer_env(), capture_output=True, text=True, timeout=180, check=True,
    )
    assert (target / "attnlock_demo_a" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert (target / "attnlock_demo_b" / "__init__.py").exists()


@pytest.mark.slow
def test_uv_installs_from_served_index(tmp_path: Path) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    root = _index(tmp_path)
    target = tmp_path / "target"
    with serve(root) as server:
        subprocess.run(
            [uv, "pip", "install", "--index-url", server.index_url, *uv_cache_args(tmp_path),
             "--python", sys.executable, "--target", str(target), "attnlock-demo-a"],
            env=installer_env(), capture_output=True, text=True, timeout=180, check=True,
        )
        assert any(r.accept and PEP691_JSON in r.accept for r in server.requests)
    assert (target / "attnlock_demo_a" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert (target / "attnlock_demo_b" / "__init__.py").exists()
