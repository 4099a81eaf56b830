"""``attnlock db validate``: schema, provenance, ordering and references of every data file."""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.model import ComputeCapability, CudaVariant, canonical
from attnlock.errors import UsageError

if TYPE_CHECKING:
    from attnlock.database.store import Database, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Keys whose value is a version or a specifier over versions, per curated file.
_RANGE_KEYS = {"torch", "xformers", "versions", "jax", "jaxlib", "unsloth", "triton"}
# Within a table, records with equal values of these keys must not overlap in range.
_DISCRIMINATORS = ("package", "platform", "index", "variant", "kernel", "os")
# Registry hosts derived data must not name (spelled in pieces: the repository names none).
_HOSTS_FORBIDDEN = re.compile("|".join(re.escape(h) for h in ("pypi" + ".org", "python" + "hosted" + ".org")), re.I)


def validate(db: Database) -> list[Problem]:
    """Every problem in the database at ``db.root``; [] when sound."""
    from attnlock.database.store import Problem

    problems: list[Problem] = []
    root = db.root
    if not root.is_dir():
        return [Problem(str(root), "-", "data directory not found")]
    toolkits: set[str] = set()
    curated: dict[str, dict[str, Any]] = {}
    rels: dict[str, str] = {}
    for path in sorted((root / "curated").glob("*.toml")):
        rel = rels[path.stem] = _rel(path, root)
        try:
            with open(path, "rb") as fh:
                curated[path.stem] = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(Problem(rel, "-", f"does not parse as TOML: {exc}"))
    for rec in _records(curated.get("cuda", {}), "toolkit"):
        toolkits.add(str(rec.get("version")))
    for stem, doc in curated.items():
        problems.extend(_check_curated(rels[stem], stem, doc, toolkits))
    if "known_bad" in curated and "signatures" in curated:
        problems.extend(_check_known_bad_errors(rels["known_bad"], curated["known_bad"], curated["signatures"]))
    for path in sorted((root / "derived").glob("*.json")):
        problems.extend(_check_derived(path, _rel(path, root)))
    from attnlock.database.compiled import audit
    from attnlock.database.store import PARSERS, SHAPES

    for entry, message in audit(root, PARSERS, SHAPES):
        problems.append(Problem(entry, "compiled", message))
    if not any(p.key == "-" for p in problems):
        # The compatibility model's strict constructors: a record it cannot load is a problem here.
        from attnlock.compat import model_for

        problems.extend(model_for(db).problems())
    return problems


def _rel(path: Path, root: Path) -> str:
    # Named as from the repository root ("data/curated/cuda.toml") whatever the folder is called.
    return "data/" + path.relative_to(root).as_posix()


def _records(doc: Mapping[str, Any], table: str) -> list[dict[str, Any]]:
    value = doc.get(table, [])
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _is_date(value: object) -> bool:
    if isinstance(value, _dt.date):
        return True
    if isinstance(value, str):
        try:
            _dt.date.fromisoformat(value)
            return True
        except ValueError:
            return False
    return False


