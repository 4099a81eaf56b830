"""Installed kernel packages and CUDA wheels: versions from metadata, and xformers' build info from ``cpp_lib.json``.

Which packages are reported is attnlock's scope (what it locks), not a
compatibility fact: the attention stack by name, plus every ``nvidia-*`` and
``cuda-*`` wheel (the CUDA libraries torch, jax and friends pull in).
"""

from __future__ import annotations

import json
from typing import Any

from attnlock.detect.distributions import Found, read_version
from attnlock.detect.report import PackageFacts, Unknown
from attnlock.errors import InputError

#: Reported by name when installed (canonical names; flash_attn_3 is the FA3 "hopper" build).
NAMED = (
    "torch", "torchvision", "torchaudio", "triton", "pytorch-triton", "pytorch-triton-rocm",
    "xformers", "flash-attn", "flash-attn-3", "flash-attn-4", "mslk",
    "jax", "jaxlib", "unsloth", "unsloth-zoo", "bitsandbytes",
)
#: Reported when installed: every distribution whose canonical name starts so.
PREFIXES = ("nvidia-", "cuda-", "jax-cuda", "jax-rocm")


def wanted(name: str) -> bool:
    return name in NAMED or name.startswith(PREFIXES)


def parse_cpp_lib_json(text: str, source: str = "xformers/cpp_lib.json") -> dict[str, str | None]:
    """xformers' build info: the torch, CUDA (``1208`` → ``12.8``), HIP and Python its extension was built for."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InputError(f"not JSON: {text.strip()[:80]!r}", path=source) from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, dict):
        raise InputError("no 'version' object", path=source)

    def text_of(key: str) -> str | None:
        value = version.get(key)
        return value if isinstance(value, str) and value else None

    cuda_raw: Any = version.get("cuda")
    if isinstance(cuda_raw, int) and cuda_raw > 0:
        # xformers writes torch.version.cuda as major*100 + minor: 12.8 -> 1208, 12.1 -> 1201.
        cuda: str | None = f"{cuda_raw // 100}.{cuda_raw % 100}"
    elif isinstance(cuda_raw, str) and cuda_raw:
        cuda = cuda_raw
    else:
        cuda = None
    if text_of("torch") is None:
        raise InputError("'version' names no torch", path=source)
    return {"torch": text_of("torch"), "cuda": cuda, "hip": text_of("hip"), "python": text_of("python")}


def probe_packages(found: dict[str, Found]) -> tuple[dict[str, PackageFacts], list[Unknown]]:
    """Version (and, for xformers, build info) of every wanted installed distribution."""
    out: dict[str, PackageFacts] = {}
    unknown: list[Unknown] = []
    for name in sorted(n for n in found if wanted(n)):
        dist = found[name]
        version, source, problem = read_version(dist)
        if problem:
            unknown.append(Unknown(f"{name} version", problem))
        built_for = built_source = None
        if name == "xformers":
            path = dist.site / "xformers" / "cpp_lib.json"
            built_source = str(path)
            try:
                with open(path, "rb") as fh:
                    built_for = parse_cpp_lib_json(fh.read(1 << 20).decode("utf-8", "replace"), str(path))
            except FileNotFoundError:
                unknown.append(Unknown("xformers built_for", f"{path} absent (a pure-Python or source build)"))
            except OSError as exc:
                unknown.append(Unknown("xformers built_for", f"{path}: {exc.strerror or exc}"))
            except InputError as exc:
                unknown.append(Unknown("xformers built_for", exc.render()))
        out[name] = PackageFacts(name, version, str(dist.site), source, built_for, built_source)
    return out, unknown
