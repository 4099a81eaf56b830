"""The database's record types: distribution files, METADATA records, releases, and the curated facts the store parses.

Strings are parsed lazily and once (Requires-Dist is screened by name before parsing), so the fast
paths pay only for what they touch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, canonical


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
        """The wheel's tags (``name-version[-build]-python-abi-platform.whl``); empty for an sdist or
        a name without the five or six parts a wheel's has."""
        triple = _tag_triple(self.filename)
        return _wheel_tags(*triple) if triple is not None else frozenset()

    def runs_on(self, platform: Platform | None, python: PythonVersion | None) -> bool:
        """Whether this wheel installs on ``platform`` under CPython ``python`` (None = any)."""
        triple = _tag_triple(self.filename)
        return triple is not None and _triple_runs(triple, platform, python)


# packaging.utils' checks of a wheel name's project and build parts (PEP 427), without importing it.
_WHEEL_PROJECT = re.compile(r"^[\w._]+\Z")
_WHEEL_BUILD = re.compile(r"(\d+)(.*)\Z")


@functools.lru_cache(maxsize=16384)
def _tag_triple(filename: str) -> tuple[str, str, str] | None:
    """A wheel file name's compressed tag set (python, abi, platform); None for an sdist or a name
    ``packaging.utils.parse_wheel_filename`` rejects (as installers do: such a file is no wheel)."""
    if not filename.endswith(".whl"):
        return None
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6) or "__" in parts[0] or _WHEEL_PROJECT.match(parts[0]) is None:
        return None
    if len(parts) == 6 and _WHEEL_BUILD.match(parts[2]) is None:
        return None
    python, abi, platform = parts[-3:]
    if any("" in part.split(".") for part in (python, abi, platform)) or not all(
            i.isidentifier() for i in python.split(".")):
        return None
    if not _valid_version(parts[1]):
        return None
    return python, abi, platform


@functools.lru_cache(maxsize=4096)
def _valid_version(text: str) -> bool:
    """Whether ``text`` is a PEP 440 version (a release's files share theirs: parsed once)."""
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _triple_runs(triple: tuple[str, str, str], platform: Platform | None, python: PythonVersion | None) -> bool:
    """Whether a wheel with this tag set installs on ``platform`` / CPython ``python`` (None = any);
    the sets repeat across files and releases, so each question is answered once."""
    for tag in _wheel_tags(*triple):
        if platform is not None and not platform.matches_wheel_platform(tag.platform):
            continue
        if python is not None and not _python_tag_ok(tag, python):
            continue
        return True
    return False


class Tag(NamedTuple):
    """One wheel tag (PEP 425), lower-cased as installers compare them."""

    interpreter: str
    abi: str
    platform: str


@functools.lru_cache(maxsize=1024)
def _wheel_tags(python: str, abi: str, platform: str) -> frozenset[Tag]:
    """The tags a wheel's compressed tag set expands to (``cp39.cp310-none-any``: two); the sets
    repeat across files and releases, so each is expanded once."""
    return frozenset(Tag(i, a, p) for i in python.lower().split(".") for a in abi.lower().split(".")
                     for p in platform.lower().split("."))


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


# How Requires-Dist strings are indexed (_REQ_NAME, _extra_required, _screen_line, requires_dist_index).
# Compiled entries store the index while their stamp covers only the data file, so a change to that
# code must bump this: entries made by other code are then misses (tests/test_compiled_robust.py
# pins it to the code's digest).
INDEX_VERSION = 1


