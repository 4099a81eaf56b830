"""Probe triton: import, then compile a ``@triton.jit`` kernel (defined in this file) and run it on the GPU.

Checks (package ``triton``): ``import`` (with the torch it runs beside) and
``jit_kernel``: a fused ``x * y + 1`` over 2¹⁶ float32 elements, compiled by
Triton's JIT and compared exactly with torch's result.  Without a GPU the
kernel check is skipped (Triton compiles for the GPU it finds).
"""

from __future__ import annotations

from typing import Any

from attnlock.verify.probes import _common as c


def main() -> None:
    c.parse_args()
    rec = c.Recorder("triton")
    state: dict[str, Any] = {}

    def imp() -> dict[str, Any]:
        import torch
        import triton

        state["cuda"] = torch.cuda.is_available()
        rec.device = None if state["cuda"] else "cpu"
        return {"version": triton.__version__, "detail": {"torch": torch.__version__}}

    if not rec.run("import", imp):
        rec.skip("jit_kernel", "triton failed to import")
        c.finish()
    if not state["cuda"]:
        rec.device = "cpu"
        rec.skip("jit_kernel", "no CUDA device visible to torch")
        c.finish()

    def jit() -> dict[str, Any]:
        import time

        import torch

        from attnlock.verify.probes._triton_kernel import fma_plus_one

        n = 1 << 16
        x = torch.randn(n, device="cuda")
        y = torch.randn(n, device="cuda")
        out = torch.full_like(x, float("nan"))  # poisoned: every element must be written
        t0 = time.perf_counter()
        fma_plus_one(x, y, out)
        torch.cuda.synchronize()
        compile_ms = (time.perf_counter() - t0) * 1e3
        ref = x * y + 1
        err = float((out - ref).abs().max())
        if not err <= 1e-4:  # one rounding (fused multiply-add) vs two: ulp-level differences only
            raise c.Fail(f"Triton kernel result differs from torch: max abs error {err}", max_abs_err=err)
        return {"max_abs_err": err, "detail": {"first_call_ms": round(compile_ms, 1), "elements": n}}

    rec.run("jit_kernel", jit)
    c.finish()


if __name__ == "__main__":
    main()
