"""Lazy, typed access to the files under data/ (derived JSON, curated TOML)."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from attnlock.errors import DataError, UsageError
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, canonical

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


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Problem:
    """One thing ``db validate`` found wrong: the file, the key, what is wrong."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


@dataclass(frozen=True)
class FileInfo:
    """A distribution file of a release as the index lists it."""

    filename: str
    size: int | None = None
    sha256: str | None = None
    requires_python: str | None = None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @functools.cached_property
    def tags(self) -> frozenset[Tag]:
        """The wheel's tags; empty for an sdist or an unparsable name."""
        if not self.is_wheel:
            return frozenset()
        try:
            return parse_wheel_filename(self.filename)[3]
        except InvalidWheelFilename:
            return frozenset()

    def runs_on(self, platform: Platform | None, python: PythonVersion | None) -> bool:
        """Whether this wheel installs on ``platform`` under CPython ``python`` (None = any)."""
        if not self.is_wheel:
            return False
        for tag in self.tags:
            if platform is not None and not platform.matches_wheel_platform(tag.platform):
                continue
            if python is not None and not _python_tag_ok(tag, python):
                continue
            return True
        return False


def _python_tag_ok(tag: Tag, python: PythonVersion) -> bool:
    interp, abi = tag.interpreter, tag.abi
    m = re.fullmatch(r"(cp|py)(\d)(\d*)", interp)
    if not m:
        return False
    kind, major, minor = m.group(1), int(m.group(2)), m.group(3)
    if major != python.major:
        return False
    if kind == "cp" and abi != "abi3":
        if abi.endswith("t"):  # free-threaded builds are not a CPython X.Y default interpreter
            return False
        # cp310-cp310 and cp310-none (torch's macOS wheels): that CPython only, as packaging's
        # cpython_tags() list them (cpXY-none only for the running XY).
        return minor != "" and int(minor) == python.minor
    if minor == "":
        return True
    # cp39-abi3 / py39-none: that Python or newer.
    return int(minor) <= python.minor


# The leading project name of a Requires-Dist string (PEP 508), read without parsing it.
_REQ_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
# A marker that is exactly ``extra == "X"`` at the end of a string with no URL: true only when X is
# asked for, so such a line needs no parsing when it is not (unsloth lists ~450 of them per release).
_ONLY_EXTRA = re.compile(r"""^[^@;]*;\s*extra\s*==\s*(?:"([^"]*)"|'([^']*)')\s*$""")
# ``M and extra == "X"``: false without X as long as M has no top-level ``or`` (``and`` binds tighter).
_AND_EXTRA = re.compile(r"""^[^@;]*;(.*)\band\s+extra\s*==\s*(?:"([^"]*)"|'([^']*)')\s*$""", re.DOTALL)
_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")
_GROUP = re.compile(r"\([^()]*\)")
_OR = re.compile(r"\bor\b")


def _extra_required(text: str) -> tuple[str | None, bool]:
    """(the extra a Requires-Dist string's marker requires, whether that is all the marker says), read without parsing.

    (None, False) when the marker does not plainly require one extra; parsing then decides.
    """
    m = _ONLY_EXTRA.match(text)
    if m:
        return canonical(m.group(1) if m.group(1) is not None else m.group(2)), True
    m = _AND_EXTRA.match(text)
    if m is None:
        return None, False
    rest = _QUOTED.sub("", m.group(1))
    while True:  # drop parenthesised groups, innermost first: what remains is the top level
        inner = _GROUP.sub("", rest)
        if inner == rest:
            break
        rest = inner
    if _OR.search(rest):
        return None, False
    return canonical(m.group(2) if m.group(2) is not None else m.group(3)), False


@functools.lru_cache(maxsize=16384)
def _screen_line(text: str) -> tuple[str | None, str | None, bool]:
    """A Requires-Dist string's canonical leading name (None if unreadable), the extra its marker
    requires and whether that is the whole marker (:func:`_extra_required`); memoised, as releases
    repeat their lines (unsloth: 88,882 strings, 1,643 distinct)."""
    m = _REQ_NAME.match(text)
    extra, whole = _extra_required(text) if "extra" in text else (None, False)
    return (canonical(m.group(1)) if m else None, extra, whole)


