"""The HTTP port of the refresher: bounded retries, per-request deadlines, a byte budget, range reads.

This is the only module that imports httpx (the ``attnlock[refresh]`` extra).  Tests hand it a
real ``httpx.Client`` pointed at a local server; nothing here is patched.

Limits a server cannot bypass: each request (every redirect hop, every body byte) must finish
within ``timeout`` seconds in all, not per read, so a server sending one byte a second is cut
off; a 206 answer whose ``Content-Range`` is not the range asked for is dropped unread;
redirects are followed (at most :data:`MAX_REDIRECTS`) only to the same host and never from
https to http, unless the host is listed in ``FetchPolicy.redirect_hosts``
(``db refresh --allow-redirect-host``).  Every failure, including a malformed URL, a redirect
loop or a body that does not decompress, is an :class:`HttpError` naming the URL.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit
from typing import TYPE_CHECKING

from attnlock.errors import ToolError
from attnlock.refresh.remotezip import RangeReader, RangeResult, ZipReadError

if TYPE_CHECKING:
    import httpx

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"^bytes (\d{1,18})-(\d{1,18})/(\d{1,18}|\*)$")
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
#: Most redirects one request follows (pip and httpx allow 20–30; an index needs one or two).
MAX_REDIRECTS = 10


class HttpError(ToolError):
    """A request failed for good (after retries) or was refused; names the URL."""


class BudgetExceeded(ToolError):
    """The run fetched more than its byte budget; the refresh stops and writes nothing."""


class RangeNotHonoured(ZipReadError):
    """The server answered a range request with the whole file; it was not downloaded."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one refresh run.

    ``timeout``: seconds one request may take in all (connect, redirects, headers and the whole
    body: a deadline, not a per-read limit); ``attempts``: tries per request
    (1 + retries) on 5xx/429, timeouts and dropped connections; ``backoff``: first retry delay,
    doubled each time; ``max_bytes``: the run's total body-byte budget; ``whole_file_cap``: a
    200 answer to a range request is used only when its Content-Length is at most this;
    ``max_page``: the largest project page accepted; ``redirect_hosts``: hosts a redirect may
    lead to besides the requested URL's own.
    """

    timeout: float = 30.0
    attempts: int = 4
    backoff: float = 0.5
    max_bytes: int = 2 * 1024**3
    whole_file_cap: int = 256 * 1024
    max_page: int = 64 * 1024**2
    redirect_hosts: frozenset[str] = frozenset()


def _require_httpx() -> None:
    try:
        import httpx  # noqa: F401
    except ImportError as exc:
        raise ToolError(
            "attnlock db refresh needs httpx",
            hint="pip install 'attnlock[refresh]' (or: pip install httpx)",
        ) from exc


class _Retry(Exception):
    """A transient failure worth another attempt."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Fetcher:
    """Issues the refresher's requests; counts every body byte against the budget (thread-safe)."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        policy: FetchPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _require_httpx()
        import httpx

        self.policy = policy or FetchPolicy()
        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout),
            follow_redirects=False,  # followed by _stream, within the index's host
            headers={"User-Agent": "attnlock-refresh"},
        )
        self._sleep = sleep
        self._lock = threading.Lock()
        self.bytes_fetched = 0
        self.page_bytes = 0
        self.requests = 0

    def close(self) -> None:
        """Close the client if this fetcher created it."""
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounting -------------------------------------------------------

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_fetched += n
            over = self.bytes_fetched > self.policy.max_bytes
        if over:
            raise BudgetExceeded(
                f"fetched more than the byte budget of {self.policy.max_bytes} bytes; stopped, nothing written",
                hint="raise it with --max-bytes, or narrow data/curated/refresh.toml",
            )

    def _with_retries(self, url: str, attempt_once: Callable[[], RangeResult | tuple[str, str, bytes]]) -> object:
        import httpx

        delay = self.policy.backoff
        last = ""
        for attempt in range(self.policy.attempts):
            if attempt:
                self._sleep(delay)
                delay *= 2
            with self._lock:
                self.requests += 1
            try:
                return attempt_once()
            except _Retry as exc:
                last = exc.why
            except httpx.TimeoutException:
                last = f"timed out after {self.policy.timeout:g} s"
            except httpx.RemoteProtocolError as exc:
                last = f"connection dropped mid-response ({exc})"
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise HttpError(f"{url}: not a usable URL ({exc})",
                                hint="check the index URL and the file URLs its pages list") from None
            except httpx.DecodingError as exc:
                raise HttpError(f"{url}: the response body could not be decoded ({exc})") from None
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:
                raise HttpError(f"{url}: {type(exc).__name__}: {exc}") from None
            except ValueError as exc:  # httpx/urllib refusing a malformed URL before any request
                raise HttpError(f"{url}: not a usable URL ({exc})",
                                hint="check the index URL and the file URLs its pages list") from None
        raise HttpError(
            f"{url}: {last} ({self.policy.attempts} attempts)",
            hint="check the index, or raise --timeout / --retries",
        )

    @contextlib.contextmanager
    def _stream(self, url: str, headers: dict[str, str]) -> Iterator[tuple[httpx.Response, float]]:
        """GET ``url``, following allowed redirects; yields the final response and the request's deadline."""
        import httpx

        deadline = time.monotonic() + self.policy.timeout
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpx.ReadTimeout(f"no answer within {self.policy.timeout:g} s")
            with self.client.stream("GET", current, headers=headers, follow_redirects=False,
                                    timeout=httpx.Timeout(left)) as r:
                location = r.headers.get("Location")
                if r.status_code in _REDIRECT_STATUS and location:
                    target = urljoin(current, location)
                    self._check_redirect(url, current, target)
                    current = target
                    continue
                yield r, deadline
                return
        raise HttpError(f"{url}: more than {MAX_REDIRECTS} redirects (a redirect loop?)",
                        hint="check the index URL; the server keeps redirecting")

    def _check_redirect(self, url: str, current: str, target: str) -> None:
        here, there = urlsplit(current), urlsplit(target)
        if there.scheme not in ("http", "https"):
            raise HttpError(f"{url}: redirected to a non-HTTP URL {target}")
        if here.scheme == "https" and there.scheme != "https":
            raise HttpError(f"{url}: redirected from https to plain http ({target}); not followed")
        host = (there.hostname or "").lower()
        if host != (urlsplit(url).hostname or "").lower() and host not in self.policy.redirect_hosts:
            raise HttpError(
                f"{url}: redirected to another host ({host}); not followed",
                hint=f"if that host is trusted, rerun with --allow-redirect-host {host}",
            )

    def _read_body(self, response: httpx.Response, limit: int, deadline: float | None = None) -> bytes:
        chunks: list[bytes] = []
        got = 0
        for chunk in response.iter_bytes():
            if deadline is not None and time.monotonic() > deadline:
                raise _Retry(f"the answer did not finish within {self.policy.timeout:g} s (too slow)")
            got += len(chunk)
            self._count(len(chunk))
            if got > limit:
                raise HttpError(f"{response.request.url}: response larger than {limit} bytes; stopped reading")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- pages ------------------------------------------------------------

    def get_page(self, url: str, accept: str) -> tuple[str, str, bytes]:
        """GET a project page: ``(final_url, content_type, body)``; raises :class:`HttpError`."""

        def once() -> tuple[str, str, bytes]:
            with self._stream(url, {"Accept": accept}) as (r, deadline):
                if r.status_code in _RETRY_STATUS:
                    raise _Retry(f"HTTP {r.status_code}")
                if r.status_code == 404:
                    raise HttpError(f"{url}: not found on the index (HTTP 404)")
                if r.status_code != 200:
                    raise HttpError(f"{url}: HTTP {r.status_code}")
                declared = r.headers.get("Content-Length")
                body = self._read_body(r, self.policy.max_page, deadline)
                if declared is not None and declared.isdigit() and len(body) != int(declared):
                    raise _Retry(f"truncated response ({len(body)} of {declared} bytes)")
                return str(r.url), r.headers.get("Content-Type", ""), body

        result = self._with_retries(url, once)
        assert isinstance(result, tuple)
        with self._lock:
            self.page_bytes += len(result[2])
        return result

    # -- ranges -----------------------------------------------------------

    def read_range(self, url: str, start: int, end: int | None) -> RangeResult:
        """Bytes ``[start, end)`` of ``url`` (``start < 0``: the last ``-start`` bytes).

        A 206 answer is checked against its Content-Range.  A 200 answer (range ignored) is read
        only if its Content-Length is at most ``whole_file_cap``; otherwise the connection is
        dropped unread and :class:`RangeNotHonoured` raised.
        """
        if start < 0:
            header = f"bytes={start}"
        elif end is None:
            header = f"bytes={start}-"
        else:
            header = f"bytes={start}-{end - 1}"

        def once() -> RangeResult:
            with self._stream(url, {"Range": header, "Accept-Encoding": "identity"}) as (r, deadline):
                if r.status_code in _RETRY_STATUS:
                    raise _Retry(f"HTTP {r.status_code}")
                if r.status_code == 200:
                    length = r.headers.get("Content-Length")
                    if length is not None and length.isdigit() and int(length) <= self.policy.whole_file_cap:
                        body = self._read_body(r, self.policy.whole_file_cap, deadline)
                        if len(body) != int(length):
                            raise _Retry(f"truncated response ({len(body)} of {length} bytes)")
                        return RangeResult(0, body, len(body))
                    raise RangeNotHonoured(
                        f"the server ignored the range request (HTTP 200, {length or 'unknown'} bytes); "
                        "not downloading the whole file",
                        hint="use an index that supports HTTP range requests",
                    )
                if r.status_code == 416:
                    raise ZipReadError(f"range {header} not satisfiable (HTTP 416): file shorter than expected")
                if r.status_code != 206:
                    raise HttpError(f"{url}: HTTP {r.status_code} for a range request")
                m = _CONTENT_RANGE.match(r.headers.get("Content-Range", "").strip())
                if not m or m.group(3) == "*":
                    raise ZipReadError(f"unusable Content-Range {r.headers.get('Content-Range')!r}")
                first, last, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
                if not _range_matches(start, end, first, last, total):
                    raise ZipReadError(
                        f"Content-Range {r.headers.get('Content-Range')!r} does not answer the range asked "
                        f"({header}); not read")
                want = last - first + 1
                body = self._read_body(r, want, deadline)
                if len(body) != want:
                    raise _Retry(f"truncated response ({len(body)} of {want} bytes)")
                return RangeResult(first, body, total)

        result = self._with_retries(url, once)
        assert isinstance(result, RangeResult)
        return result

    def range_reader(self, url: str) -> RangeReader:
        """A :data:`RangeReader` bound to ``url``."""
        return lambda start, end: self.read_range(url, start, end)


def _range_matches(start: int, end: int | None, first: int, last: int, total: int) -> bool:
    """Whether ``bytes first-last/total`` answers the request for ``[start, end)`` (``start < 0``: a suffix)."""
    if not 0 <= first <= last < total:
        return False
    if start < 0:
        return last == total - 1 and first == max(0, total + start)
    if first != start:
        return False
    if end is None:
        return last == total - 1
    return last == min(end, total) - 1
