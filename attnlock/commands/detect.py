"""``attnlock detect``: print what this environment is — as an aligned report, or JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys

from attnlock.detect import Ports, detect
from attnlock.detect.report import TAGS_SHOWN, Environment


def render_text(env: Environment) -> str:
    """A readable, aligned report: one ``label  value  (source)`` line per fact."""
    rows: list[tuple[str, str, str]] = []

    def row(label: str, value: object, source: str | None = "") -> None:
        rows.append((label, "unknown" if value is None else str(value), source or ""))

    py = env.python
    row("python", f"{py.version} ({py.implementation})", py.source)
    row("platform", env.platform, env.platform_source)
    libc = f"{env.libc.name} {env.libc.version}" if env.libc.name else None
    row("libc", libc if libc else ("n/a" if env.libc.source.startswith("not ") else None), env.libc.source)
    if env.tags is not None:
        row("wheel tags", f"{len(env.tags)}, best {env.tags[0]}" if env.tags else "0", env.tags_source)
    else:
        row("wheel tags", None, env.tags_source)
    t = env.torch
    if t is None:
        row("torch", "not installed", "")
    else:
        build = t.cuda and f"CUDA {t.cuda}" or t.hip and f"ROCm/HIP {t.hip}" or t.xpu and f"XPU {t.xpu}" or "CPU"
        row("torch", f"{t.version or 'unknown'} ({build})" if t.version else None, t.source)
        abi = None if t.cxx11abi is None else ("yes" if t.cxx11abi else "no")
        row("  C++11 ABI", abi, t.cxx11abi_source)
        row("  variant", t.variant, t.variant_source)
        row("  location", t.location, "")
    d = env.driver
    if d is None:
        row("NVIDIA driver", "none", "")
    else:
        row("NVIDIA driver", d.version, d.source)
        row("  newest CUDA", d.cuda_max, d.cuda_max_source)
    if not env.gpus:
        # "none" only when the probes said so; a probe that hung or crashed leaves it unknown.
        row("GPUs", None if any(u.fact == "gpus" for u in env.unknown) else "none", env.gpus_source)
    for g in env.gpus:
        cc = f"sm_{g.compute_capability.replace('.', '')}" if g.compute_capability else "compute capability unknown"
        mem = f", {g.memory_mib} MiB" if g.memory_mib else ""
        row(f"GPU {g.ordinal}", f"{g.name or 'unknown'} ({cc}{mem})", g.source)
    for name, p in sorted(env.packages.items()):
        if name == "torch":
            continue
        value = p.version
        if p.built_for:
            bf = p.built_for
            value = f"{p.version} (built for torch {bf.get('torch')}, CUDA {bf.get('cuda')}, Python {bf.get('python')})"
            if t is not None and t.version and bf.get("torch") and bf.get("torch") != t.version:
                value += f"  <- not the installed torch {t.version}"
        row(name, value, p.source if p.version is None else "")
    guard = env.guard
    if guard is not None:
        if guard.active:
            value = f"active: constraints {guard.constraints}" + (", UV_CONSTRAINT set" if guard.uv_constraint else "")
        else:
            value = "none" + (" (UV_CONSTRAINT still points at attnlock's file)" if guard.uv_constraint else "")
        row("install guard", value, guard.pip_config)
    width = max(len(r[0]) for r in rows)
    vwidth = min(max(len(r[1]) for r in rows), 60)
    lines = [f"{label:<{width}}  {value:<{vwidth}}  {source}".rstrip() for label, value, source in rows]
    if env.unknown:
        lines.append("")
        lines.append("unknown:")
        lines.extend(f"  {u.fact}: {u.reason}" for u in env.unknown)
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Detect and print; always exit 0 (unknown facts are part of the answer, not failures)."""
    env = detect(Ports.system())
    if args.json:
        sys.stdout.write(json.dumps(env.to_json(all_tags=bool(getattr(args, "all_tags", False))), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(env))
        if env.tags is not None and len(env.tags) > TAGS_SHOWN and getattr(args, "all_tags", False):
            sys.stdout.write("\n".join(env.tags) + "\n")
    return 0
