"""Probe the packages that need only an import or one small kernel: unsloth and bitsandbytes.

``--variant unsloth``: check ``import`` (unsloth patches torch and
transformers at import time and checks its GPU; failures there are what users
hit first).  ``--variant bitsandbytes``: ``import`` and ``blockwise_quant``,
an 8-bit blockwise quantize/dequantize round trip on the GPU (on the CPU
when there is none and bitsandbytes has a CPU path) whose error must stay
under 2% of the largest magnitude (8-bit dynamic quantization keeps about 1%;
0.7% measured on the CPU with bitsandbytes 0.50.2).
"""

from __future__ import annotations

import importlib
from typing import Any

from attnlock.verify.probes import _common as c


def main() -> None:
    args = c.parse_args()
    rec = c.Recorder(args.variant)
    state: dict[str, Any] = {}

    def imp() -> dict[str, Any]:
        import torch

        mod = importlib.import_module(args.variant)
        state["mod"] = mod
        state["cuda"] = torch.cuda.is_available()
        rec.device = None if state["cuda"] else "cpu"
        return {"version": getattr(mod, "__version__", None), "detail": {"torch": torch.__version__}}

    ok = rec.run("import", imp)
    if args.variant != "bitsandbytes":
        c.finish()
    if not ok:
        rec.skip("blockwise_quant", "bitsandbytes failed to import")
        c.finish()
    device = "cuda" if state["cuda"] else "cpu"

    def quant() -> dict[str, Any]:
        import torch

        F = importlib.import_module("bitsandbytes.functional")
        x = torch.randn(4096, device=device)
        try:
            qx, st = F.quantize_blockwise(x)
        except (NotImplementedError, RuntimeError) as exc:
            if device == "cpu":  # older bitsandbytes have no CPU path: nothing to run without a GPU
                raise c.Skip(f"no CUDA device, and this bitsandbytes has no CPU path ({exc})") from exc
            raise
        y = F.dequantize_blockwise(qx, st)
        err = float((y - x).abs().max() / x.abs().max())
        if not err <= 2e-2:
            raise c.Fail(f"blockwise 8-bit round trip error {err:.3g} of the largest magnitude (> 2e-2)")
        out: dict[str, Any] = {"max_abs_err": float((y - x).abs().max()), "detail": {"relative_to_max": err}}
        if device == "cpu":
            out["note"] = "CPU path only: no CUDA device visible to torch"
        return out

    rec.run("blockwise_quant", quant)
    c.finish()


if __name__ == "__main__":
    main()
