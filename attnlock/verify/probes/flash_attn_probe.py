"""Probe flash-attn: FA2 (``flash_attn``), FA3 (``flash_attn_interface``) or FA4 (``flash_attn.cute``).

``--variant`` picks one: ``fa2`` reports as package ``flash-attn`` with checks
``import``, ``flash_attn_func`` (forward, backward, throughput) and
``flash_attn_varlen_func`` (two packed sequences of different lengths, each
compared with its own reference); ``fa3`` as ``flash-attn-3`` (the Hopper
build, module ``flash_attn_interface``) and ``fa4`` as ``flash-attn-4`` (the
CuTe-DSL rewrite, module ``flash_attn.cute``) with the same checks.  All
flash-attn builds need a CUDA GPU: without one the kernel checks are skipped.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from attnlock.verify.probes import _common as c

VARIANTS = {
    "fa2": ("flash-attn", "flash_attn"),
    "fa3": ("flash-attn-3", "flash_attn_interface"),
    "fa4": ("flash-attn-4", "flash_attn.cute"),
}


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


def main() -> None:
    args = c.parse_args()
    package, module_name = VARIANTS[args.variant]
    rec = c.Recorder(package)
    state: dict[str, Any] = {}

    def imp() -> dict[str, Any]:
        import torch

        mod = importlib.import_module(module_name)
        state["mod"] = mod
        state["cuda"] = torch.cuda.is_available()
        rec.device = None if state["cuda"] else "cpu"
        try:  # the distribution's version: flash_attn.cute.__version__ reads a wrong name ("fa4") and says 0.0.0
            version: str | None = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(mod, "__version__", None)
        detail: dict[str, Any] = {"module": module_name, "torch": torch.__version__}
        if torch.cuda.is_available():
            detail["compute_capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
        return {"version": version, "detail": detail}

    if not rec.run("import", imp):
        for name in ("flash_attn_func", "flash_attn_varlen_func"):
            rec.skip(name, f"{module_name} failed to import")
        c.finish()
    if not state["cuda"]:
        rec.device = "cpu"
        for name in ("flash_attn_func", "flash_attn_varlen_func"):
            rec.skip(name, "no CUDA device visible to torch (flash-attn has no CPU path)")
        c.finish()
    mod = state["mod"]

    def func() -> dict[str, Any]:
        def fn(q: Any, k: Any, v: Any) -> Any:
            return _first(mod.flash_attn_func(q, k, v))

        out = c.check_attention(fn, "cuda", layout="bshd")
        if not args.no_bench:
            out.update(c.bench_attention(fn, "cuda", layout="bshd"))
        return out

    rec.run("flash_attn_func", func)

    def varlen() -> dict[str, Any]:
        import torch

        _, h, _, d = c.SMALL_SHAPE
        lens = [192, 64]
        detail: dict[str, Any] = {"seqlens": lens}
        worst = 0.0
        for dt in ("bfloat16", "float16"):
            dtype = getattr(torch, dt)
            total = sum(lens)
            q, k, v = (torch.randn((total, h, d), device="cuda", dtype=dtype) for _ in range(3))
            cu = torch.tensor([0, lens[0], total], device="cuda", dtype=torch.int32)
            out = _first(mod.flash_attn_varlen_func(q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu,
                                                    max_seqlen_q=max(lens), max_seqlen_k=max(lens)))
            start = 0
            for i, n in enumerate(lens):
                sl = slice(start, start + n)
                ref = c.reference_attention(q[sl].unsqueeze(0), k[sl].unsqueeze(0), v[sl].unsqueeze(0), "bshd")[0]
                worst = max(worst, c.judge(f"forward {dt} seq{i}", dt, *c.rel_err(out[sl], ref), detail))
                start += n
        return {"max_abs_err": worst, "detail": detail}

    rec.run("flash_attn_varlen_func", varlen)
    c.finish()


if __name__ == "__main__":
    main()
