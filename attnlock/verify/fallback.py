"""Name silent slow fallbacks: the fastest working attention path measured against the GPU's own bf16 matmul rate.

Attention at the standard shape (B=8, H=16, S=4096, D=128, bf16) is
compute-bound, so a fused kernel runs at a large fraction of the GPU's dense
bf16 matrix rate, measured in the same run (8192³ through torch).  On an H200
(``shared/FACTS.md``): cuDNN 676 TFLOP/s (85% of 793), flash 357 (45%),
memory-efficient 177 (22%), and the unfused math path 25 (3%).  The threshold,
``THRESHOLD = 0.10``, sits between the slowest fused kernel and the math path
with a factor of two to three of margin on each side: a stack whose best
attention path is under 10% of its own matmul rate has fallen back to the
unfused math path (typically "Torch was not compiled with flash attention")
and gets a failed ``torch/fastest_attention`` check that says so with the
numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

THRESHOLD = 0.10
CHECK = ("torch", "fastest_attention")


def assess(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``torch/fastest_attention`` result per device with a matmul rate; adds ``fraction_of_matmul`` in place."""
    by_device: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_device.setdefault(str(r.get("device")), []).append(r)
    out: list[dict[str, Any]] = []
    for device, rows in by_device.items():
        matmul = next((r for r in rows if r.get("kind") == "matmul" and r.get("tflops")), None)
        attn = [r for r in rows if r.get("kind") == "attention" and r.get("status") == "pass" and r.get("tflops")]
        base = {"package": CHECK[0], "check": CHECK[1], "device": device, "ms": None, "tflops": None,
                "max_abs_err": None, "error": None, "diagnosis": None}
        for key in ("rank", "host"):
            if key in rows[0]:
                base[key] = rows[0][key]
        if matmul is None:
            continue
        rate = float(matmul["tflops"])
        for r in rows:
            if r.get("kind") == "attention" and r.get("tflops"):
                r["fraction_of_matmul"] = round(float(r["tflops"]) / rate, 3)
        if not attn:
            failed = [f"{r['package']}/{r['check']}" for r in rows if r.get("kind") == "attention" or
                      str(r.get("check", "")).startswith("sdpa_")]
            out.append(base | {"status": "fail", "matmul_tflops": rate,
                               "error": "no attention path works on this GPU"
                                        + (f" (failed: {', '.join(failed)})" if failed else "")})
            continue
        best = max(attn, key=lambda r: float(r["tflops"]))
        frac = float(best["tflops"]) / rate
        label = f"{best['package']}/{best['check']}"
        row = base | {"tflops": best["tflops"], "ms": best.get("ms"), "matmul_tflops": rate,
                      "fraction_of_matmul": round(frac, 3), "fastest": label, "threshold": THRESHOLD}
        if frac < THRESHOLD:
            failed_notes = [str(r.get("error") or "") for r in rows
                            if r.get("kind") != "matmul" and r.get("status") == "fail"]
            row |= {"status": "fail",
                    "error": (f"silent slow fallback: the fastest working attention path, {label}, reaches "
                              f"{best['tflops']:.1f} TFLOP/s = {frac:.1%} of this GPU's bf16 matmul rate "
                              f"({rate:.1f} TFLOP/s); a fused kernel reaches over {THRESHOLD:.0%}"),
                    "related_errors": "\n".join(n for n in failed_notes if n)[-4000:]}
        else:
            row |= {"status": "pass",
                    "note": f"{label}: {best['tflops']:.1f} TFLOP/s = {frac:.1%} of bf16 matmul {rate:.1f} TFLOP/s"}
        out.append(row)
    return out
