"""Derived documents (``data/derived/<package>.json``): built from index files, reusing unchanged facts.

For each release in scope: every file the index lists; METADATA from one wheel per platform
family, identical results merged; for packages with a build-info member (xformers'
``cpp_lib.json``) that member from every wheel.  A file whose sha256 matches the previous
document keeps its previously read facts, so a re-run fetches only new files.  Layout:
``data/SCHEMA.md`` ("Derived").
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from attnlock.errors import ToolError
from attnlock.refresh.http import BudgetExceeded
from attnlock.refresh.remotezip import RemoteZip, ZipReadError, find_entry
from attnlock.refresh.scope import PackageScope
from attnlock.refresh.simple import IndexedFile

SCHEMA = 1
METHOD = (
    "attnlock db refresh: PEP 691 JSON (or PEP 503 HTML) of the configured index; "
    "METADATA and build info read from wheels by HTTP range requests"
)
FAMILIES = ("linux-x86_64", "linux-aarch64", "windows-amd64", "macos-arm64", "any")
METADATA_CAP = 1024 * 1024
BUILD_INFO_CAP = 1024 * 1024
METADATA_MEMBER = "*.dist-info/METADATA"
# A pattern with this prefix asks the reader for the names of the members matching the rest (a glob
# whose ``*`` may cross ``/``), newline-joined, instead of a member's bytes: read from the central
# directory alone, no member data.
LIST_PREFIX = "list:"

# A member reader: (file, member patterns) -> {pattern: bytes or the error text}.
MemberReader = Callable[[IndexedFile, Sequence[str]], dict[str, "bytes | str"]]


def wheel_family(filename: str) -> str | None:
    """The platform family a wheel serves (``FAMILIES``), or None for the others (win32, ppc64le…)."""
    try:
        _name, _ver, _build, tags = parse_wheel_filename(filename)
    except ValueError:
        return None
    platforms = {t.platform for t in tags}
    if platforms == {"any"}:
        return "any"
    for p in sorted(platforms):
        if p.startswith(("manylinux", "musllinux", "linux")) and p.endswith("_x86_64"):
            return "linux-x86_64"
        if p.startswith(("manylinux", "musllinux", "linux")) and p.endswith("_aarch64"):
            return "linux-aarch64"
        if p == "win_amd64":
            return "windows-amd64"
        if p.startswith("macosx") and p.endswith(("_arm64", "_universal2")):
            return "macos-arm64"
    return None


def _python_rank(tags: frozenset[Tag]) -> tuple[int, int]:
    best = (0, 0)
    for t in tags:
        digits = t.interpreter[2:]
        if digits.isdigit() and digits:
            best = max(best, (int(digits[0]), int(digits[1:] or 0)))
    return best


def _preference(f: IndexedFile) -> tuple[int, tuple[int, int], str]:
    """Which wheel of a family is read: glibc over musl, newest Python tag, then file name."""
    _n, _v, _b, tags = parse_wheel_filename(f.filename)
    musl = any(t.platform.startswith("musllinux") for t in tags)
    return (0 if musl else 1, _python_rank(tags), f.filename)


def parse_metadata(data: bytes) -> dict[str, Any]:
    """The facts kept from a METADATA file: Requires-Python, Requires-Dist, Provides-Extra."""
    msg = BytesHeaderParser().parsebytes(data)
    fact: dict[str, Any] = {"requires_dist": [str(r).strip() for r in msg.get_all("Requires-Dist") or []]}
    rp = msg.get("Requires-Python")
    if rp is not None and str(rp).strip():
        fact["requires_python"] = str(rp).strip()
    extras = [str(e).strip() for e in msg.get_all("Provides-Extra") or []]
    if extras:
        fact["provides_extra"] = extras
    return fact


def _cuda_text(value: object) -> str | None:
    """xformers records CUDA as an integer: 1208 is 12.8, 121 is 12.1 (major digits, then minor)."""
    if isinstance(value, int) and value > 0:
        if value >= 1000:
            return f"{value // 100}.{value % 100}"
        return f"{value // 10}.{value % 10}"
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def parse_build_info(data: bytes) -> dict[str, Any]:
    """xformers' ``cpp_lib.json``: the torch build, CUDA and Python it was compiled with, plus the raw JSON."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ZipReadError(f"cpp_lib.json is not JSON ({exc})") from exc
    except RecursionError:
        raise ZipReadError("cpp_lib.json is nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise ZipReadError("cpp_lib.json is not a JSON object")
    ver: dict[str, Any] = raw["version"] if isinstance(raw.get("version"), dict) else {}
    out: dict[str, Any] = {"raw": raw}
    if isinstance(ver.get("torch"), str):
        out["torch"] = ver["torch"]
    cuda = _cuda_text(ver.get("cuda"))
    if cuda is not None:
        out["cuda"] = cuda
    if isinstance(ver.get("hip"), str) and ver["hip"]:
        out["hip"] = ver["hip"]
    if isinstance(ver.get("python"), str):
        out["python"] = ver["python"]
    env: dict[str, Any] = raw["env"] if isinstance(raw.get("env"), dict) else {}
    if isinstance(env.get("TORCH_CUDA_ARCH_LIST"), str):
        out["arch_list"] = env["TORCH_CUDA_ARCH_LIST"].split()
    return out


def remote_member_reader(range_reader_for: Callable[[str], Any]) -> MemberReader:
    """A :data:`MemberReader` that reads members over HTTP ranges (one central directory per wheel)."""

    def read(f: IndexedFile, patterns: Sequence[str]) -> dict[str, bytes | str]:
        out: dict[str, bytes | str] = {}
        rz = RemoteZip(range_reader_for(f.url))
        listing = any(p.startswith(LIST_PREFIX) for p in patterns)
        try:
            # A listing needs the whole central directory (no shortcut through a partial one).
            entries = rz.entries(() if listing else patterns)
        except ZipReadError as exc:
            return {p: exc.message for p in patterns}
        project = canonicalize_name(f.filename.split("-", 1)[0])
        for p in patterns:
            if p.startswith(LIST_PREFIX):
                glob = p[len(LIST_PREFIX):]
                out[p] = "\n".join(sorted(n for n in entries if fnmatch.fnmatchcase(n, glob))).encode()
                continue
            candidates = {n: e for n, e in entries.items()}
            if p == METADATA_MEMBER:
                # The project's own dist-info (a wheel may vendor others).
                own = {n: e for n, e in entries.items()
                       if canonicalize_name(n.split("/", 1)[0].split("-", 1)[0]) == project}
                candidates = own or candidates
            entry = find_entry(candidates, p)
            if entry is None:
                out[p] = f"no {p} in the wheel"
                continue
            cap = METADATA_CAP if p == METADATA_MEMBER else BUILD_INFO_CAP
            try:
                out[p] = rz.read(entry, max_size=cap)
            except ZipReadError as exc:
                out[p] = exc.message
        return out

    return read


@dataclass
class Stats:
    """What one package's refresh cost: files read, reused, bytes of the wheels touched."""

    files_read: int = 0
    files_reused: int = 0
    errors: int = 0
    wheel_bytes_read: int = 0
    wheel_bytes_total: int = 0
    messages: list[str] = field(default_factory=list)


def _previous_facts(prev: Mapping[str, Any] | None) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], Any], set[str]]:
    """(file, sha256) -> METADATA fact and -> build info (and -> member listing, keyed ``members:<file>``),
    from a previous document; and files read before."""
    meta: dict[tuple[str, str], dict[str, Any]] = {}
    build: dict[tuple[str, str], Any] = {}
    read_before: set[str] = set()
    if not prev or not isinstance(prev.get("releases"), dict):
        return meta, build, read_before
    for rel in prev["releases"].values():
        if not isinstance(rel, dict):
            continue
        files: dict[str, Any] = rel["files"] if isinstance(rel.get("files"), dict) else {}
        for rec in rel.get("metadata", []) or []:
            if not isinstance(rec, dict) or "error" in rec or "requires_dist" not in rec:
                continue
            fact = {k: rec[k] for k in ("requires_dist", "requires_python", "provides_extra") if k in rec}
            for fn in rec.get("sources", [rec.get("source")]):
                sha = (files.get(fn) or {}).get("sha256") if isinstance(fn, str) else None
                if sha:
                    meta[(fn, sha)] = fact
                    read_before.add(fn)
        for fn, info in (rel.get("build_info") or {}).items():
            sha = (files.get(fn) or {}).get("sha256")
            if sha and isinstance(info, dict) and "error" not in info:
                build[(fn, sha)] = info
        for fn, names in (rel.get("members") or {}).items():
            sha = (files.get(fn) or {}).get("sha256")
            if sha and isinstance(names, list):
                build[(f"members:{fn}", sha)] = names
    return meta, build, read_before


