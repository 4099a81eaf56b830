"""How fast ``attnlock db matrix`` is over every torch build, and how large the page is.

Run: python benchmarks/bench_matrix.py [--repeat N]
Prints medians over N runs, each in a fresh process (what a user pays), of:
  * the matrix itself: loading the shipped database and building every row (all torch builds, every
    default column) in process — for Python any and for Python 3.12, and with a GPU (two candidate
    sources: the GPU's and the any-GPU one, to mark what the GPU cannot run);
  * ``attnlock db matrix`` end to end (interpreter start, imports, text output);
  * the HTML page (every platform × Python view × GPU) and its size in bytes.
Targets (issue 17): the matrix for every torch build <= 300 ms; the page <= 1 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_IN_PROCESS = """
import sys, time
t0 = time.perf_counter()
from attnlock import database
from attnlock.matrix import table
from attnlock.target import target_from_args
import argparse
ns = argparse.Namespace(torch=None, cuda=None, python=sys.argv[1] or None, platform=None, gpu=sys.argv[2] or None)
m = table.build(database.load(None), target_from_args(ns, environ={}, use_detection=False))
print(time.perf_counter() - t0, len(m.rows), len(m.packages))
"""


def _fresh(argv: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *argv], check=True, capture_output=True, text=True, env=env, timeout=300)
    return time.perf_counter() - t0, out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'what':72} {'median':>9}")
    for python, gpu in (("", ""), ("3.12", ""), ("3.12", "A100")):
        times, shape = [], ""
        for _ in range(args.repeat):
            _wall, out = _fresh(["-c", _IN_PROCESS, python, gpu])
            secs, rows, cols = out.split()
            times.append(float(secs))
            shape = f"{rows} torch builds × {cols} packages"
        label = f"matrix in process, Python {python or 'any'}, GPU {gpu or 'any'} ({shape})"
        print(f"{label:72} {statistics.median(times) * 1000:7.0f} ms")
    walls = [_fresh(["-m", "attnlock", "db", "matrix"])[0] for _ in range(args.repeat)]
    print(f"{'attnlock db matrix (fresh process, text)':72} {statistics.median(walls) * 1000:7.0f} ms")
    page = Path(os.environ.get("TMPDIR", "/tmp")) / "attnlock-bench-matrix.html"
    wall, _ = _fresh(["-m", "attnlock.matrix", str(page)])
    print(f"{'the HTML page (every view and GPU)':72} {wall * 1000:7.0f} ms  {page.stat().st_size:,} bytes")
    page.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
