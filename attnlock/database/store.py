"""Lazy, typed access to the files under data/ (derived JSON, curated TOML)."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.errors import DataError, UsageError
from attnlock.database.records import (
    INDEX_VERSION,
    FileInfo,
    FlashAttnWheel,
    Gpu,
    MetadataRecord,
    Problem,
    Release,
    Toolkit,
    TorchVariants,
    marker_holds,
    requires_dist_index,
    specifier_set,
    target_environment,
)
from attnlock.database import compiled
from attnlock.database.compiled import cache_dir
from attnlock.model import ComputeCapability, CudaVariant, Platform, canonical

DATA_ENV = "ATTNLOCK_DATA_DIR"


def data_dir() -> Path:
    """Where data/ is: ``$ATTNLOCK_DATA_DIR``, the wheel's ``attnlock/data``, or the checkout's ``data/``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent  # attnlock/
    shipped = here / "data"
    if shipped.is_dir():
        return shipped
    return here.parent / "data"


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Database:
    return Database(Path(path))


def load(path: str | os.PathLike[str] | None = None) -> Database:
    """The database at ``path`` (default :func:`data_dir`); files are read on first use."""
    return _load_cached(str(Path(path) if path is not None else data_dir()))


# ------------------------------------------------------------------ database


class Database:
    """The database at one path.  Files are read lazily and once; parse errors raise DataError."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._derived: dict[str, dict[str, Any] | None] = {}
        self._indexes: dict[str, Mapping[str, Any]] = {}
        self._curated: dict[str, dict[str, Any] | None] = {}
        self._releases: dict[str, tuple[Release, ...]] = {}
        self._by_version: dict[str, dict[Version, Release]] = {}

    # -- raw files ----------------------------------------------------------

    def _derived_path(self, name: str) -> Path:
        return self.root / "derived" / f"{canonical(name)}.json"

    def derived_raw(self, name: str) -> dict[str, Any] | None:
        key = canonical(name)
        if key not in self._derived:
            path = self._derived_path(key)
            try:
                doc, self._indexes[key], _version = compiled.read(self.root, f"derived/{key}.json",
                                                                  parse_derived, _derived_shape)
                self._derived[key] = doc
            except FileNotFoundError:
                self._derived[key] = None
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read derived data: {exc}", path=str(path),
                                hint="run `attnlock db validate`; regenerate with `attnlock db refresh`") from exc
        return self._derived[key]

    def curated_raw(self, stem: str) -> dict[str, Any]:
        if stem not in self._curated:
            path = self.root / "curated" / f"{stem}.toml"
            try:
                self._curated[stem] = compiled.read(self.root, f"curated/{stem}.toml", parse_toml, _curated_shape)
            except FileNotFoundError:
                self._curated[stem] = None
            except (OSError, ValueError) as exc:  # ValueError: TOMLDecodeError, UnicodeDecodeError
                raise DataError(f"cannot read curated data: {exc}", path=str(path),
                                hint="fix the TOML by hand; `attnlock db validate` names the problem") from exc
        return self._curated[stem] or {}

    def curated_records(self, stem: str, table: str) -> list[dict[str, Any]]:
        """The records of ``[[table]]`` in ``data/curated/<stem>.toml`` (empty if absent)."""
        value = self.curated_raw(stem).get(table, [])
        return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []

    def packages(self) -> list[str]:
        d = self.root / "derived"
        return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []

    def curated_files(self) -> list[str]:
        d = self.root / "curated"
        return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []

    # -- derived ------------------------------------------------------------

    def releases(self, name: str) -> tuple[Release, ...]:
        """Every release of ``name`` the database knows, ascending; () when unknown."""
        key = canonical(name)
        if key not in self._releases:
            raw = self.derived_raw(key)
            self._releases[key] = tuple(_parse_releases(key, raw, self._indexes.get(key, {}))) if raw else ()
        return self._releases[key]

    def release(self, name: str, version: Version | str) -> Release | None:
        v = version if isinstance(version, Version) else Version(version)
        key = canonical(name)
        index = self._by_version.get(key)
        if index is None:
            # Equal versions (1.0 and 1.0.0) keep the first, as the linear scan did.
            index = {}
            for rel in self.releases(key):
                index.setdefault(rel.version, rel)
            self._by_version[key] = index
        found = index.get(v)
        if found is not None:
            return found
        # A local label (2.3.1+cu121) names a build of the public release.
        if v.local is not None:
            return self.release(name, v.public)
        return None

    def checked(self, name: str) -> str | None:
        raw = self.derived_raw(name)
        return str(raw.get("checked")) if raw else None

    # -- torch --------------------------------------------------------------

    def torch_variants(self, version: Version) -> TorchVariants | None:
        rec = _find_by_spec(self.curated_records("torch", "variants"), "torch", version)
        if rec is None:
            return None
        pypi = rec.get("pypi")
        by_platform = rec.get("pypi_by_platform")
        return TorchVariants(
            pypi=CudaVariant.parse(pypi) if isinstance(pypi, str) and pypi != "unknown" else None,
            index=tuple(CudaVariant.parse(v) for v in rec.get("variants", []) if isinstance(v, str)),
            source=_source_text(rec),
            pypi_by_platform={str(k): (CudaVariant.parse(v) if v != "unknown" else None)
                              for k, v in by_platform.items() if isinstance(v, str)}
            if isinstance(by_platform, dict) else {},
            index_known="variants" in rec,
        )

    def torch_abi(self, version: Version, platform: Platform, index: str = "pypi") -> bool | None:
        for rec in self.curated_records("torch", "abi"):
            if rec.get("platform", str(platform)) != str(platform) or rec.get("index", index) != index:
                continue
            if _spec_contains(rec.get("torch"), version):
                abi = rec.get("cxx11abi")
                return abi if isinstance(abi, bool) else None
        return None

    def torch_arch_list(self, version: Version, variant: CudaVariant) -> tuple[ComputeCapability, ...] | None:
        for rec in self.curated_records("torch", "arch_list"):
            if rec.get("variant") == variant.label and _spec_contains(rec.get("torch"), version):
                return tuple(ComputeCapability.parse(a) for a in rec.get("archs", []) if isinstance(a, str)
                             and re.fullmatch(r"sm_?\d+[af]?|\d+\.\d", a))
        return None

    # -- cuda ---------------------------------------------------------------

    def toolkits(self) -> tuple[Toolkit, ...]:
        out = []
        for rec in self.curated_records("cuda", "toolkit"):
            try:
                out.append(Toolkit(
                    version=Version(str(rec["version"])),
                    linux_driver_min=_opt_version(rec.get("linux_driver_min")),
                    windows_driver_min=_opt_version(rec.get("windows_driver_min")),
                    linux_driver_min_compat=_opt_version(rec.get("linux_driver_min_compat")),
                    archs=tuple(ComputeCapability.parse(a) for a in rec.get("archs", []) if isinstance(a, str)),
                    source=_source_text(rec),
                ))
            except (KeyError, InvalidVersion, ValueError, UsageError):
                continue  # db validate reports it
        return tuple(sorted(out, key=lambda t: t.version))

    def toolkit(self, version: Version) -> Toolkit | None:
        want = Version(f"{version.major}.{version.minor}")
        for tk in self.toolkits():
            if tk.version == want:
                return tk
        return None

    def cuda_max_for_driver(self, driver: Version, os_name: str = "linux", *, compat: bool = False) -> Version | None:
        """The newest CUDA toolkit whose driver floor ``driver`` meets (with ``compat``: minor-version compatibility)."""
        best: Version | None = None
        for tk in self.toolkits():
            if os_name == "windows":
                floor = tk.windows_driver_min
            elif compat:
                floor = tk.linux_driver_min_compat or tk.linux_driver_min
            else:
                floor = tk.linux_driver_min
            if floor is not None and driver >= floor:
                best = tk.version if best is None or tk.version > best else best
        return best

    # -- gpus ---------------------------------------------------------------

    def gpus(self) -> tuple[Gpu, ...]:
        out = []
        for rec in self.curated_records("gpus", "gpu"):
            try:
                out.append(Gpu(
                    name=str(rec["name"]),
                    compute_capability=ComputeCapability.parse(str(rec["compute_capability"])),
                    aliases=tuple(str(a) for a in rec.get("aliases", [])),
                    source=_source_text(rec),
                ))
            except (KeyError, ValueError, UsageError):
                continue
        return tuple(out)

    def gpu(self, text: str) -> Gpu | None:
        """A GPU by capability (``sm_80``, ``8.0``), by name or alias ("T4", "NVIDIA A100-SXM4-80GB")."""
        raw = text.strip()
        if re.fullmatch(r"(?i)(sm_?|compute_)?\d{1,2}\.?\d[af]?", raw) and not re.fullmatch(r"\d{2,4}", raw):
            cc = ComputeCapability.parse(raw)
            return Gpu(name=str(cc), compute_capability=cc)
        norm = _norm_gpu(raw)
        gpus = self.gpus()
        for g in gpus:
            if norm == _norm_gpu(g.name) or any(norm == _norm_gpu(a) for a in g.aliases):
                return g
        # nvidia-smi adds memory and form factor ("NVIDIA A100-SXM4-80GB"): the longest
        # known name contained in it wins.
        best: tuple[int, Gpu] | None = None
        for g in gpus:
            for cand in (g.name, *g.aliases):
                c = _norm_gpu(cand)
                if c and re.search(rf"(^|\s){re.escape(c)}(\s|$)", norm):
                    if best is None or len(c) > best[0]:
                        best = (len(c), g)
        return best[1] if best else None

    # -- kernels ------------------------------------------------------------


    def flash_attn_wheels(self, package: str = "flash-attn", version: Version | None = None) -> list[FlashAttnWheel]:
        """The prebuilt wheels of flash-attn releases, expanded from the curated matrix."""
        out: list[FlashAttnWheel] = []
        for rec in self.curated_records("flash_attn", "release"):
            if canonical(str(rec.get("package", "flash-attn"))) != canonical(package):
                continue
            try:
                v = Version(str(rec["version"]))
            except (KeyError, InvalidVersion):
                continue
            if version is not None and v != version:
                continue
            out.extend(_expand_flash_attn(rec, v, canonical(package)))
        return out

    def index_url(self, variant: CudaVariant | str, name: str = "pytorch") -> str | None:
        """The URL of the ``name`` wheel index serving ``variant`` builds (``torch.toml [[index]] url_template``)."""
        label = variant.label if isinstance(variant, CudaVariant) else str(variant)
        raw = self.curated_raw("torch").get("index")
        records = [raw] if isinstance(raw, dict) else [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
        for rec in records:
            tpl = rec.get("url_template")
            if rec.get("name", "pytorch") == name and isinstance(tpl, str):
                return tpl.format(variant=label)
        return None

    def flash_attn_wheels_for(self, package: str, platform: str | None, python: str | None,
                              torch_minors: frozenset[str] | None = None) -> list[FlashAttnWheel]:
        """:meth:`flash_attn_wheels` for one platform (``linux-x86_64``), cp tag and torch minors
        (``"2.3"``), expanding only those."""
        out: list[FlashAttnWheel] = []
        for rec in self.curated_records("flash_attn", "release"):
            if canonical(str(rec.get("package", "flash-attn"))) != canonical(package):
                continue
            try:
                v = Version(str(rec["version"]))
            except (KeyError, InvalidVersion):
                continue
            narrowed = dict(rec)
            if python is not None:
                narrowed["python"] = [p for p in rec.get("python", []) if p == python]
            if platform is not None:
                narrowed["platforms"] = [p for p in rec.get("platforms", ["linux-x86_64"]) if p == platform]
            if torch_minors is not None:
                narrowed["torch"] = [t for t in rec.get("torch", []) if str(t) in torch_minors]
            out.extend(_expand_flash_attn(narrowed, v, canonical(package)))
        return out


    def signatures(self) -> list[dict[str, Any]]:
        return self.curated_records("signatures", "signature")

    # -- validation ---------------------------------------------------------

    def validate(self) -> list[Problem]:
        """Check every file; return the problems (empty when the database is sound)."""
        from attnlock.database.validate import validate

        return validate(self)


# ------------------------------------------------------------------ helpers


def parse_derived(raw: bytes) -> tuple[dict[str, Any], dict[str, list[Any]], int]:
    """A derived file's JSON, per release the index of each METADATA record's Requires-Dist
    (:func:`~attnlock.database.records.requires_dist_index`) and the version of the code that made
    it (INDEX_VERSION): what the compiled entry stores, so a resolution reads the handful of strings
    that apply instead of screening every one."""
    import json

    doc = json.loads(raw)
    if not isinstance(doc, dict):
        # a ValueError, as JSONDecodeError is: bad data, which derived_raw reports as a DataError
        raise ValueError(f"the file holds a JSON {type(doc).__name__}, not an object")  # noqa: TRY004
    indexes: dict[str, list[Any]] = {}
    releases = doc.get("releases")
    if isinstance(releases, dict):
        for vtext, rel in releases.items():
            meta = rel.get("metadata") if isinstance(rel, dict) else None
            if isinstance(meta, list):
                indexes[vtext] = [requires_dist_index(m["requires_dist"])
                                  if isinstance(m, dict) and _strings(m.get("requires_dist")) else None for m in meta]
    return doc, indexes, INDEX_VERSION


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse_toml(raw: bytes) -> dict[str, Any]:
    """A curated file's tables (tomllib; tomli before Python 3.11), imported only on a compiled entry's miss."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    data: dict[str, Any] = tomllib.loads(raw.decode())
    return data


