"""``attnlock check`` and ``generate`` (which now resolve through one model) beside ``uv pip compile``.

    python benchmarks/bench_one_model.py [--runs 9]

Each row pair runs alternately (A B A B …) as fresh processes; medians and the ratio of medians are
printed.  attnlock answers from the shipped data/; uv resolves the same requirement file against a
local index of stub wheels built from tests/fixtures/resolver/db (tests/support), warm cache,
``--offline``.  uv answers a narrower question (metadata ranges only; no build info, windows, GPUs
or known-bad combinations).  Targets (issue 11/15): check ≤ 1.5× uv on a pinned file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILES = {
    "pinned (torch, xformers, triton)": "torch==2.3.1\nxformers==0.0.27\ntriton==2.3.1\n",
    "ranges (torch<2.4, xformers)": "torch<2.4\nxformers\n",
}


def _env() -> dict[str, str]:
    from tests.support.installers import installer_env

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = installer_env({"PYTHONPATH": path})
    env.pop("ATTNLOCK_DATA_DIR", None)
    return env


def _once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:5]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def _pair(a: list[str], b: list[str], runs: int, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    ta, tb = [], []
    _once(a, env, cwd)
    _once(b, env, cwd)
    for _ in range(runs):
        ta.append(_once(a, env, cwd))
        tb.append(_once(b, env, cwd))
    return statistics.median(ta) * 1000, statistics.median(tb) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    env = _env()
    rows = ["| question | attnlock ms | uv pip compile ms | ratio |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="attnlock-bench-") as tmp_s:
        tmp = Path(tmp_s)
        from tests.support.index import serve
        from tests.support.installers import find_uv, uv_cache_args
        from tests.test_installers_generate import _build_world

        uv = find_uv()
        if uv is None:
            raise SystemExit("uv not found: pip install uv")
        root, _build, _gh = _build_world(tmp)
        with serve(root) as server:
            uv_base = [uv, "pip", "compile", "--quiet", "--index-url", f"{server.url}/pypi/",
                       "--extra-index-url", f"{server.url}/whl/cu121/", "--python-version", "3.11",
                       "--python-platform", "x86_64-manylinux_2_28", *uv_cache_args(tmp)]
            for name, text in FILES.items():
                req = tmp / "requirements.txt"
                req.write_text(text)
                subprocess.run([*uv_base, str(req)], env=env, capture_output=True, timeout=120, check=False)
                a = [sys.executable, "-m", "attnlock", "check", "--python", "3.11", "--platform", "linux-x86_64",
                     str(req)]
                ma, mb = _pair(a, [*uv_base, "--offline", str(req)], args.runs, env, tmp)
                rows.append(f"| check {name} | {ma:.0f} | {mb:.0f} | {ma / mb:.2f}× |")
            req = tmp / "stack.in"
            req.write_text("torch==2.3.1\nxformers\ntriton\n")
            subprocess.run([*uv_base, str(req)], env=env, capture_output=True, timeout=120, check=False)
            gen = [sys.executable, "-m", "attnlock", "generate", "--torch", "2.3.1", "--cuda", "cu121", "--python",
                   "3.11", "--platform", "linux-x86_64", "--gpu", "sm_80", "--with", "torch,xformers,triton"]
            ma, mb = _pair(gen, [*uv_base, "--offline", str(req)], args.runs, env, tmp)
            rows.append(f"| generate --with torch,xformers,triton | {ma:.0f} | {mb:.0f} | {ma / mb:.2f}× |")
    base = statistics.median(_once([sys.executable, "-c", "pass"], env, ROOT) * 1000 for _ in range(5))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"`python -c pass` {base:.0f} ms; medians of {args.runs} alternating runs")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
