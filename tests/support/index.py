"""Local package indexes for tests: a PEP 503/691 directory layout and an HTTP server for it.

:func:`write_simple_index` lays out ``root/<project>/index.html`` (PEP 503, usable as
``file://`` by pip and uv) and ``index.json`` (PEP 691).  :func:`serve` serves that tree on
127.0.0.1 with PEP 691 content negotiation, single HTTP Range requests (206, suffix ranges,
416), a request log, and :class:`Faults` to inject the failures a real index shows.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

__all__ = ["IndexFile", "Faults", "RequestRecord", "Server", "write_simple_index", "serve", "PEP691_JSON"]

PEP691_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class IndexFile:
    """A distribution file to publish, with what the index says about it.

    ``requires_python`` defaults to the wheel's own METADATA (None for sdists);
    ``yanked`` is False, True or a reason string; ``upload_time`` an ISO 8601 string.
    """

    path: Path
    requires_python: str | None = None
    yanked: bool | str = False
    upload_time: str | None = None


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[0])
    return str(parse_sdist_filename(filename)[0])


def _wheel_requires_python(path: Path) -> str | None:
    """Requires-Python from a wheel's METADATA; None when absent or the wheel is deliberately broken."""
    try:
        with zipfile.ZipFile(path) as zf:
            for n in zf.namelist():
                if n.endswith(".dist-info/METADATA") and n.count("/") == 1:
                    with zf.open(n) as fh:
                        head = fh.read(64 * 1024)
                    value = BytesHeaderParser().parsebytes(head).get("Requires-Python")
                    return str(value) if value is not None else None
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


def write_simple_index(root: str | Path, files: Iterable[Path | str | IndexFile]) -> Path:
    """Publish ``files`` as a simple index under ``root``; return ``root``.

    Files are copied to ``root/<project>/<filename>``; each project gets ``index.html``
    (anchors with ``#sha256=``, ``data-requires-python``, ``data-yanked``) and ``index.json``
    (PEP 691 v1.1 with size and upload-time); ``root`` gets both project lists.  Calling it
    again with more files adds them (existing projects keep their earlier files).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[IndexFile]] = {}
    for f in files:
        item = f if isinstance(f, IndexFile) else IndexFile(Path(f))
        by_project.setdefault(_project_of(item.path.name), []).append(item)
    state_path = root / ".attnlock-index.json"
    state: dict[str, dict[str, dict[str, object]]] = (
        json.loads(state_path.read_text()) if state_path.exists() else {}
    )
    for project, items in by_project.items():
        pdir = root / project
        pdir.mkdir(exist_ok=True)
        entries = state.setdefault(project, {})
        for item in items:
            dest = pdir / item.path.name
            if item.path.resolve() != dest.resolve():
                shutil.copyfile(item.path, dest)
            data = dest.read_bytes()
            rp = item.requires_python
            if rp is None and dest.name.endswith(".whl"):
                rp = _wheel_requires_python(dest)
            entries[dest.name] = {
                "filename": dest.name,
                "url": dest.name,
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                "size": len(data),
                "requires-python": rp,
                "yanked": item.yanked,
                "upload-time": item.upload_time,
            }
    state_path.write_text(json.dumps(state, sort_keys=True))
    for project, entries in state.items():
        pdir = root / project
        files_json = [
            {k: v for k, v in e.items() if v is not None}
            for _, e in sorted(entries.items())
        ]
        (pdir / "index.json").write_text(
            json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": files_json, "versions": []})
        )
        anchors = []
        for e in files_json:
            attrs = f'href="{html.escape(str(e["filename"]))}#sha256={e["hashes"]["sha256"]}"'  # type: ignore[index]
            if e.get("requires-python"):
                attrs += f' data-requires-python="{html.escape(str(e["requires-python"]))}"'
            if e.get("yanked"):
                reason = e["yanked"] if isinstance(e["yanked"], str) else ""
                attrs += f' data-yanked="{html.escape(reason)}"'
            anchors.append(f"    <a {attrs}>{html.escape(str(e['filename']))}</a><br/>")
        (pdir / "index.html").write_text(
            "<!DOCTYPE html>\n<html>\n  <head><meta name=\"pypi:repository-version\" content=\"1.1\">"
            f"<title>Links for {project}</title></head>\n  <body>\n"
            + "\n".join(anchors)
            + "\n  </body>\n</html>\n"
        )
    projects = sorted(state)
    (root / "index.json").write_text(
        json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]})
    )
    (root / "index.html").write_text(
        "<!DOCTYPE html>\n<html>\n  <body>\n"
        + "\n".join(f'    <a href="{p}/">{p}</a><br/>' for p in projects)
        + "\n  </body>\n</html>\n"
    )
    return root


@dataclass
class Faults:
    """Failures the server injects; change the fields while the server runs.

    ``applies`` chooses the request paths affected (default: distribution files only).
    ``ignore_range``: answer a Range request with 200 and the whole body.
    ``truncate``: send only this many body bytes (headers still claim the full length), then close.
    ``fail``: answer the next ``fail`` matching requests with ``fail_status`` (default 503).
    ``delay``: sleep this many seconds before answering.
    ``drop_json``: ignore the PEP 691 Accept header (serve HTML only, like an old index).
    """

    applies: Callable[[str], bool] = field(default=lambda p: p.endswith((".whl", ".tar.gz", ".zip")))
    ignore_range: bool = False
    truncate: int | None = None
    fail: int = 0
    fail_status: int = 503
    delay: float = 0.0
    drop_json: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered: what was asked and how many body bytes were sent."""

    method: str
    path: str
    range: str | None
    accept: str | None
    status: int
    body_bytes: int


