"""Value types shared by every command: platform, CUDA variant, compute capability, target, plan.

Strings stop at the boundary: options, environment variables and file
contents are parsed here into frozen dataclasses, and everything inside
attnlock compares versions as :class:`packaging.version.Version`.
No facts live here (driver floors, GPU names, arch lists are in data/).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.errors import UsageError

# ---------------------------------------------------------------- platform

_PLATFORM_ALIASES = {
    "linux-x86_64": ("linux", "x86_64"),
    "linux-amd64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "linux-arm64": ("linux", "aarch64"),
    "windows-amd64": ("windows", "amd64"),
    "windows-x86_64": ("windows", "amd64"),
    "win-amd64": ("windows", "amd64"),
    "macos-arm64": ("macos", "arm64"),
    "macos-aarch64": ("macos", "arm64"),
    "darwin-arm64": ("macos", "arm64"),
    "macos-x86_64": ("macos", "x86_64"),
}


@dataclass(frozen=True, order=True)
class Platform:
    """An operating system and CPU architecture, e.g. ``linux-x86_64``."""

    os: str
    arch: str

    @classmethod
    def parse(cls, text: str) -> Platform:
        key = text.strip().lower().replace("win32", "windows")
        try:
            os_name, arch = _PLATFORM_ALIASES[key]
        except KeyError:
            raise UsageError(
                f"unknown platform {text!r}",
                hint="use one of linux-x86_64, linux-aarch64, windows-amd64, macos-arm64",
            ) from None
        return cls(os_name, arch)

    def __str__(self) -> str:
        return f"{self.os}-{self.arch}"

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker variables this platform fixes."""
        if self.os == "linux":
            return {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                    "platform_machine": self.arch}
        if self.os == "windows":
            return {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                    "platform_machine": "AMD64"}
        return {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                "platform_machine": self.arch}

    def matches_wheel_platform(self, tag_platform: str) -> bool:
        """Whether a wheel platform tag (``manylinux_2_28_x86_64``, ``win_amd64`` …) runs here."""
        tag = tag_platform.lower()
        if tag == "any":
            return True
        if self.os == "linux":
            return (tag.startswith(("manylinux", "musllinux", "linux_"))) and tag.endswith("_" + self.arch)
        if self.os == "windows":
            return tag == "win_amd64"
        if self.os == "macos":
            return tag.startswith("macosx_") and (tag.endswith("_" + self.arch) or tag.endswith("_universal2"))
        return False


# ---------------------------------------------------------------- python

@dataclass(frozen=True, order=True)
class PythonVersion:
    """A CPython feature release, ``3.10``."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> PythonVersion:
        m = re.fullmatch(r"\s*(?:cp|py)?(\d)\.?(\d{1,2})(?:\.\d+)?\s*", text)
        if not m:
            raise UsageError(f"malformed Python version {text!r}", hint="write it as X.Y, e.g. 3.11")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def cp_tag(self) -> str:
        return f"cp{self.major}{self.minor}"

    @property
    def version(self) -> Version:
        return Version(str(self))


# ---------------------------------------------------------------- cuda

@dataclass(frozen=True, order=True)
class CudaVariant:
    """A build flavour of torch and its kernels: ``cpu``, ``cu121`` (CUDA 12.1), ``rocm6.2``.

    ``kind`` is ``cpu``, ``cuda``, ``rocm`` or ``xpu``; ``version`` is None for cpu.
    """

    kind: str
    version: Version | None = None

    @classmethod
    def parse(cls, text: str) -> CudaVariant:
        raw = text.strip().lower()
        if raw in ("cpu", "none"):
            return cls("cpu")
        if raw == "xpu":
            return cls("xpu")
        m = re.fullmatch(r"rocm(\d+(?:\.\d+){0,2})", raw)
        if m:
            return cls("rocm", Version(m.group(1)))
        m = re.fullmatch(r"cu(1[0-9])", raw)
        if m:
            # A major-only label (flash-attn's "cu12" wheels): any CUDA 12.x.
            return cls("cuda", Version(m.group(1)))
        m = re.fullmatch(r"cu(\d{2,3})", raw)
        if m:
            digits = m.group(1)
            return cls("cuda", Version(f"{digits[:-1]}.{digits[-1]}"))
        m = re.fullmatch(r"(?:cuda)?\s*(\d{1,2})\.(\d)(?:\.\d+)?", raw)
        if m:
            return cls("cuda", Version(f"{m.group(1)}.{m.group(2)}"))
        raise UsageError(
            f"unknown CUDA variant {text!r}",
            hint="use cpu, a CUDA version such as 12.1 or cu121, or rocm6.2",
        )

    @property
    def label(self) -> str:
        """The local-version label of torch builds: ``cu121``, ``cpu``, ``rocm6.2``."""
        if self.kind == "cuda" and self.version is not None:
            if len(self.version.release) == 1:
                return f"cu{self.version.major}"
            return f"cu{self.version.major}{self.version.minor}"
        if self.kind == "rocm" and self.version is not None:
            return f"rocm{self.version}"
        return self.kind

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    def __str__(self) -> str:
        return self.label


# ---------------------------------------------------------------- gpu

@dataclass(frozen=True, order=True)
class ComputeCapability:
    """An NVIDIA GPU architecture, ``sm_80`` = 8.0."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ComputeCapability:
        m = re.fullmatch(r"\s*(?:sm_?|compute_)?(\d{1,2})\.?(\d)([af])?\s*", text.strip().lower())
        if not m:
            raise UsageError(f"malformed compute capability {text!r}", hint="write sm_80 or 8.0")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"sm_{self.major}{self.minor}"

    @property
    def dotted(self) -> str:
        return f"{self.major}.{self.minor}"