def _file_record(f: IndexedFile) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    if f.size is not None:
        rec["size"] = f.size
    if f.sha256:
        rec["sha256"] = f.sha256
    if f.requires_python:
        rec["requires_python"] = f.requires_python
    if f.yanked:
        rec["yanked"] = f.yanked
    if f.upload_time:
        rec["upload_time"] = f.upload_time
    return rec


def build_document(
    scope: PackageScope,
    files: Iterable[IndexedFile],
    previous: Mapping[str, Any] | None,
    reader: MemberReader,
    *,
    checked: str,
    workers: int = 8,
    on_plan: Callable[[int], None] | None = None,
    on_file: Callable[[IndexedFile], None] | None = None,
) -> tuple[dict[str, Any], Stats]:
    """The derived document of one package (releases ascending) and what building it cost.

    ``checked`` is today's date; the caller keeps the previous date when nothing else changed.
    Raises only what ``reader`` raises beyond per-file zip errors (budget, HTTP failures are
    recorded per file).
    """
    stats = Stats()
    by_version: dict[Version, list[IndexedFile]] = {}
    for f in files:
        by_version.setdefault(f.version, []).append(f)
    versions = scope.select(set(by_version))
    prev_meta, prev_build, read_before = _previous_facts(previous)

    # Plan: which wheels to read, and which members of each.
    jobs: dict[str, tuple[IndexedFile, list[str]]] = {}
    family_pick: dict[Version, dict[str, IndexedFile]] = {}
    for v in versions:
        wheels = sorted((f for f in by_version[v] if f.is_wheel), key=lambda f: f.filename)
        stats.wheel_bytes_total += sum(f.size or 0 for f in wheels)
        if scope.read == "list":
            continue
        picks: dict[str, IndexedFile] = {}
        for fam in FAMILIES:
            cands = [f for f in wheels if wheel_family(f.filename) == fam]
            if not cands:
                continue
            reused = [f for f in cands if f.filename in read_before and (f.filename, f.sha256 or "") in prev_meta]
            picks[fam] = sorted(reused or cands, key=_preference)[-1]
        family_pick[v] = picks
        for f in picks.values():
            if (f.filename, f.sha256 or "") not in prev_meta:
                jobs.setdefault(f.filename, (f, []))[1].append(METADATA_MEMBER)
        if scope.build_info:
            for f in wheels:
                if (f.filename, f.sha256 or "") not in prev_build:
                    jobs.setdefault(f.filename, (f, []))[1].append(scope.build_info)
        if scope.members:
            for f in wheels:
                if (f"members:{f.filename}", f.sha256 or "") not in prev_build:
                    jobs.setdefault(f.filename, (f, []))[1].append(LIST_PREFIX + scope.members)

    results: dict[str, dict[str, bytes | str]] = {}
    if on_plan is not None:
        on_plan(len(jobs))

    def run(item: tuple[IndexedFile, list[str]]) -> tuple[str, dict[str, bytes | str]]:
        f, patterns = item
        try:
            got = reader(f, patterns)
        except ZipReadError as exc:
            got = {p: exc.message for p in patterns}
        except BudgetExceeded:
            raise
        except ToolError as exc:  # an HTTP failure after retries: recorded against this file
            got = {p: exc.message for p in patterns}
        if on_file is not None:
            on_file(f)
        return f.filename, got

    if jobs:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for name, got in pool.map(run, list(jobs.values())):
                results[name] = got
    stats.files_read = len(jobs)
    stats.wheel_bytes_read = sum(f.size or 0 for f, _ in jobs.values())

    releases: dict[str, Any] = {}
    for v in versions:
        vfiles = sorted(by_version[v], key=lambda f: f.filename)
        rel: dict[str, Any] = {
            "files": {f.filename: _file_record(f) for f in vfiles},
            "yanked": all(bool(f.yanked) for f in vfiles),
        }
        uploads = sorted(f.upload_time for f in vfiles if f.upload_time)
        if uploads:
            rel["upload_time"] = uploads[0]
        rps = {f.requires_python for f in vfiles}
        if len(rps) == 1 and None not in rps:
            rel["requires_python"] = rps.pop()
        if scope.read == "metadata":
            rel["metadata"] = _metadata_records(family_pick.get(v, {}), results, prev_meta, stats)
        if scope.build_info:
            rel["build_info"] = _build_records(vfiles, scope.build_info, results, prev_build, stats)
        if scope.members:
            rel["members"] = _member_lists(vfiles, LIST_PREFIX + scope.members, results, prev_build, stats)
        releases[str(v)] = rel
    doc = {
        "schema": SCHEMA,
        "package": scope.name,
        "checked": checked,
        "method": METHOD,
        "releases": releases,
    }
    return doc, stats