@functools.lru_cache(maxsize=8192)
def _parse_requirement(text: str) -> Requirement | None:
    """``Requirement(text)``, or None when invalid; memoised (releases repeat their lines)."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None  # db validate reports it


@dataclass(frozen=True)
class MetadataRecord:
    """Requires-Dist / Requires-Python read from one wheel, standing for some platform families.

    Strings are parsed lazily, one at a time, and each at most once per record, so asking for
    the requirements on one package or without extras parses only the lines that can apply.
    """

    source: str
    platforms: tuple[str, ...]
    requires_dist: tuple[str, ...]
    requires_python: str | None = None

    @functools.cached_property
    def _screen(self) -> tuple[tuple[str | None, str | None, bool], ...]:
        """Per string: what :func:`_screen_line` reads from it."""
        return tuple(map(_screen_line, self.requires_dist))

    @functools.cached_property
    def _objects(self) -> dict[int, Requirement | None]:
        return {}

    def _requirement(self, i: int) -> Requirement | None:
        cache = self._objects
        if i not in cache:
            cache[i] = _parse_requirement(self.requires_dist[i])
        return cache[i]

    @functools.cached_property
    def parsed(self) -> tuple[Requirement, ...]:
        """Every valid Requires-Dist entry (invalid ones are left to ``db validate``)."""
        return tuple(r for i in range(len(self.requires_dist)) if (r := self._requirement(i)) is not None)

    def applicable(self, env: Mapping[str, str], extras: Iterable[str] = (),
                   name: str | None = None) -> tuple[Requirement, ...]:
        """The entries whose marker holds in ``env`` (with any of ``extras``), optionally only those naming ``name``.

        Strings are screened before parsing: by their leading name when ``name`` is given, and a
        marker that requires an extra (``extra == "X"``, ``M and extra == "X"``) is false without
        parsing when that extra is not asked for.
        """
        want = canonical(name) if name is not None else None
        asked = {""} | {canonical(e) for e in extras}
        out = []
        for i, (lead, extra, whole) in enumerate(self._screen):
            if want is not None and lead is not None and lead != want:
                continue
            if extra is not None and extra not in asked:
                continue
            req = self._requirement(i)
            if req is None:
                continue
            if want is not None and canonical(req.name) != want:
                continue
            if not whole and not marker_holds(req.marker, env, extras):
                continue
            out.append(req)
        return tuple(out)


def target_environment(platform: Platform | None, python: PythonVersion | None) -> dict[str, str]:
    """A full PEP 508 marker environment for a target (linux-x86_64 / 3.12 where unknown)."""
    return dict(_target_environment(platform, python))


@functools.lru_cache(maxsize=256)
def _target_environment(platform: Platform | None, python: PythonVersion | None) -> dict[str, str]:
    plat = platform or Platform("linux", "x86_64")
    py = python or PythonVersion(3, 12)
    env = {
        "implementation_name": "cpython",
        "implementation_version": f"{py.major}.{py.minor}.0",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "python_version": f"{py.major}.{py.minor}",
        "python_full_version": f"{py.major}.{py.minor}.0",
        "extra": "",
    }
    env.update(plat.marker_environment())
    return env


def marker_holds(marker: Marker | None, env: Mapping[str, str], extras: Iterable[str] = ()) -> bool:
    """Evaluate a requirement marker for ``env``; with ``extras``, true if any extra makes it true."""
    if marker is None:
        return True
    choices = [""] + [canonical(e) for e in extras]
    for extra in choices:
        e = dict(env)
        e["extra"] = extra
        try:
            if marker.evaluate(e):
                return True
        except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker):
            return False
    return False


@dataclass(frozen=True)
class Release:
    """One release of a package on the index, with what its files' metadata say."""

    package: str
    version: Version
    yanked: bool
    requires_python: SpecifierSet | None
    files: tuple[FileInfo, ...]
    metadata: tuple[MetadataRecord, ...]
    build_info: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    upload_time: str | None = None

    def wheels(self) -> tuple[FileInfo, ...]:
        return tuple(f for f in self.files if f.is_wheel)

    def has_wheel_for(self, platform: Platform | None, python: PythonVersion | None) -> bool:
        return any(f.runs_on(platform, python) for f in self.files)

    def python_ok(self, python: PythonVersion | None) -> bool:
        if python is None or self.requires_python is None:
            return True
        return self.requires_python.contains(Version(f"{python.major}.{python.minor}.0"), prereleases=True)

    def metadata_for(self, platform: Platform | None) -> MetadataRecord | None:
        """The METADATA record read from a wheel of ``platform``'s family, else the best stand-in."""
        if not self.metadata:
            return None
        key = str(platform) if platform is not None else "linux-x86_64"
        for rec in self.metadata:
            if key in rec.platforms:
                return rec
        for rec in self.metadata:
            if "any" in rec.platforms:
                return rec
        for rec in self.metadata:
            if "linux-x86_64" in rec.platforms:
                return rec
        return self.metadata[0]

    def requirements(
        self,
        platform: Platform | None = None,
        python: PythonVersion | None = None,
        extras: Iterable[str] = (),
    ) -> tuple[Requirement, ...]:
        """Requires-Dist that applies on the target (markers judged for it)."""
        rec = self.metadata_for(platform)
        if rec is None:
            return ()
        return rec.applicable(_target_environment(platform, python), tuple(extras))

    def requirement_on(self, name: str, platform: Platform | None = None,
                       python: PythonVersion | None = None) -> Requirement | None:
        """The Requires-Dist entry naming ``name`` on the target, if any."""
        rec = self.metadata_for(platform)
        if rec is None:
            return None
        found = rec.applicable(_target_environment(platform, python), (), name=name)
        return found[0] if found else None