def _is_source(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return False


def _as_spec(value: str) -> SpecifierSet:
    text = value.strip()
    if text in ("*", ""):
        return SpecifierSet()
    if re.fullmatch(r"\d[\w.+!]*", text):
        return SpecifierSet(f"=={text}")
    return SpecifierSet(text)


def _check_curated(rel: str, stem: str, doc: Mapping[str, Any], toolkits: set[str]) -> Iterable[Problem]:
    from attnlock.database.store import Problem

    if stem == "refresh":
        for name, spec in (doc.get("packages") or {}).items():
            if not isinstance(spec, str):
                yield Problem(rel, f"packages.{name}", "must be a specifier string")
                continue
            try:
                _as_spec(spec)
            except InvalidSpecifier:
                yield Problem(rel, f"packages.{name}", f"malformed specifier {spec!r}")
        if not _is_source(doc.get("source")) or not _is_date(doc.get("checked")):
            yield Problem(rel, "-", "needs top-level source and checked")
        return
    for table, value in doc.items():
        if not isinstance(value, list):
            continue
        ranges: dict[tuple[str, ...], list[tuple[int, SpecifierSet, str]]] = {}
        for i, rec in enumerate(value):
            key = f"{table}[{i}]"
            if not isinstance(rec, dict):
                yield Problem(rel, key, "must be a table")
                continue
            ident = rec.get("id") or rec.get("name") or rec.get("version")
            if ident is not None:
                key = f"{table}[{i}] ({ident})"
            if not _is_source(rec.get("source")) and not _is_source(rec.get("evidence")):
                yield Problem(rel, key, "no source: every curated record cites where it came from")
            if not _is_date(rec.get("checked")):
                yield Problem(rel, key, "no valid checked date (YYYY-MM-DD)")
            for rk in _RANGE_KEYS & rec.keys():
                val = rec[rk]
                if not isinstance(val, str):
                    continue
                try:
                    spec = _as_spec(val)
                except InvalidSpecifier:
                    yield Problem(rel, f"{key}.{rk}", f"malformed version or specifier {val!r}")
                    continue
                if rk == _primary_range_key(table, rec):
                    group = tuple(str(rec.get(d)) for d in _DISCRIMINATORS)
                    ranges.setdefault(group, []).append((i, spec, val))
            for vk in ("version",):
                if vk in rec and stem not in ("gpus",):
                    try:
                        Version(str(rec[vk]))
                    except InvalidVersion:
                        yield Problem(rel, f"{key}.{vk}", f"malformed version {rec[vk]!r}")
            yield from _check_references(rel, key, stem, table, rec, toolkits)
        for group, items in ranges.items():
            yield from _check_overlap(rel, table, items)


def _primary_range_key(table: str, rec: Mapping[str, Any]) -> str | None:
    for k in ("xformers", "torch", "versions"):
        if k in rec:
            return k
    return None


def _probe_versions(items: list[tuple[int, SpecifierSet, str]]) -> list[Version]:
    probes: set[Version] = set()
    for _, spec, _text in items:
        for s in spec:
            try:
                v = Version(s.version.rstrip(".*"))
            except InvalidVersion:
                continue
            probes.add(v)
            rel = list(v.release) + [0] * (3 - len(v.release))
            probes.add(Version(".".join(str(x) for x in rel[:2] + [rel[2] + 1])))
    return sorted(probes)


def _check_overlap(rel: str, table: str, items: list[tuple[int, SpecifierSet, str]]) -> Iterable[Problem]:
    from attnlock.database.store import Problem

    probes = _probe_versions(items)
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            ia, sa, ta = items[a]
            ib, sb, tb = items[b]
            both = [v for v in probes if sa.contains(v, prereleases=True) and sb.contains(v, prereleases=True)]
            if both:
                yield Problem(rel, f"{table}[{ia}] / {table}[{ib}]",
                              f"ranges {ta!r} and {tb!r} overlap (both contain {both[0]})")
    # Sorted: each record's lowest admitted probe is not below the previous one's.
    lows = []
    for i, spec, text in items:
        admitted = [v for v in probes if spec.contains(v, prereleases=True)]
        if admitted:
            lows.append((i, admitted[0], text))
    for (i0, v0, t0), (i1, v1, t1) in zip(lows, lows[1:]):
        if v1 < v0:
            yield Problem(rel, f"{table}[{i1}]", f"not sorted: {t1!r} comes after {t0!r}")


def _check_references(rel: str, key: str, stem: str, table: str, rec: Mapping[str, Any],
                      toolkits: set[str]) -> Iterable[Problem]:
    from attnlock.database.store import Problem

    labels: list[str] = []
    for k in ("variants", "pypi", "variant"):
        v = rec.get(k)
        if isinstance(v, str) and v != "unknown":
            labels.append(v)
        elif isinstance(v, list):
            labels.extend(x for x in v if isinstance(x, str))
    pbp = rec.get("pypi_by_platform")
    if pbp is not None:
        # Default-index build per platform (torch.toml [[variants]]): platform -> variant label, with its own
        # provenance (the wheels whose METADATA shows it), since it was added after the record's other facts.
        if not isinstance(pbp, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in pbp.items()):
            yield Problem(rel, f"{key}.pypi_by_platform", "must be a table of platform = variant label")
        else:
            labels.extend(v for v in pbp.values() if v != "unknown")
        if not _is_source(rec.get("pypi_by_platform_source")) or not _is_date(rec.get("pypi_by_platform_checked")):
            yield Problem(rel, f"{key}.pypi_by_platform", "needs pypi_by_platform_source and pypi_by_platform_checked")
    if "matrix" in rec:
        # flash_attn.toml [[release]] matrix = "unknown": the release exists, its wheel matrix was not read.
        if rec["matrix"] != "unknown":
            yield Problem(rel, f"{key}.matrix", "the only value is \"unknown\" (leave the key out when the matrix is known)")
        for k in ("torch", "cuda", "python", "cxx11abi", "url_template"):
            if k in rec:
                yield Problem(rel, f"{key}.{k}", "a release with matrix = \"unknown\" lists no wheel facts")
    if stem == "flash_attn" and table == "index_builds" and not isinstance(rec.get("stable_abi", False), bool):
        yield Problem(rel, f"{key}.stable_abi", "must be true or false")
    for label in labels:
        try:
            cv = CudaVariant.parse(label)
        except UsageError:
            yield Problem(rel, key, f"unknown variant label {label!r}")
            continue
        if cv.is_cuda and toolkits and cv.version is not None and str(cv.version) not in toolkits:
            yield Problem(rel, key, f"variant {label} names CUDA {cv.version}, which cuda.toml does not list")
    for k in ("compute_capability", "min_compute_capability", "max_compute_capability"):
        v = rec.get(k)
        if isinstance(v, str) and v != "unknown":
            try:
                ComputeCapability.parse(v)
            except UsageError:
                yield Problem(rel, f"{key}.{k}", f"malformed compute capability {v!r}")
    archs = rec.get("archs")
    if isinstance(archs, list):
        for a in archs:
            try:
                ComputeCapability.parse(str(a))
            except UsageError:
                yield Problem(rel, f"{key}.archs", f"malformed architecture {a!r}")
    if stem == "known_bad":
        pk = rec.get("packages")
        if not isinstance(pk, dict) or not pk:
            yield Problem(rel, f"{key}.packages", "needs a table of package = specifier")
        else:
            for name, spec in pk.items():
                if canonical(name) != name:
                    yield Problem(rel, f"{key}.packages.{name}", f"name is not canonical (write {canonical(name)})")
                try:
                    _as_spec(str(spec))
                except InvalidSpecifier:
                    yield Problem(rel, f"{key}.packages.{name}", f"malformed specifier {spec!r}")
        unless = rec.get("unless", {})
        if not isinstance(unless, dict):
            yield Problem(rel, f"{key}.unless", "must be a table of package = specifier")
        else:
            for name, spec in unless.items():
                try:
                    _as_spec(str(spec))
                except InvalidSpecifier:
                    yield Problem(rel, f"{key}.unless.{name}", f"malformed specifier {spec!r}")
        if not _is_source(rec.get("evidence")):
            yield Problem(rel, key, "a known-bad combination needs evidence (issue URL)")
        yield from _check_known_bad_keys(rel, key, rec)
    if stem == "signatures" and table == "signature":
        pattern = rec.get("pattern")
        try:
            rx = re.compile(str(pattern), re.M)
        except re.error as exc:
            yield Problem(rel, f"{key}.pattern", f"does not compile: {exc}")
            return
        example = rec.get("example")
        if not isinstance(example, str) or not example:
            yield Problem(rel, f"{key}.example", "needs a verbatim example the pattern matches")
        elif not rx.search(example):
            yield Problem(rel, f"{key}.example", "the pattern does not match its own example")
    if stem == "flash_attn" and table == "release" and "url_template" in rec:
        tpl = rec["url_template"]
        try:
            str(tpl).format(version="0", cuda="cu0", cuda_digits="0", torch="0.0", abi="TRUE", python="cp0", py="cp0")
        except (KeyError, IndexError, ValueError) as exc:
            yield Problem(rel, f"{key}.url_template", f"unknown placeholder {exc}")


KNOWN_BAD_STATUS = ("known-bad", "reported")
KNOWN_BAD_CLASSES = ("mislabelled-wheel", "abi", "api", "triton", "jax", "bitsandbytes", "xformers-fa3", "vllm",
                     "cuda-runtime", "other")


def _check_known_bad_keys(rel: str, key: str, rec: Mapping[str, Any]) -> Iterable[Problem]:
    """Types of the optional [[combination]] keys: status, class, labels, torch_variant, platform, gpu, alternative."""
    from attnlock.database.store import Problem

    if "status" in rec and rec["status"] not in KNOWN_BAD_STATUS:
        yield Problem(rel, f"{key}.status", f"must be one of {', '.join(KNOWN_BAD_STATUS)}")
    if "class" in rec and rec["class"] not in KNOWN_BAD_CLASSES:
        yield Problem(rel, f"{key}.class", f"must be one of {', '.join(KNOWN_BAD_CLASSES)}")
    for table in ("labels", "alternative"):
        value = rec.get(table)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            yield Problem(rel, f"{key}.{table}", "must be a table of package = string")
            continue
        for name, text in value.items():
            if canonical(name) != name:
                yield Problem(rel, f"{key}.{table}.{name}", f"name is not canonical (write {canonical(name)})")
            if table == "labels" and text != text.lower():
                yield Problem(rel, f"{key}.labels.{name}", "local labels compare lowercased: write the glob lowercase")
            if table == "alternative":
                try:
                    _as_spec(text)
                except InvalidSpecifier:
                    yield Problem(rel, f"{key}.alternative.{name}", f"malformed specifier {text!r}")
    for listed in ("torch_variant", "platform"):
        value = rec.get(listed)
        if value is not None and not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            yield Problem(rel, f"{key}.{listed}", "must be a non-empty list of strings")
    for label in rec.get("torch_variant") or []:
        if isinstance(label, str):
            try:
                CudaVariant.parse(label)
            except UsageError:
                yield Problem(rel, f"{key}.torch_variant", f"unknown variant label {label!r}")
    gpu = rec.get("gpu")
    if gpu is not None:
        try:
            SpecifierSet(str(gpu))
        except InvalidSpecifier:
            yield Problem(rel, f"{key}.gpu", f"malformed capability range {gpu!r}")


def _check_known_bad_errors(rel: str, known_bad: Mapping[str, Any], signatures: Mapping[str, Any]) -> Iterable[Problem]:
    """Every known-bad record's ``error`` is recognised by at least one signature pattern."""
    from attnlock.database.store import Problem

    patterns = []
    for sig in _records(signatures, "signature"):
        try:
            patterns.append(re.compile(str(sig.get("pattern")), re.M))
        except re.error:
            continue  # reported against signatures.toml
    for i, rec in enumerate(_records(known_bad, "combination")):
        error = rec.get("error")
        key = f"combination[{i}] ({rec.get('id')})"
        if not isinstance(error, str) or not error:
            yield Problem(rel, f"{key}.error", "a known-bad combination needs the verbatim error text")
        elif not any(rx.search(error) for rx in patterns):
            yield Problem(rel, f"{key}.error", "no signature in signatures.toml recognises this error")


def _check_derived(path: Path, rel: str) -> Iterable[Problem]:
    from attnlock.database.store import Problem

    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, ValueError) as exc:
        yield Problem(rel, "-", f"does not parse as JSON: {exc}")
        return
    if _HOSTS_FORBIDDEN.search(text):
        yield Problem(rel, "-", "names a registry host: derived data names files, not URLs")
    if not isinstance(raw, dict):
        yield Problem(rel, "-", "top level must be an object")
        return
    if raw.get("schema") != 1:
        yield Problem(rel, "schema", f"unsupported schema {raw.get('schema')!r} (expected 1)")
    if raw.get("package") != path.stem:
        yield Problem(rel, "package", f"{raw.get('package')!r} does not match the file name {path.stem!r}")
    if not _is_date(raw.get("checked")):
        yield Problem(rel, "checked", "missing or not a date")
    releases = raw.get("releases")
    if not isinstance(releases, dict):
        yield Problem(rel, "releases", "must be an object of version -> release")
        return
    previous: Version | None = None
    for vtext, release in releases.items():
        key = f"releases.{vtext}"
        try:
            v = Version(vtext)
        except InvalidVersion:
            yield Problem(rel, key, "not a PEP 440 version")
            continue
        if previous is not None and v <= previous:
            yield Problem(rel, key, f"not in ascending order (after {previous})")
        previous = v
        if not isinstance(release, dict):
            yield Problem(rel, key, "must be an object")
            continue
        files = release.get("files", {})
        if not isinstance(files, dict):
            yield Problem(rel, f"{key}.files", "must be an object of file name -> facts")
            files = {}
        rp = release.get("requires_python")
        if isinstance(rp, str) and rp.strip():
            try:
                SpecifierSet(rp)
            except InvalidSpecifier:
                yield Problem(rel, f"{key}.requires_python", f"malformed specifier {rp!r}")
        for i, meta in enumerate(release.get("metadata", []) or []):
            mkey = f"{key}.metadata[{i}]"
            if not isinstance(meta, dict):
                yield Problem(rel, mkey, "must be an object")
                continue
            src = meta.get("source")
            if not isinstance(src, str) or (files and src not in files):
                yield Problem(rel, f"{mkey}.source", f"{src!r} is not a file of this release")
            for req in meta.get("requires_dist", []) or []:
                try:
                    Requirement(req)
                except (InvalidRequirement, TypeError):
                    yield Problem(rel, f"{mkey}.requires_dist", f"malformed requirement {req!r}")
        for fname in (release.get("build_info") or {}):
            if files and fname not in files:
                yield Problem(rel, f"{key}.build_info", f"{fname!r} is not a file of this release")
