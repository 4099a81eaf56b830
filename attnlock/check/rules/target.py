"""torch pins against the target's ``--torch`` (AL108) and ``--driver`` (AL109)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.version import Version

from attnlock.check.context import InstallSet
from attnlock.check.findings import Finding
from attnlock.model import Target

if TYPE_CHECKING:
    from attnlock.database import Database
from attnlock.check.rules._base import _TORCH, _contains, _finding, _variant_of_label


def target_rules(iset: InstallSet, target: Target, db: Database | None) -> list[Finding]:
    """torch pins against the target's ``--torch`` (AL108) and ``--driver`` (AL109)."""
    out: list[Finding] = []
    for e in iset.entries:
        version = e.exact_version
        if e.name != _TORCH or version is None:
            continue
        if target.torch is not None and not _contains(target.torch, version):
            out.append(_finding("AL108", e, f"torch is pinned to {version}; the target asks for torch{target.torch}",
                                [_TORCH], f"a torch release in {target.torch}"))
        if target.driver is None or db is None:
            continue
        variant = _variant_of_label(version.local)
        if variant is None and not version.local:
            known = db.torch_variants(Version(version.public))
            variant = known.pypi if known is not None else None
        if variant is None or not variant.is_cuda or variant.version is None:
            continue
        platform = target.platform or (iset.envs[0].platform if iset.envs else None)
        os_name = platform.os if platform is not None else "linux"
        newest = db.cuda_max_for_driver(target.driver, os_name, compat=True)
        if newest is None or newest >= variant.version:
            continue
        out.append(_finding(
            "AL109", e, f"torch {version} is a CUDA {variant.version} build; driver {target.driver} runs CUDA up "
            f"to {newest} (with minor-version compatibility): torch.cuda.is_available() is False",
            [_TORCH], f"a torch build for CUDA {newest} or older, or a driver that supports CUDA {variant.version}"))
    return out


