"""Probe the packages that need only an import or one small kernel: unsloth and bitsandbytes.

``--variant unsloth``: check ``import`` (unsloth patches torch and
transformers at import time and checks its GPU; failures there are what users
hit first).  ``--variant bitsandbytes``: ``import`` and ``blockwise_quant``,
an 8-bit blockwise quantize/dequantize round trip on the GPU whose error must
stay under 2% of the largest magnitude (8-bit dynamic quantization keeps
about 1%).
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
    if not state["cuda"]:
        rec.device = "cpu"
        rec.skip("blockwise_quant", "no CUDA device visible to torch")
        c.finish()

    def quant() -> dict[str, Any]:
        import torch

        F = importlib.import_module("bitsandbytes.functional")
        x = torch.randn(4096, device="cuda")
        qx, st = F.quantize_blockwise(x)
        y = F.dequantize_blockwise(qx, st)
        err = float((y - x).abs().max() / x.abs().max())
        if not err <= 2e-2:
            raise c.Fail(f"blockwise 8-bit round trip error {err:.3g} of the largest magnitude (> 2e-2)")
        return {"max_abs_err": float((y - x).abs().max()), "detail": {"relative_to_max": err}}

    rec.run("blockwise_quant", quant)
    c.finish()


if __name__ == "__main__":
    main()
