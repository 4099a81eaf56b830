"""Project pages of a simple repository: PEP 691 JSON, else PEP 503 HTML, as :class:`IndexedFile` lists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from attnlock.errors import ToolError

PEP691_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{PEP691_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass(frozen=True)
class IndexedFile:
    """One distribution file as the index lists it."""

    filename: str
    url: str
    version: Version
    sha256: str | None
    size: int | None
    requires_python: str | None
    yanked: bool | str
    upload_time: str | None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


def project_url(index_url: str, name: str) -> str:
    """The project page URL (PEP 503: ``<index>/<normalized-name>/``)."""
    return index_url.rstrip("/") + "/" + canonicalize_name(name) + "/"


def _version_of(project: str, filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return version if name == canonicalize_name(project) else None


def _join(page_url: str, href: str) -> str | None:
    """``href`` resolved against the page; None for a malformed URL (that file is skipped, not a crash)."""
    try:
        return urljoin(page_url, href)
    except ValueError:
        return None


def _norm_yanked(value: object) -> bool | str:
    if isinstance(value, str):
        return value if value else True
    return bool(value)


def parse_json(project: str, page_url: str, body: bytes) -> list[IndexedFile]:
    """Files of a PEP 691 JSON project page; unparseable file names are skipped."""
    try:
        doc = json.loads(body)
        raw_files = doc["files"]
        if not isinstance(raw_files, list):
            raise TypeError("files is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolError(f"{page_url}: not a PEP 691 project page ({exc})") from exc
    except RecursionError:
        raise ToolError(f"{page_url}: not a PEP 691 project page (JSON nested too deeply)") from None
    out = []
    for f in raw_files:
        if not isinstance(f, dict) or not isinstance(f.get("filename"), str):
            continue
        version = _version_of(project, f["filename"])
        if version is None:
            continue
        hashes = f.get("hashes") if isinstance(f.get("hashes"), dict) else {}
        size = f.get("size")
        rp = f.get("requires-python")
        url = _join(page_url, str(f.get("url", f["filename"])))
        if url is None:
            continue
        out.append(
            IndexedFile(
                filename=f["filename"],
                url=urldefrag(url)[0],
                version=version,
                sha256=hashes.get("sha256") if isinstance(hashes, dict) else None,
                size=size if isinstance(size, int) else None,
                requires_python=rp.strip() if isinstance(rp, str) and rp.strip() else None,
                yanked=_norm_yanked(f.get("yanked", False)),
                upload_time=f.get("upload-time") if isinstance(f.get("upload-time"), str) else None,
            )
        )
    return out


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def parse_html(project: str, page_url: str, body: bytes) -> list[IndexedFile]:
    """Files of a PEP 503 HTML project page (sizes and upload times are not in HTML)."""
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    out = []
    for a in parser.anchors:
        href = a.get("href")
        if not href:
            continue
        joined = _join(page_url, href)
        if joined is None:
            continue
        url, frag = urldefrag(joined)
        filename = url.rsplit("/", 1)[-1]
        version = _version_of(project, filename)
        if version is None:
            continue
        sha = frag[len("sha256="):] if frag.startswith("sha256=") else None
        rp = a.get("data-requires-python")
        yanked: bool | str = False
        if "data-yanked" in a:
            yanked = a["data-yanked"] or True
        out.append(
            IndexedFile(filename, url, version, sha, None, rp.strip() if rp and rp.strip() else None, yanked, None)
        )
    return out


def parse_page(project: str, page_url: str, content_type: str, body: bytes) -> list[IndexedFile]:
    """Dispatch on the answer's Content-Type (PEP 691 JSON or HTML)."""
    if content_type.split(";")[0].strip().lower() in (PEP691_JSON, "application/json"):
        return parse_json(project, page_url, body)
    return parse_html(project, page_url, body)