# ---------------------------------------------------------------- versions

def parse_version(text: str, *, what: str = "version") -> Version:
    """Parse a PEP 440 version, raising a :class:`UsageError` that names it."""
    try:
        return Version(text.strip())
    except InvalidVersion:
        example = "the driver version nvidia-smi prints, such as 535.104.05" if "driver" in what else \
            "a PEP 440 version such as 2.3.1"
        raise UsageError(f"malformed {what} {text!r}", hint=f"write {example}") from None


def parse_specifier(text: str, *, what: str = "version range") -> SpecifierSet:
    """Parse a PEP 440 specifier set, raising a :class:`UsageError` that names it."""
    try:
        return SpecifierSet(text.strip())
    except InvalidSpecifier:
        raise UsageError(f"malformed {what} {text!r}", hint="write e.g. '>=2.4,<2.6' or '==2.3.1'") from None


def exact_version(spec: SpecifierSet) -> Version | None:
    """The public version ``spec`` pins with ``==``/``===`` (no wildcard), None when it pins none."""
    for s in spec:
        if s.operator in ("==", "===") and "*" not in s.version:
            try:
                return Version(Version(s.version).public)
            except InvalidVersion:
                return None
    return None


_SEPARATORS = re.compile(r"[-_.]+")


@functools.lru_cache(maxsize=4096)
def canonical(name: str) -> str:
    """The PyPI canonical form of a project name (``flash_attn`` → ``flash-attn``; PEP 503, as
    ``packaging.utils.canonicalize_name`` without importing packaging.tags)."""
    return _SEPARATORS.sub("-", name).lower()


# ---------------------------------------------------------------- target

@dataclass(frozen=True)
class Target:
    """The machine and torch a plan is for.

    Every field may be None, meaning "not known / any": the resolver then
    considers every value the database allows.  ``origins`` records where each
    field came from (``flag``, ``env:ATTNLOCK_GPU``, ``detected``) so output
    can explain itself.
    """

    torch: SpecifierSet | None = None  # "==2.3.1", ">=2.4", or None for any
    torch_latest: bool = False
    cuda: CudaVariant | None = None
    python: PythonVersion | None = None
    platform: Platform | None = None
    gpu: ComputeCapability | None = None
    gpu_name: str | None = None
    driver: Version | None = None
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: the driver version as the user (or nvidia-smi) wrote it, ``535.104.05``; ``driver`` is its
    #: parsed form (``535.104.5``), for comparisons only.  Output prints :attr:`driver_words`.
    driver_text: str | None = field(default=None, compare=False)

    def origin(self, name: str) -> str | None:
        return dict(self.origins).get(name)

    @property
    def driver_words(self) -> str | None:
        """The driver version for display: as written when known, else the parsed one, else None."""
        if self.driver is None:
            return None
        try:
            if self.driver_text and Version(self.driver_text.strip()) == self.driver:
                return self.driver_text.strip()
        except InvalidVersion:
            pass
        return str(self.driver)


# ---------------------------------------------------------------- plan

@dataclass(frozen=True)
class Index:
    """A package index the plan needs, and the packages it must serve."""

    url: str
    name: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Pin:
    """One package of a plan: an exact pin or a range, where it comes from, and why."""

    package: str
    specifier: SpecifierSet
    version: Version | None = None  # the exact version chosen, local label included
    index: str | None = None  # URL of the (non-default) index that serves it
    url: str | None = None  # a direct wheel URL (flash-attn's GitHub release wheels)
    reason: str = ""
    build: str | None = None  # the build chosen: CUDA variant label ("cu121") or wheel label
    sdist: bool = False  # built from source on the target (the user opted in)
    requires_dist: tuple[str, ...] = ()  # metadata to declare for an sdist (uv dependency-metadata)
    source: str | None = None  # a community source the build comes from (--source community), in words


@dataclass(frozen=True)
class Exclusion:
    """Versions the plan rules out, and the evidence."""

    package: str
    specifier: str
    reason: str
    evidence: str | None = None


@dataclass(frozen=True)
class Plan:
    """The single product of resolution; every emitter renders one."""

    target: Target
    pins: tuple[Pin, ...]
    indexes: tuple[Index, ...] = ()
    excluded: tuple[Exclusion, ...] = ()
    notes: tuple[str, ...] = ()

    def pin(self, package: str) -> Pin | None:
        name = canonical(package)
        for p in self.pins:
            if p.package == name:
                return p
        return None
