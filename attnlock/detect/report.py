"""What detection found: one immutable record per fact group, each fact with its source or the reason it is unknown.

``Environment.to_json()`` is the ``detect --json`` shape of ``shared/CLI.md``
(plus ``source``/``unknown`` fields); ``attnlock.commands.detect`` renders the
same record as text.  Records are ``NamedTuple``s, not dataclasses: ``detect``
must start fast, and importing ``dataclasses`` plus generating a dozen classes
costs more than the probes themselves (measured: benchmarks/bench_detect.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: How many wheel tags ``detect --json`` lists unless asked for all of them.
TAGS_SHOWN = 10


class Unknown(NamedTuple):
    """A fact that could not be established, and why (shown to the user verbatim)."""

    fact: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"fact": self.fact, "reason": self.reason}


class PythonFacts(NamedTuple):
    version: str | None
    implementation: str | None
    source: str


class LibcFacts(NamedTuple):
    name: str | None  # "glibc", "musl", or None (Windows, macOS, unknown)
    version: str | None
    source: str


class TorchFacts(NamedTuple):
    """torch as its files describe it (``torch/version.py`` read as text, dist metadata)."""

    version: str | None  # __version__ with local label, e.g. 2.13.0+cpu
    dist_version: str | None  # the distribution's metadata version (PyPI builds: no label)
    cuda: str | None
    hip: str | None
    rocm: str | None
    xpu: str | None
    git_version: str | None
    debug: bool | None
    cxx11abi: bool | None
    cxx11abi_source: str | None
    location: str | None
    source: str  # where ``version`` was read: torch/version.py, else the dist METADATA
    variant: str | None = None  # build variant label: cpu, cu121, rocm6.0, xpu
    variant_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "dist_version": self.dist_version,
            "cuda": self.cuda,
            "hip": self.hip,
            "rocm": self.rocm,
            "xpu": self.xpu,
            "git_version": self.git_version,
            "debug": self.debug,
            "cxx11abi": self.cxx11abi,
            "cxx11abi_source": self.cxx11abi_source,
            "location": self.location,
            "source": self.source,
            "variant": self.variant,
            "variant_source": self.variant_source,
        }


class GuardFacts(NamedTuple):
    """The ``attnlock activate`` install guard of the environment (as ``attnlock.install.guard.status``)."""

    active: bool
    pip_config: str
    constraints: str | None
    uv_constraint: bool  # UV_CONSTRAINT points at the guard's constraints file

    def to_json(self) -> dict[str, Any]:
        return {"active": self.active, "pip_config": self.pip_config, "constraints": self.constraints,
                "uv_constraint": self.uv_constraint}


class DriverFacts(NamedTuple):
    version: str | None
    cuda_max: str | None
    source: str
    cuda_max_source: str | None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "cuda_max": self.cuda_max, "source": self.source,
                "cuda_max_source": self.cuda_max_source}


class GpuFacts(NamedTuple):
    ordinal: int  # "index" in JSON (a NamedTuple field may not shadow tuple.index)
    name: str | None
    compute_capability: str | None  # "9.0"
    memory_mib: int | None
    pci_bus_id: str | None
    source: str
    compute_capability_source: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.ordinal,
            "name": self.name,
            "compute_capability": self.compute_capability,
            "memory_mib": self.memory_mib,
            "pci_bus_id": self.pci_bus_id,
            "source": self.source,
            "compute_capability_source": self.compute_capability_source,
        }


class PackageFacts(NamedTuple):
    name: str  # canonical
    version: str | None
    location: str | None
    source: str
    built_for: dict[str, str | None] | None = None  # xformers: torch, cuda, python of its extension
    built_for_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version, "location": self.location, "source": self.source}
        if self.built_for is not None or self.built_for_source is not None:
            body["built_for"] = self.built_for
            body["built_for_source"] = self.built_for_source
        return body


class Environment(NamedTuple):
    """Everything ``attnlock detect`` reports about one machine and interpreter."""

    python: PythonFacts
    platform: str | None
    platform_source: str
    libc: LibcFacts
    tags: tuple[str, ...] | None
    tags_source: str
    torch: TorchFacts | None
    driver: DriverFacts | None
    gpus: tuple[GpuFacts, ...]
    gpus_source: str
    packages: dict[str, PackageFacts]
    unknown: tuple[Unknown, ...] = ()
    guard: GuardFacts | None = None  # None: no environment prefix was given to look at

    def to_json(self, *, all_tags: bool = False) -> dict[str, Any]:
        """The ``detect --json`` document (``shared/CLI.md``)."""
        tags: dict[str, Any] | None = None
        if self.tags is not None:
            shown = self.tags if all_tags else self.tags[:TAGS_SHOWN]
            tags = {"count": len(self.tags), "first" if not all_tags else "all": list(shown),
                    "source": self.tags_source}
        return {
            "python": {"version": self.python.version, "implementation": self.python.implementation,
                       "source": self.python.source},
            "platform": self.platform,
            "platform_source": self.platform_source,
            "libc": {"name": self.libc.name, "version": self.libc.version, "source": self.libc.source},
            "tags": tags,
            "torch": self.torch.to_json() if self.torch else None,
            "driver": self.driver.to_json() if self.driver else None,
            "gpus": [g.to_json() for g in self.gpus],
            "gpus_source": self.gpus_source,
            "packages": {name: p.to_json() for name, p in sorted(self.packages.items())},
            "guard": self.guard.to_json() if self.guard else None,
            "unknown": [u.to_json() for u in self.unknown],
        }
