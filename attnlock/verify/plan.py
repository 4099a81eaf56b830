"""Which probe children verify runs: the check groups, the packages they need, and the checks each must report.

A group is one child process.  Checks are grouped per package so that one
torch import serves several checks (a fresh process needs 3–5 s just to
import torch on an H200 host) while a crash in one package's kernels cannot
take another package's results with it.  Every group names the checks it
promises, so when its child dies the runner knows which results are missing.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

SDPA_CHECKS = ("sdpa_flash", "sdpa_efficient", "sdpa_cudnn", "sdpa_math")
FLASH_CHECKS = ("import", "flash_attn_func", "flash_attn_varlen_func")


@dataclass(frozen=True)
class Group:
    """One child process: ``argv`` after the interpreter, the distributions it needs, the checks it reports."""

    name: str
    argv: tuple[str, ...]
    requires: tuple[str, ...]
    checks: tuple[tuple[str, str], ...]
    env: tuple[tuple[str, str], ...] = ()
    packages: tuple[str, ...] = field(default=())

    def selected_by(self) -> tuple[str, ...]:
        """The package names that ``--only`` matches this group by."""
        return self.packages or tuple(sorted({p for p, _ in self.checks}))


def _probe(name: str, *extra: str) -> tuple[str, ...]:
    return ("-m", f"attnlock.verify.probes.{name}", *extra)


_NO_PREALLOC = (("XLA_PYTHON_CLIENT_PREALLOCATE", "false"),)

GROUPS: tuple[Group, ...] = (
    Group("torch", _probe("torch_probe"), ("torch",),
          (("torch", "import"), ("torch", "matmul_bf16"), *(("torch", s) for s in SDPA_CHECKS))),
    Group("xformers", _probe("xformers_probe"), ("xformers", "torch"),
          (("xformers", "import"), ("xformers", "memory_efficient_attention"), ("xformers", "operators"))),
    Group("flash-attn", _probe("flash_attn_probe", "--variant", "fa2"), ("flash-attn", "torch"),
          tuple(("flash-attn", s) for s in FLASH_CHECKS)),
    Group("flash-attn-3", _probe("flash_attn_probe", "--variant", "fa3"), ("flash-attn-3", "torch"),
          tuple(("flash-attn-3", s) for s in FLASH_CHECKS)),
    Group("flash-attn-4", _probe("flash_attn_probe", "--variant", "fa4"), ("flash-attn-4", "torch"),
          tuple(("flash-attn-4", s) for s in FLASH_CHECKS)),
    Group("triton", _probe("triton_probe"), ("triton", "torch"), (("triton", "import"), ("triton", "jit_kernel"))),
    Group("jax", _probe("jax_probe"), ("jax", "jaxlib"), (("jax", "import"), ("jax", "jit")), _NO_PREALLOC),
    Group("jax+torch", _probe("jax_torch_probe"), ("jax", "jaxlib", "torch"), (("jax", "torch_coexistence"),),
          _NO_PREALLOC),
    Group("unsloth", _probe("misc_probe", "--variant", "unsloth"), ("unsloth", "torch"), (("unsloth", "import"),)),
    Group("bitsandbytes", _probe("misc_probe", "--variant", "bitsandbytes"), ("bitsandbytes", "torch"),
          (("bitsandbytes", "import"), ("bitsandbytes", "blockwise_quant"))),
)

#: Every package name verify knows, for ``--only`` validation.
KNOWN_PACKAGES: frozenset[str] = frozenset(p for g in GROUPS for p in g.selected_by())


def installed_version(name: str) -> str | None:
    """The installed distribution's version in this interpreter's environment, or None (no import of it)."""
    for candidate in dict.fromkeys((name, name.replace("-", "_"), canonicalize_name(name))):
        try:
            return importlib.metadata.version(candidate)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class Selection:
    """The groups to run and the checks reported as skipped without running (package not installed)."""

    groups: tuple[Group, ...]
    skipped: tuple[tuple[str, str, str], ...]  # (package, check, reason)


def select(
    only: Iterable[str] | None = None,
    *,
    installed: Callable[[str], str | None] = installed_version,
    groups: tuple[Group, ...] = GROUPS,
) -> Selection:
    """Pick the groups for ``only`` (canonical package names; None = all) given what is installed."""
    wanted = {canonicalize_name(n) for n in only} if only else None
    run: list[Group] = []
    skipped: list[tuple[str, str, str]] = []
    seen_skip: set[str] = set()
    for group in groups:
        if wanted is not None and not (wanted & set(group.selected_by())):
            continue
        missing = [r for r in group.requires if installed(r) is None]
        if not missing:
            run.append(group)
            continue
        # One "not installed" row per package, not one per check.
        pkg = group.checks[0][0]
        if pkg in seen_skip:
            continue
        seen_skip.add(pkg)
        skipped.append((pkg, group.checks[0][1], f"not installed: no distribution {', '.join(missing)}"))
    return Selection(tuple(run), tuple(skipped))
