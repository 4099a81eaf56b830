"""Benchmark: ``attnlock detect --json`` against ``python -m torch.utils.collect_env``, side by side, same run.

Usage::

    python benchmarks/bench_detect.py [--runs N] [--python PATH] [--json]

Both commands run as fresh processes of the same interpreter (``--python``,
default this one), alternately, N times each; the table shows the median,
minimum and maximum wall time from start to exit, and the ratio of the
medians.  ``collect_env`` is the tool users run today for the same facts; it
imports torch.  One untimed run of each first warms the page cache and writes
bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped for the children).  Target (issue 2): detect at least 20× faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_NO_PARSER = ("import argparse, attnlock.commands.detect as d; "
              "d.run(argparse.Namespace(json=True, all_tags=False))")


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode(errors='replace')}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose environment is described")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON too")
    args = parser.parse_args(argv)

    # Bytecode is allowed so the untimed warm-up leaves attnlock's .pyc files as an installed
    # wheel has them (torch's came with its install): a fair comparison of two installed tools.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNLOCK_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    commands = {
        "attnlock detect --json": [args.python, "-m", "attnlock", "detect", "--json"],
        "python -m torch.utils.collect_env": [args.python, "-m", "torch.utils.collect_env"],
        # for scale: the same detection without building the CLI parser, and a bare interpreter
        "(detect --json, no CLI parser)": [args.python, "-c", _NO_PARSER],
        "(python -c pass)": [args.python, "-c", "pass"],
    }
    for argv_ in commands.values():  # warm the page cache for both, untimed
        _time(argv_, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv_ in commands.items():
            samples[name].append(_time(argv_, env))

    medians = {name: statistics.median(s) for name, s in samples.items()}
    width = max(len(n) for n in commands)
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>8}  {'max ms':>8}  runs")
    for name, s in samples.items():
        print(f"{name:<{width}}  {medians[name] * 1000:9.1f}  {min(s) * 1000:8.1f}  {max(s) * 1000:8.1f}  {len(s)}")
    detect_ms, collect_ms = (medians[n] for n in list(commands)[:2])
    ratio = collect_ms / detect_ms
    print(f"\nattnlock detect is {ratio:.1f}x faster than torch.utils.collect_env (median vs median; target >= 20x)")
    print(f"interpreter: {args.python}")
    if args.json:
        print(json.dumps({"runs": args.runs, "python": args.python,
                          "samples_s": samples, "median_s": medians, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
