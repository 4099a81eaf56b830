"""Benchmark: ``attnlock verify`` against a hand-written one-process script doing the same checks, same run.

Usage (on a GPU host)::

    python benchmarks/bench_verify.py --rounds 2 --out verify-bench.json

Each round runs, alternately, ``benchmarks/verify_one_process.py`` and
``python -m attnlock verify --json`` (fresh processes, wall clock from start
to exit) and keeps verify's JSON, so each backend's TFLOP/s is recorded next
to the bf16 matmul rate measured in the same run.  The target is verify ≤ 1.5×
the script's time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def timed(argv: list[str], timeout: float) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, proc.returncode, proc.stdout + ("\n" + proc.stderr[-3000:] if proc.returncode and proc.returncode != 1 else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    script: list[float] = []
    verify: list[float] = []
    last_json: dict[str, object] = {}
    last_script = ""
    for i in range(args.rounds):
        s, rc_s, out_s = timed([sys.executable, str(HERE / "verify_one_process.py")], args.timeout)
        script.append(s)
        last_script = out_s
        v, rc_v, out_v = timed([sys.executable, "-m", "attnlock", "verify", "--json"], args.timeout)
        verify.append(v)
        try:
            last_json = json.loads(out_v)
        except json.JSONDecodeError:
            last_json = {"unparsed": out_v[-3000:]}
        print(f"round {i + 1}: script {s:.2f} s (rc {rc_s}), verify {v:.2f} s (rc {rc_v})", flush=True)
    ms, mv = statistics.median(script), statistics.median(verify)
    checks = last_json.get("checks", []) if isinstance(last_json, dict) else []
    rates = [{"check": f"{c['package']}/{c['check']}", "tflops": c.get("tflops"),
              "fraction_of_matmul": c.get("fraction_of_matmul"), "ms": c.get("ms")}
             for c in checks if isinstance(c, dict) and c.get("tflops")]
    summary = {"script_seconds": script, "verify_seconds": verify, "script_median": round(ms, 2),
               "verify_median": round(mv, 2), "ratio": round(mv / ms, 3), "target_ratio": 1.5,
               "throughput": rates, "script_output": last_script, "cpus": os.cpu_count()}
    print(f"\nverify {mv:.2f} s vs one-process script {ms:.2f} s: ratio {mv / ms:.2f} (target <= 1.5)")
    for r in rates:
        frac = f"{r['fraction_of_matmul']:.0%}" if isinstance(r["fraction_of_matmul"], float) else ""
        print(f"  {r['check']:34} {r['tflops']:8.1f} TFLOP/s  {frac}")
    # Per-backend rates of the one-process script (its "NAME: ok X TFLOP/s" lines) beside verify's,
    # from the same run: every verify figure is measured with the GPU to itself, so they should agree.
    script_rates = {m.group(1): float(m.group(2))
                    for m in re.finditer(r"^(\S+): ok (?:\S+ )?([0-9.]+) TFLOP/s", last_script, re.M)}
    names = {"torch/matmul_bf16": "matmul_bf16", "torch/sdpa_flash": "sdpa_flash",
             "torch/sdpa_efficient": "sdpa_efficient", "torch/sdpa_cudnn": "sdpa_cudnn",
             "torch/sdpa_math": "sdpa_math", "xformers/memory_efficient_attention": "xformers",
             "flash-attn-4/flash_attn_func": "flash-attn-4"}
    agreement = []
    for r in rates:
        other = script_rates.get(names.get(str(r["check"]), ""))
        if other and r["tflops"]:
            ratio = float(r["tflops"]) / other
            agreement.append({"check": r["check"], "verify": r["tflops"], "script": other, "ratio": round(ratio, 3)})
            print(f"  {r['check']:34} verify {r['tflops']:8.1f} vs script {other:8.1f} TFLOP/s: "
                  f"{ratio:.3f} ({'within' if abs(ratio - 1) <= 0.05 else 'outside'} 5%)")
    summary["agreement"] = agreement
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "verify": last_json}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