def _metadata_records(
    picks: Mapping[str, IndexedFile],
    results: Mapping[str, Mapping[str, bytes | str]],
    prev_meta: Mapping[tuple[str, str], dict[str, Any]],
    stats: Stats,
) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for fam in FAMILIES:
        f = picks.get(fam)
        if f is None:
            continue
        key = (f.filename, f.sha256 or "")
        if key in prev_meta:
            fact: dict[str, Any] | str = prev_meta[key]
            stats.files_reused += 1
        else:
            got = results.get(f.filename, {}).get(METADATA_MEMBER, "not read")
            if isinstance(got, bytes):
                fact = parse_metadata(got)
            else:
                fact = got
        if isinstance(fact, str):
            stats.errors += 1
            stats.messages.append(f"{f.filename}: {fact}")
            out.append({"source": f.filename, "platforms": [fam], "error": fact})
            continue
        ident = json.dumps(fact, sort_keys=True)
        if ident in merged:
            merged[ident]["platforms"].append(fam)
            merged[ident]["sources"].append(f.filename)
        else:
            rec = {"source": f.filename, "sources": [f.filename], "platforms": [fam], **fact}
            merged[ident] = rec
            out.append(rec)
    return out


def _build_records(
    vfiles: Sequence[IndexedFile],
    member: str,
    results: Mapping[str, Mapping[str, bytes | str]],
    prev_build: Mapping[tuple[str, str], dict[str, Any]],
    stats: Stats,
) -> dict[str, Any]:
    def read(got: bytes) -> Any:
        try:
            return parse_build_info(got)
        except ZipReadError as exc:
            return {"error": exc.message}

    # A wheel without the member (pure-Python xformers dev builds): a fact, not a failure.
    return _per_wheel(vfiles, member, results, prev_build, stats, reuse=lambda name: name, read=read,
                      absent={"absent": True})