@dataclass(frozen=True)
class Gpu:
    """A GPU model and its compute capability."""

    name: str
    compute_capability: ComputeCapability
    aliases: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Toolkit:
    """A CUDA toolkit release: driver floors and targetable architectures."""

    version: Version
    linux_driver_min: Version | None
    windows_driver_min: Version | None
    linux_driver_min_compat: Version | None
    archs: tuple[ComputeCapability, ...]
    source: str


@dataclass(frozen=True)
class TorchVariants:
    """Which builds of a torch release exist: PyPI default and PyTorch-index labels."""

    pypi: CudaVariant | None
    index: tuple[CudaVariant, ...]
    source: str
    pypi_by_platform: Mapping[str, CudaVariant | None] = field(default_factory=dict)  # None: "unknown"


@dataclass(frozen=True)
class KnownBad:
    """A human judgement: these releases together are broken, with evidence."""

    id: str
    packages: Mapping[str, SpecifierSet]
    gpu: SpecifierSet | None
    reason: str
    error: str
    fix: str
    evidence: str
    unless: Mapping[str, SpecifierSet] = field(default_factory=dict)

    def excused(self, versions: Mapping[str, Version]) -> bool:
        """True when a package named in ``unless`` is present at a matching version (the pair then works)."""
        return any(name in versions and spec.contains(versions[name], prereleases=True)
                   for name, spec in self.unless.items())

    def matches(self, versions: Mapping[str, Version], gpu: ComputeCapability | None = None) -> bool:
        """True when every named package is present at a matching version (and the GPU matches),
        and no ``unless`` package excuses the combination."""
        if self.excused(versions):
            return False
        for name, spec in self.packages.items():
            v = versions.get(name)
            if v is None or not spec.contains(v, prereleases=True):
                return False
        if self.gpu is not None:
            if gpu is None or not self.gpu.contains(Version(gpu.dotted), prereleases=True):
                return False
        return True


@dataclass(frozen=True)
class FlashAttnWheel:
    """One prebuilt flash-attn wheel published outside the package index."""

    package: str
    version: Version
    torch_minor: str  # "2.3"
    cuda: str  # as in the file name: "cu122", "cu12"
    cxx11abi: bool
    python: str  # "cp310"
    platform: str  # "linux-x86_64"
    url: str
    source: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def local_label(self) -> str:
        return f"{self.cuda}torch{self.torch_minor}cxx11abi{'TRUE' if self.cxx11abi else 'FALSE'}"


# ------------------------------------------------------------------ database


