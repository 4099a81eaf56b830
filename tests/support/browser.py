"""A real headless Chromium driven through chromedriver's W3C WebDriver protocol (HTTP + JSON, stdlib only).

The system packages ``chromium`` and ``chromium-driver`` provide both binaries; ``scripts/test``
installs them where missing.  :func:`chromium_missing` says why a browser test must be skipped.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]
_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def chromedriver() -> str | None:
    return shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).exists()), None)


def chromium_missing() -> str | None:
    """Why no browser test can run here (None: Chromium and chromedriver are installed)."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (Debian: apt-get install chromium chromium-driver; scripts/test tries)"
    if chromedriver() is None:
        return "chromedriver is not installed (Debian: apt-get install chromium-driver; scripts/test tries)"
    return None


class Element:
    def __init__(self, browser: Browser, ref: str) -> None:
        self.browser, self.ref = browser, ref

    def click(self) -> None:
        self.browser.call("POST", f"element/{self.ref}/click", {})

    @property
    def text(self) -> str:
        return str(self.browser.call("GET", f"element/{self.ref}/text"))

    def attribute(self, name: str) -> str | None:
        value = self.browser.call("GET", f"element/{self.ref}/attribute/{name}")
        return None if value is None else str(value)

    def send_keys(self, text: str) -> None:
        self.browser.call("POST", f"element/{self.ref}/value", {"text": text})

    def find_all(self, css: str) -> list[Element]:
        found = self.browser.call("POST", f"element/{self.ref}/elements", {"using": "css selector", "value": css})
        return [Element(self.browser, e[_ELEMENT]) for e in found]


class Browser:
    """One WebDriver session."""

    def __init__(self, base: str, session: str) -> None:
        self.base, self.session = base, session

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base}/session/{self.session}/{path}"
        return _request(method, url, body)

    def get(self, url: str) -> None:
        self.call("POST", "url", {"url": url})

    def find(self, css: str) -> Element:
        return Element(self, self.call("POST", "element", {"using": "css selector", "value": css})[_ELEMENT])

    def find_all(self, css: str) -> list[Element]:
        found = self.call("POST", "elements", {"using": "css selector", "value": css})
        return [Element(self, e[_ELEMENT]) for e in found]

    def script(self, source: str, *args: Any) -> Any:
        return self.call("POST", "execute/sync", {"script": source, "args": list(args)})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("GET", "screenshot"))

    def resize(self, width: int, height: int) -> None:
        self.call("POST", "window/rect", {"width": width, "height": height})


def _request(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}").get("value")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"WebDriver {method} {url}: {exc.read().decode(errors='replace')[:500]}") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Browser]:
    """A headless Chromium with a fresh profile; chromedriver and the browser end with the block."""
    driver = chromedriver()
    assert driver is not None
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="attnlock-chromium-") as profile:
        proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if _request("GET", f"{base}/status", timeout=2).get("ready"):
                        break
                except (OSError, AssertionError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("chromedriver did not start in 30 s")
                time.sleep(0.1)
            caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]}}}}
            session = _request("POST", f"{base}/session", caps)["sessionId"]
            b = Browser(base, session)
            try:
                b.resize(width, height)
                yield b
            finally:
                _request("DELETE", f"{base}/session/{session}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB/RGBA PNG (what Chromium writes), stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, kind = 8, b"", 0, 0, 0
    while pos < len(data):
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if tag == b"IHDR":
            width, height, depth, kind = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and kind in (2, 6), f"unsupported PNG (depth {depth}, colour type {kind})"
        elif tag == b"IDAT":
            idat += chunk
        pos += 12 + length
    bpp = 3 if kind == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    out: list[tuple[int, int, int]] = []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp))
        prev = line
    return width, height, out