def _derived_shape(value: object) -> bool:
    """(doc, indexes, INDEX_VERSION): an entry indexed by other code is a miss."""
    return (isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], dict)
            and isinstance(value[1], dict) and value[2] == INDEX_VERSION)


def _curated_shape(value: object) -> bool:
    return isinstance(value, dict)


PARSERS = {".json": parse_derived, ".toml": parse_toml}
# What a compiled entry's payload must look like to be used (compiled.read): what the parser returns.
SHAPES = {".json": _derived_shape, ".toml": _curated_shape}


def _norm_gpu(text: str) -> str:
    t = text.lower().replace("-", " ").replace("_", " ")
    t = re.sub(r"\b(nvidia|tesla|geforce)\b", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def _opt_version(value: object) -> Version | None:
    if value is None or value == "unknown":
        return None
    return Version(str(value))


def _source_text(rec: Mapping[str, Any], key: str = "source") -> str:
    src = rec.get(key)
    if isinstance(src, list):
        return " ".join(str(s) for s in src)
    return str(src) if src is not None else ""


def _spec_contains(spec: object, version: Version) -> bool:
    if not isinstance(spec, str):
        return False
    parsed = _curated_spec(spec)
    if parsed is None:
        return False
    return parsed == version if isinstance(parsed, Version) else parsed.contains(version, prereleases=True)


@functools.lru_cache(maxsize=1024)
def _curated_spec(spec: str) -> Version | SpecifierSet | None:
    """A curated record's torch field: a bare version or a range, parsed once (None: malformed)."""
    try:
        if re.fullmatch(r"\s*\d[\w.+!]*\s*", spec):
            return Version(spec)
        return SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return None


def _find_by_spec(records: list[dict[str, Any]], key: str, version: Version) -> dict[str, Any] | None:
    v = Version(version.public)
    for rec in records:
        if _spec_contains(rec.get(key), v):
            return rec
    return None


def _scan(combo: Mapping[str, object], rules: list[dict[str, Any]]) -> bool:
    return any(all(combo.get(k) == v for k, v in e.items()) for e in rules)


def _expand_flash_attn(rec: Mapping[str, Any], version: Version, package: str) -> Iterator[FlashAttnWheel]:
    template = rec.get("url_template")
    if not isinstance(template, str):
        return
    # The excluded combinations, grouped by the keys they name: a combination is excluded when its
    # values on some group's keys are one of that group's (a set look-up, not a scan of every rule).
    # A rule or combination holding a list or table (malformed data) is compared as before, by ==.
    rules = [e for e in rec.get("exclude", []) if isinstance(e, dict)]
    excluded: dict[tuple[str, ...], set[tuple[object, ...]]] = {}
    scanned: list[dict[str, Any]] = []
    for e in rules:
        keys = tuple(sorted(e))
        try:
            excluded.setdefault(keys, set()).add(tuple(e[k] for k in keys))
        except TypeError:
            scanned.append(e)
    platforms = rec.get("platforms", ["linux-x86_64"])
    for torch in rec.get("torch", []):
        for cuda in rec.get("cuda", []):
            for abi in rec.get("cxx11abi", []):
                for py in rec.get("python", []):
                    for plat in platforms:
                        combo = {"torch": torch, "cuda": cuda, "cxx11abi": abi, "python": py, "platform": plat}
                        try:
                            hit = any(tuple(combo.get(k) for k in keys) in values for keys, values in excluded.items())
                        except TypeError:
                            hit = _scan(combo, rules)
                        if hit or (scanned and _scan(combo, scanned)):
                            continue
                        cuda_s = str(cuda)
                        url = template.format(
                            version=str(version), cuda=cuda_s, cuda_digits=cuda_s.removeprefix("cu"),
                            torch=str(torch), abi="TRUE" if abi else "FALSE", python=str(py), py=str(py),
                        )
                        yield FlashAttnWheel(package, version, str(torch), cuda_s, bool(abi), str(py), str(plat),
                                             url, _source_text(rec))


def _parse_releases(package: str, raw: Mapping[str, Any], indexes: Mapping[str, Any]) -> Iterator[Release]:
    releases = raw.get("releases", {})
    if not isinstance(releases, dict):
        return
    items = []
    for vtext, rel in releases.items():
        try:
            items.append((Version(vtext), vtext, rel))
        except InvalidVersion:
            continue
    items.sort(key=lambda item: item[0])
    for version, vtext, rel in items:
        if not isinstance(rel, dict):
            continue
        rp = rel.get("requires_python")
        try:
            spec = specifier_set(rp) if isinstance(rp, str) and rp.strip() else None
        except InvalidSpecifier:
            spec = None
        files_raw = rel.get("files", {})
        meta = rel.get("metadata", [])
        index = indexes.get(vtext)
        metadata = tuple(
            MetadataRecord(
                source=str(m.get("source", "")),
                platforms=tuple(m.get("platforms", ())),
                requires_dist=tuple(m.get("requires_dist", ())),
                requires_python=m.get("requires_python"),
                index=index[i] if isinstance(index, list) and i < len(index) else None,
            )
            for i, m in enumerate(meta if isinstance(meta, list) else []) if isinstance(m, dict) and "requires_dist" in m
        )
        build_info = rel.get("build_info", {})
        members = rel.get("members", {})
        yield Release(
            package=package, version=version, yanked=bool(rel.get("yanked", False)), requires_python=spec,
            files_raw=files_raw if isinstance(files_raw, dict) else {}, metadata=metadata,
            build_info=build_info if isinstance(build_info, dict) else {},
            upload_time=rel.get("upload_time"),
            members={fn: tuple(str(n) for n in names) for fn, names in members.items() if isinstance(names, list)}
            if isinstance(members, dict) else {},
        )


__all__ = ["DATA_ENV", "Database", "FileInfo", "FlashAttnWheel", "Gpu", "MetadataRecord", "Problem", "Release", "Toolkit",
           "TorchVariants", "cache_dir", "data_dir", "load", "marker_holds", "target_environment"]