class Database:
    """The database at one path.  Files are read lazily and once; parse errors raise DataError."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._derived: dict[str, dict[str, Any] | None] = {}
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
                with open(path, "rb") as fh:
                    self._derived[key] = json.load(fh)
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
                self._curated[stem] = _load_toml(path)
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
            self._releases[key] = tuple(_parse_releases(key, raw)) if raw else ()
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

    def xformers_index_builds(self, version: Version) -> list[tuple[Version, tuple[CudaVariant, ...], str]]:
        """PyTorch-index builds of an xformers release: (torch version, variants, source)."""
        out = []
        for rec in self.curated_records("xformers", "index_builds"):
            if _spec_contains(rec.get("xformers"), version) and isinstance(rec.get("torch"), str):
                try:
                    torch = Version(rec["torch"])
                except InvalidVersion:
                    continue
                variants = tuple(CudaVariant.parse(v) for v in rec.get("variants", []) if isinstance(v, str))
                out.append((torch, variants, _source_text(rec)))
        return out

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

    def known_bad(self) -> tuple[KnownBad, ...]:
        out = []
        for rec in self.curated_records("known_bad", "combination"):
            try:
                pk = {canonical(k): SpecifierSet(str(s) if s != "*" else "") for k, s in rec["packages"].items()}
                gpu = rec.get("gpu")
                unless = {canonical(k): SpecifierSet(str(s) if s != "*" else "")
                          for k, s in (rec.get("unless") or {}).items()}
                out.append(KnownBad(
                    id=str(rec["id"]), packages=pk, gpu=SpecifierSet(gpu) if isinstance(gpu, str) else None,
                    reason=str(rec.get("reason", "")), error=str(rec.get("error", "")),
                    fix=str(rec.get("fix", "")), evidence=_source_text(rec, "evidence"), unless=unless,
                ))
            except (KeyError, AttributeError, InvalidSpecifier):
                continue
        return tuple(out)

    def signatures(self) -> list[dict[str, Any]]:
        return self.curated_records("signatures", "signature")

    # -- validation ---------------------------------------------------------

    def validate(self) -> list[Problem]:
        """Check every file; return the problems (empty when the database is sound)."""
        from attnlock.database.validate import validate

        return validate(self)


# ------------------------------------------------------------------ TOML cache
#
# tomllib takes ~15 ms for flash_attn.toml alone (the whole load budget is 30 ms); the JSON
# rendering of the same tables loads in ~0.5 ms.  The TOML stays the source of truth: the cache
# lives in the user's cache directory, an entry is used only when the file's size, mtime and
# SHA-256 all match the ones it was made from, and any problem with it means parsing the TOML.

CACHE_FORMAT = 1
_CACHE_MIN_BYTES = 8 * 1024  # smaller files parse in about a millisecond: not worth an entry
_CACHE_MAX_ENTRIES = 64


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/attnlock`` (an absolute path), else ``~/.cache/attnlock``; None without a home."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "attnlock"
    try:
        return Path.home() / ".cache" / "attnlock"
    except (RuntimeError, KeyError):
        return None


def _load_toml(path: Path) -> dict[str, Any]:
    """``tomllib`` of ``path``, through a validated JSON rendering in :func:`cache_dir` when the file is large.

    tomllib and hashlib are imported when needed, not at module level: a warm cache needs no
    tomllib, and a command that reads only small curated files (check: known_bad) no hashlib.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
        st = os.fstat(fh.fileno())
    if len(raw) < _CACHE_MIN_BYTES:
        return _parse_toml(raw)
    import hashlib

    key = {
        "format": CACHE_FORMAT,
        "python": "%d.%d" % sys.version_info[:2],  # tomllib, or tomli before 3.11
        "source": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    entry = _cache_entry(key)
    cached = _read_cache(entry, key) if entry is not None else None
    if cached is not None:
        return cached
    data = _parse_toml(raw)
    if entry is not None:
        _write_cache(entry, key, data)
    return data


def _parse_toml(raw: bytes) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    data: dict[str, Any] = tomllib.loads(raw.decode())
    return data


def _cache_entry(key: Mapping[str, Any]) -> Path | None:
    """One entry per source file (and format, Python): an edited file's entry is replaced, not added."""
    root = cache_dir()
    if root is None:
        return None
    import hashlib

    where = {k: key[k] for k in ("format", "python", "source")}
    name = hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()[:32]
    return root / "toml" / f"{name}.json"


def _read_cache(entry: Path, key: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        with open(entry, "rb") as fh:
            doc = json.loads(fh.read())
        if not isinstance(doc, dict) or any(doc.get(k) != v for k, v in key.items()):
            return None
        data = doc["data"]
        if doc.get("tagged"):
            data = _untag(data)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _write_cache(entry: Path, key: Mapping[str, Any], data: dict[str, Any]) -> None:
    """Store ``data`` for ``key``; a cache that cannot be written is no error (the TOML was parsed)."""
    from attnlock.atomic import write_bytes_atomic
    from attnlock.errors import AttnlockError

    import datetime

    try:
        tagged = _needs_tags(data, (datetime.date, datetime.time))
        if tagged is None:
            return  # a table with a "$toml" key: the rendering would be ambiguous
        doc = dict(key, tagged=tagged, data=data)
        text = json.dumps(doc, default=_tag, ensure_ascii=False, separators=(",", ":"))
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(entry, text.encode())
        _prune(entry.parent)
    except (OSError, ValueError, TypeError, RecursionError, AttnlockError):
        return


def _prune(directory: Path) -> None:
    """Keep the newest :data:`_CACHE_MAX_ENTRIES` entries (edited and temporary files leave old ones)."""
    entries = [p for p in directory.glob("*.json") if p.is_file()]
    if len(entries) <= _CACHE_MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[_CACHE_MAX_ENTRIES:]:
        try:
            old.unlink()
        except OSError:
            continue


_TOML_TAG = "$toml"


def _needs_tags(value: object, kinds: tuple[type, ...]) -> bool | None:
    """Whether ``value`` holds TOML dates or times (``kinds``; JSON has none); None if a table has a ``$toml`` key."""
    if isinstance(value, dict):
        if _TOML_TAG in value:
            return None
        items: Iterable[object] = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return isinstance(value, kinds)
    found = False
    for v in items:
        sub = _needs_tags(v, kinds)
        if sub is None:
            return None
        found = found or sub
    return found


def _tag(value: object) -> dict[str, str]:
    import datetime

    if isinstance(value, datetime.datetime):
        return {_TOML_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {_TOML_TAG: "date", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {_TOML_TAG: "time", "v": value.isoformat()}
    raise TypeError(f"not a TOML value: {type(value).__name__}")


def _untag(value: Any) -> Any:
    import datetime

    if isinstance(value, dict):
        if _TOML_TAG in value:
            kind, text = value[_TOML_TAG], value["v"]
            if kind == "datetime":
                return datetime.datetime.fromisoformat(text)
            if kind == "date":
                return datetime.date.fromisoformat(text)
            if kind == "time":
                return datetime.time.fromisoformat(text)
            raise ValueError(f"unknown tag {kind!r}")
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


# ------------------------------------------------------------------ helpers


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
    try:
        if re.fullmatch(r"\s*\d[\w.+!]*\s*", spec):
            return Version(spec) == version
        return SpecifierSet(spec).contains(version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def _find_by_spec(records: list[dict[str, Any]], key: str, version: Version) -> dict[str, Any] | None:
    v = Version(version.public)
    for rec in records:
        if _spec_contains(rec.get(key), v):
            return rec
    return None


def _expand_flash_attn(rec: Mapping[str, Any], version: Version, package: str) -> Iterator[FlashAttnWheel]:
    template = rec.get("url_template")
    if not isinstance(template, str):
        return
    excludes = [e for e in rec.get("exclude", []) if isinstance(e, dict)]
    platforms = rec.get("platforms", ["linux-x86_64"])
    for torch in rec.get("torch", []):
        for cuda in rec.get("cuda", []):
            for abi in rec.get("cxx11abi", []):
                for py in rec.get("python", []):
                    for plat in platforms:
                        combo = {"torch": torch, "cuda": cuda, "cxx11abi": abi, "python": py, "platform": plat}
                        if any(all(combo.get(k) == v for k, v in e.items()) for e in excludes):
                            continue
                        cuda_s = str(cuda)
                        url = template.format(
                            version=str(version), cuda=cuda_s, cuda_digits=cuda_s.removeprefix("cu"),
                            torch=str(torch), abi="TRUE" if abi else "FALSE", python=str(py), py=str(py),
                        )
                        yield FlashAttnWheel(package, version, str(torch), cuda_s, bool(abi), str(py), str(plat),
                                             url, _source_text(rec))


def _parse_releases(package: str, raw: Mapping[str, Any]) -> Iterator[Release]:
    releases = raw.get("releases", {})
    if not isinstance(releases, dict):
        return
    items = []
    for vtext, rel in releases.items():
        try:
            items.append((Version(vtext), rel))
        except InvalidVersion:
            continue
    items.sort(key=lambda item: item[0])
    for version, rel in items:
        if not isinstance(rel, dict):
            continue
        rp = rel.get("requires_python")
        try:
            spec = SpecifierSet(rp) if isinstance(rp, str) and rp.strip() else None
        except InvalidSpecifier:
            spec = None
        files_raw = rel.get("files", {})
        files = tuple(
            FileInfo(name, info.get("size"), info.get("sha256"), info.get("requires_python"))
            for name, info in sorted(files_raw.items()) if isinstance(info, dict)
        ) if isinstance(files_raw, dict) else ()
        metadata = tuple(
            MetadataRecord(
                source=str(m.get("source", "")),
                platforms=tuple(m.get("platforms", ())),
                requires_dist=tuple(m.get("requires_dist", ())),
                requires_python=m.get("requires_python"),
            )
            for m in rel.get("metadata", []) if isinstance(m, dict) and "requires_dist" in m
        )
        build_info = rel.get("build_info", {})
        yield Release(
            package=package, version=version, yanked=bool(rel.get("yanked", False)), requires_python=spec,
            files=files, metadata=metadata,
            build_info=build_info if isinstance(build_info, dict) else {},
            upload_time=rel.get("upload_time"),
        )