def _member_lists(
    vfiles: Sequence[IndexedFile],
    pattern: str,
    results: Mapping[str, Mapping[str, bytes | str]],
    prev: Mapping[tuple[str, str], Any],
    stats: Stats,
) -> dict[str, Any]:
    """Per wheel: the member names matching the ``[members]`` glob (``{"error": …}`` when unread)."""
    return _per_wheel(vfiles, pattern, results, prev, stats, reuse=lambda name: f"members:{name}",
                      read=lambda got: [n for n in got.decode("utf-8", "replace").split("\n") if n])


def _per_wheel(
    vfiles: Sequence[IndexedFile],
    member: str,
    results: Mapping[str, Mapping[str, bytes | str]],
    prev: Mapping[tuple[str, str], Any],
    stats: Stats,
    *,
    reuse: Callable[[str], str],
    read: Callable[[bytes], Any],
    absent: Any = None,
) -> dict[str, Any]:
    """Per wheel: the previous run's fact for the same file and hash (``reuse`` names its key), else
    ``read`` of what was fetched, ``absent`` when the wheel has no such member (None: an error),
    else ``{"error": …}`` counted in ``stats``."""
    out: dict[str, Any] = {}
    for f in vfiles:
        if not f.is_wheel:
            continue
        key = (reuse(f.filename), f.sha256 or "")
        if key in prev:
            out[f.filename] = prev[key]
            stats.files_reused += 1
            continue
        got = results.get(f.filename, {}).get(member, "not read")
        if isinstance(got, bytes):
            out[f.filename] = read(got)
        elif absent is not None and got.startswith(f"no {member} "):
            out[f.filename] = absent
        else:
            stats.errors += 1
            stats.messages.append(f"{f.filename}: {got}")
            out[f.filename] = {"error": got}
    return out