def requires_dist_index(lines: Sequence[str]) -> dict[str, tuple[tuple[int, str | None, bool], ...]]:
    """Requires-Dist strings by leading (canonical) name: (position, the extra the marker requires,
    whether that is the whole marker), as :func:`_screen_line` reads them."""
    out: dict[str, list[tuple[int, str | None, bool]]] = {}
    for i, text in enumerate(lines):
        lead, extra, whole = _screen_line(text)
        if lead is not None:
            out.setdefault(lead, []).append((i, extra, whole))
    return {name: tuple(found) for name, found in out.items()}


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
    # name -> (string position, extra its marker requires, whether that is the whole marker): see
    # requires_dist_index; made when the database is compiled, else on first use.
    index: Mapping[str, Sequence[tuple[int, str | None, bool]]] | None = field(default=None, compare=False, repr=False)

    def lines_naming(self, names: frozenset[str],
                     extras: frozenset[str] | None = frozenset()) -> tuple[tuple[str, str], ...]:
        """(canonical name, string) of the Requires-Dist strings whose leading name is one of ``names``
        (canonical), in order, less those whose marker requires an extra not in ``extras`` (None:
        keep every extra's).  Read from the record's index (:func:`requires_dist_index`, made when
        the database is compiled), remembered per question: unsloth lists ~580 strings per release,
        of which a handful apply."""
        memo: dict[tuple[frozenset[str], frozenset[str] | None], tuple[tuple[str, str], ...]] = \
            self.__dict__.setdefault("_naming", {})
        key = (names, extras)
        found = memo.get(key)
        if found is None:
            index = self.index if self.index is not None else self._own_index
            # The index holds canonical extras; markers compare them canonically (marker_holds),
            # and with none asked ``extra == ""`` holds.
            asked = None if extras is None else frozenset(canonical(e) for e in extras) | {""}
            picked: list[tuple[int, str]] = []
            for name in index.keys() & names:
                for i, extra, _whole in index[name]:
                    if extra is None or asked is None or extra in asked:
                        picked.append((i, name))
            picked.sort()
            found = memo[key] = tuple((name, self.requires_dist[i]) for i, name in picked)
        return found

    @functools.cached_property
    def _own_index(self) -> Mapping[str, Sequence[tuple[int, str | None, bool]]]:
        return requires_dist_index(self.requires_dist)

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


_PYTHON_IN: dict[int, tuple[SpecifierSet, dict[tuple[int, int], bool]]] = {}


def _python_in(spec: SpecifierSet, major: int, minor: int) -> bool:
    """Whether ``spec`` (a Requires-Python) admits Python ``major.minor``, remembered per specifier
    object (releases share theirs: :func:`specifier_set`); by identity, as hashing a SpecifierSet
    costs more than the test."""
    entry = _PYTHON_IN.get(id(spec))
    if entry is None or entry[0] is not spec:
        entry = _PYTHON_IN[id(spec)] = (spec, {})
    answers = entry[1]
    found = answers.get((major, minor))
    if found is None:
        found = answers[(major, minor)] = spec.contains(Version(f"{major}.{minor}.0"), prereleases=True)
    return found


@functools.lru_cache(maxsize=None)
def specifier_set(text: str) -> SpecifierSet:
    """``SpecifierSet(text)``, one object per text (releases repeat their Requires-Python)."""
    return SpecifierSet(text)


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
    files_raw: Mapping[str, Any]  # file name -> {size, sha256, requires_python}, as data/ has it
    metadata: tuple[MetadataRecord, ...]
    build_info: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    upload_time: str | None = None
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # refresh.toml [members]: wheel -> names

    @functools.cached_property
    def files(self) -> tuple[FileInfo, ...]:
        """The release's files, by name (made on first use: most releases are never asked)."""
        return tuple(FileInfo(name, info.get("size"), info.get("sha256"), info.get("requires_python"))
                     for name, info in sorted(self.files_raw.items()) if isinstance(info, dict))

    def wheels(self) -> tuple[FileInfo, ...]:
        return tuple(f for f in self.files if f.is_wheel)

    def has_wheel_for(self, platform: Platform | None, python: PythonVersion | None) -> bool:
        return any(_triple_runs(t, platform, python) for t in self._triples)

    @functools.cached_property
    def _triples(self) -> frozenset[tuple[str, str, str]]:
        """The distinct tag sets of the release's wheels, read from the names (no FileInfo made)."""
        return frozenset(t for name, info in self.files_raw.items()
                         if isinstance(info, dict) and (t := _tag_triple(name)) is not None)

    def python_ok(self, python: PythonVersion | None) -> bool:
        if python is None or self.requires_python is None:
            return True
        return _python_in(self.requires_python, python.major, python.minor)

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
    index_known: bool = True  # False: the record names no PyTorch-index variants (unknown, not none)


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