@dataclass
class Server:
    """A running index server; ``index_url`` ends with a slash."""

    root: Path
    host: str
    port: int
    faults: Faults
    requests: list[RequestRecord]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.url}/"

    def bytes_sent(self, predicate: Callable[[RequestRecord], bool] = lambda r: True) -> int:
        """Body bytes sent for the requests matching ``predicate``."""
        return sum(r.body_bytes for r in list(self.requests) if predicate(r))


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _make_handler(server_state: Server, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            pass

        def _record(self, status: int, sent: int) -> None:
            with lock:
                server_state.requests.append(
                    RequestRecord(
                        self.command,
                        urlsplit(self.path).path,
                        self.headers.get("Range"),
                        self.headers.get("Accept"),
                        status,
                        sent,
                    )
                )

        def _plain(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            if self.command != "HEAD":
                self.wfile.write(body)
                sent = len(body)
            self._record(status, sent)

        def do_HEAD(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            faults = server_state.faults
            path = unquote(urlsplit(self.path).path)
            hit = faults.applies(path)
            if hit and faults.delay:
                time.sleep(faults.delay)
            if hit and faults.fail > 0:
                with lock:
                    faults.fail -= 1
                self._plain(faults.fail_status, "injected failure\n")
                return
            target = (server_state.root / path.lstrip("/")).resolve()
            if server_state.root.resolve() not in (target, *target.parents):
                self._plain(404, "not found\n")
                return
            ctype = "application/octet-stream"
            if target.is_dir():
                accept = self.headers.get("Accept", "")
                if PEP691_JSON in accept and not faults.drop_json:
                    target, ctype = target / "index.json", PEP691_JSON
                else:
                    target, ctype = target / "index.html", "text/html; charset=utf-8"
            elif path.endswith((".html",)):
                ctype = "text/html; charset=utf-8"
            elif path.endswith(".json"):
                ctype = "application/json"
            if not target.is_file():
                self._plain(404, "not found\n")
                return
            data = target.read_bytes()
            total = len(data)
            status, start, end = 200, 0, total
            rng = self.headers.get("Range")
            if rng and not (hit and faults.ignore_range):
                m = _RANGE.match(rng.strip())
                if m and (m.group(1) or m.group(2)):
                    a, b = m.group(1), m.group(2)
                    if a:
                        start = int(a)
                        end = min(int(b) + 1, total) if b else total
                    else:
                        start, end = max(total - int(b), 0), total
                    if start >= total or start >= end:
                        self._plain(416, "range not satisfiable\n", {"Content-Range": f"bytes */{total}"})
                        return
                    status = 206
                # A multi-range or malformed header is ignored: whole body, as servers may do.
            body = data[start:end]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
            if hit and faults.truncate is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            sent = 0
            if self.command != "HEAD":
                payload = body
                if hit and faults.truncate is not None:
                    payload = body[: faults.truncate]
                try:
                    self.wfile.write(payload)
                    self.wfile.flush()
                    sent = len(payload)
                except (BrokenPipeError, ConnectionResetError):
                    sent = 0
            self._record(status, sent)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-response (timeouts, budget stops) is expected in tests.
        pass


@contextmanager
def serve(root: str | Path, faults: Faults | None = None) -> Iterator[Server]:
    """Serve the index at ``root`` on 127.0.0.1 (a free port) for the ``with`` block."""
    state = Server(Path(root), "127.0.0.1", 0, faults or Faults(), [])
    lock = threading.Lock()
    httpd = _QuietServer(("127.0.0.1", 0), _make_handler(state, lock))
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
