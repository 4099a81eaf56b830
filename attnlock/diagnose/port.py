"""The questions diagnosis asks the compatibility database, as a port that tests can fake.

Fix computation never reads ``data/`` itself: it asks a :class:`CompatibilitySource`.
:mod:`attnlock.diagnose.database_source` answers from :func:`attnlock.database.load`;
tests answer from a handful of records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from packaging.requirements import Requirement
from packaging.version import Version


@dataclass(frozen=True)
class XformersBuild:
    """One xformers build and the exact torch build its C++/CUDA extension was compiled for.

    ``variant`` is the PyTorch-index label that serves this build (``cu121``), or
    None for the default PyPI build; ``index_url`` is that index's URL, None for
    the default index; ``source`` is the wheel file name or curated record it comes from.
    """

    xformers: Version
    torch: Version
    variant: str | None = None
    index_url: str | None = None
    source: str = ""


@dataclass(frozen=True)
class FlashAttnWheel:
    """A prebuilt flash-attn wheel and the torch minor, CUDA, ABI and Python it targets."""

    version: Version
    url: str
    torch_minor: str
    cuda: str
    cxx11abi: bool
    python: str
    platform: str = "linux-x86_64"


class CompatibilitySource(Protocol):
    """What the fix computations need to know.  Every answer may be empty: unknown."""

    def xformers_builds_for_torch(self, torch: Version) -> list[XformersBuild]:
        """xformers builds whose extension was compiled for ``torch``'s release (public version).

        Newest xformers first.  Builds of every variant are returned; callers pick by label.
        """
        ...

    def xformers_builds(self, xformers: Version) -> list[XformersBuild]:
        """The builds of one xformers release (PyPI and PyTorch-index variants)."""
        ...

    def index_url(self, variant: str) -> str | None:
        """The PyTorch index URL serving builds labelled ``variant`` (``cu121``), or None if unknown."""
        ...

    def releases(self, package: str) -> list[Version]:
        """Known releases of ``package``, ascending."""
        ...

    def requirements(self, package: str, version: Version) -> list[Requirement] | None:
        """Requires-Dist of one release (markers unevaluated), or None when unknown."""
        ...

    def flash_attn_wheels(self, version: Version | None = None) -> list[FlashAttnWheel]:
        """Published prebuilt flash-attn wheels (of one release, or all), newest first."""
        ...

    def flash_attn_min_capability(self) -> tuple[int, int] | None:
        """The lowest compute capability flash-attn 2 supports, when every release agrees; else None."""
        ...

    def torch_default_variant(self, torch: Version) -> str | None:
        """The variant label (``cu121``) of that torch release's build on the default index, or None."""
        ...

    def torch_cxx11abi(self, torch: Version, platform: str = "linux-x86_64") -> bool | None:
        """Whether that torch build uses the C++11 ABI (PyTorch-index builds when ``torch`` has a
        local label, else the default-index build), or None when unknown."""
        ...
