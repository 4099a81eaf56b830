"""Hardening, refresh: a malicious index on 127.0.0.1 (started here, bounded in time) cannot keep a request
alive, feed a wrong range, redirect elsewhere, loop, or crash the run; numeric options are bounded."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from contextlib import contextmanager

import pytest

httpx = pytest.importorskip("httpx")

from attnlock.errors import AttnlockError, UsageError  # noqa: E402
from attnlock.refresh.http import Fetcher, FetchPolicy, HttpError  # noqa: E402
from attnlock.refresh.remotezip import ZipReadError  # noqa: E402

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@contextmanager
def _server(handle: Handler) -> Iterator[str]:
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            try:
                handle(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _fetcher(**kw: object) -> Fetcher:
    policy = FetchPolicy(**{"timeout": 2.0, "attempts": 1, "backoff": 0.0, **kw})  # type: ignore[arg-type]
    return Fetcher(policy=policy)


def _send(h: http.server.BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def test_slow_drip_is_cut_at_the_deadline() -> None:
    def drip(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):  # one byte every 0.2 s: each read is quick, the whole is 20 s
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.2)

    with _server(drip) as base, _fetcher(timeout=1.0) as f:
        t0 = time.monotonic()
        with pytest.raises(HttpError, match="did not finish"):
            f.get_page(base + "/simple/x/", "text/html")
        assert time.monotonic() - t0 < 15  # generous bound; without a deadline this takes 20 s


def test_206_with_another_range_is_not_read() -> None:
    def wrong(h: http.server.BaseHTTPRequestHandler) -> None:
        _send(h, 206, b"y" * 5000, {"Content-Range": "bytes 0-4999/10000"})

    with _server(wrong) as base, _fetcher() as f:
        with pytest.raises(ZipReadError, match="does not answer the range"):
            f.read_range(base + "/x.whl", 100, 200)
        assert f.bytes_fetched == 0


def test_206_with_the_right_range_is_read() -> None:
    def right(h: http.server.BaseHTTPRequestHandler) -> None:
        _send(h, 206, b"y" * 100, {"Content-Range": "bytes 100-199/10000"})

    with _server(right) as base, _fetcher() as f:
        assert f.read_range(base + "/x.whl", 100, 200).data == b"y" * 100


def test_cross_host_redirect_is_refused_unless_allowed() -> None:
    def page(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.path.startswith("/moved"):
            _send(h, 200, b"<html></html>", {"Content-Type": "text/html"})
        else:  # to the same server under another host name
            port = h.server.server_address[1]
            _send(h, 302, b"", {"Location": f"http://localhost:{port}/moved/"})

    with _server(page) as base:
        with _fetcher() as f, pytest.raises(HttpError, match="another host"):
            f.get_page(base + "/simple/x/", "text/html")
        with _fetcher(redirect_hosts=frozenset({"localhost"})) as f:
            assert f.get_page(base + "/simple/x/", "text/html")[2] == b"<html></html>"


def test_redirect_loop_is_an_error() -> None:
    def loop(h: http.server.BaseHTTPRequestHandler) -> None:
        _send(h, 302, b"", {"Location": h.path})

    with _server(loop) as base, _fetcher() as f, pytest.raises(HttpError, match="redirects"):
        f.get_page(base + "/simple/x/", "text/html")


def test_corrupt_gzip_is_an_error() -> None:
    def bad(h: http.server.BaseHTTPRequestHandler) -> None:
        body = gzip.compress(b"<html>" * 100)[:-20] + b"garbage-garbage-gar"
        _send(h, 200, body, {"Content-Type": "text/html", "Content-Encoding": "gzip"})

    with _server(bad) as base, _fetcher() as f, pytest.raises(HttpError):
        f.get_page(base + "/simple/x/", "text/html")


@pytest.mark.parametrize("url", ["http://[::1/simple/", "ftp://127.0.0.1/x", "http://127.0.0.1:99999/x", "::"])
def test_malformed_url_is_an_error(url: str) -> None:
    with _fetcher() as f, pytest.raises(AttnlockError):
        f.get_page(url, "text/html")


def test_deeply_nested_json_page_is_an_error() -> None:
    from attnlock.refresh.derive import parse_build_info
    from attnlock.refresh.simple import parse_json

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(AttnlockError, match="nested"):
        parse_json("x", "http://127.0.0.1/simple/x/", b'{"files": ' + deep + b"}")
    with pytest.raises(ZipReadError, match="nested"):
        parse_build_info(b'{"version": ' + deep + b"}")


@pytest.mark.parametrize("args", [["--timeout", "inf"], ["--timeout", "nan"], ["--timeout", "1e300"],
                                  ["--timeout", "-1"], ["--retries", "100000"], ["--workers", "0"]])
def test_refresh_numeric_options_are_bounded(args: list[str]) -> None:
    import argparse

    from attnlock.refresh import cli

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    ns = p.parse_args(args)
    with pytest.raises(UsageError):
        cli.run(ns)


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "0", "-5"])
def test_verify_timeout_is_bounded(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from attnlock.cli import main

    assert main(["verify", "--timeout", value]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_a_probe_that_could_not_run_is_a_failure() -> None:
    from attnlock.verify.runner import Job, run_jobs

    job = Job(name="broken", argv=("python",), env={"X": 1},  # type: ignore[dict-item]  # Popen raises TypeError
              checks=(("torch", "import"), ("torch", "matmul")), device="cpu")
    results = run_jobs([job], timeout=float("inf"), parallel=1)
    assert [(r["check"], r["status"]) for r in results] == [("import", "fail"), ("matmul", "fail")]
    assert all("could not run" in r["error"] for r in results)


def test_json_error_shape_of_a_page() -> None:
    def page(h: http.server.BaseHTTPRequestHandler) -> None:
        _send(h, 200, json.dumps({"files": 5}).encode(), {"Content-Type": "application/vnd.pypi.simple.v1+json"})

    from attnlock.refresh.simple import parse_page

    with _server(page) as base, _fetcher() as f:
        final, ctype, body = f.get_page(base + "/simple/x/", "application/json")
        with pytest.raises(AttnlockError, match="not a PEP 691"):
            parse_page("x", final, ctype, body)


def test_refresh_writes_all_or_nothing(tmp_path: Path) -> None:
    from tests.support.index import serve, write_simple_index
    from tests.test_refresh_run import SCOPE, _cli, _dists

    data = tmp_path / "data"
    (data / "curated").mkdir(parents=True)
    (data / "curated" / "refresh.toml").write_text(SCOPE)
    (data / "derived").mkdir()
    blocked = data / "derived" / "demo-xf.json"  # the second package's file cannot be replaced
    blocked.write_text("{}\n")
    blocked.chmod(0o444)
    root = write_simple_index(tmp_path / "index", _dists(tmp_path / "dists"))  # type: ignore[arg-type]
    with serve(root) as server:
        rc, _out, err = _cli("db", "--data-dir", str(data), "refresh", "--index-url", server.index_url,
                             "--retries", "1")
    assert rc == 1 and "nothing was written" in err
    assert sorted(p.name for p in (data / "derived").iterdir()) == ["demo-xf.json"]
    assert blocked.read_text() == "{}\n"


def test_malformed_file_urls_in_a_page_are_skipped() -> None:
    from attnlock.refresh.simple import parse_html, parse_json

    html = b'<a href="http://[x/demo-1.0-py3-none-any.whl">bad</a><a href="demo-1.0.tar.gz">ok</a>'
    assert [f.filename for f in parse_html("demo", "http://127.0.0.1/simple/demo/", html)] == ["demo-1.0.tar.gz"]
    page = json.dumps({"files": [{"filename": "demo-1.0-py3-none-any.whl", "url": "http://[x/a.whl"},
                                 {"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz"}]}).encode()
    assert [f.filename for f in parse_json("demo", "http://127.0.0.1/simple/demo/", page)] == ["demo-1.0.tar.gz"]


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_fifo_pip_configuration_is_refused(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "pip.conf")
    code = ("import sys\nfrom pathlib import Path\nfrom attnlock.refresh.indexconf import _from_pip_file\n"
            "from attnlock.errors import AttnlockError\n"
            "try:\n    _from_pip_file(Path(sys.argv[1]))\nexcept AttnlockError as e:\n    print(e.message)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pip.conf")], capture_output=True, text=True,
                         timeout=60, cwd=str(Path(__file__).resolve().parent.parent))  # hang guard
    assert "not a regular file" in res.stdout, res
