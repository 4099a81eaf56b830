"""Benchmark `attnlock generate` beside `uv pip compile` of the same requirement set, and the
regeneration of constraints/.

    python benchmarks/bench_generate.py [--runs 15]

1. `attnlock generate` as a user runs it (a fresh process, the shipped data/), median of N runs,
   for an explicit attention stack and for the default package set.
2. Side by side on a local index of stub wheels built from tests/fixtures/resolver/db:
   `attnlock generate` (fixture database) vs `uv pip compile` of the same packages (warm cache,
   the same local PyPI-like and PyTorch-like indexes).  uv answers a narrower question: it
   resolves version ranges from metadata; it knows nothing of build info, wheel labels, GPUs or
   drivers.
3. Regenerating all of constraints/ (in a fresh process, into a temporary directory).

Budgets (issue 4): generate median ≤ 150 ms on the 2-core development machine; constraints/
≤ 10 s.  Results are printed as a table; nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = ["--torch", "2.3.1", "--cuda", "cu118", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}",
          "--platform", "linux-x86_64", "--gpu", "sm_80", "--driver", "535.104.05"]


def _env(**extra: str) -> dict[str, str]:
    from tests.support.installers import installer_env

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return installer_env({"PYTHONPATH": path, **extra})


def _time(argv: list[str], runs: int, env: dict[str, str], cwd: Path | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False)
        out.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{argv[:4]} failed:\n{proc.stderr}")
    return out


def _row(name: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"| {name} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} | {len(ms)} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    gen = [sys.executable, "-m", "attnlock", "generate"]
    rows = ["| what | median ms | min ms | max ms | runs |", "|---|---|---|---|---|"]

    real = _env()
    real.pop("ATTNLOCK_DATA_DIR", None)
    rows.append(_row("attnlock generate (data/, torch,xformers,flash-attn)",
                     _time([*gen, *TARGET, "--with", "torch,xformers,flash-attn"], args.runs, real)))
    rows.append(_row("attnlock generate (data/, default package set)",
                     _time([*gen, *TARGET], max(3, args.runs // 3), real)))

    with tempfile.TemporaryDirectory(prefix="attnlock-bench-") as tmp_s:
        tmp = Path(tmp_s)
        from tests.support.index import serve
        from tests.support.installers import find_uv, uv_cache_args
        from tests.test_installers_generate import FIXTURE_DB, _build_world

        root, _build, _gh = _build_world(tmp)
        with serve(root) as server:
            db_dir = tmp / "db"
            shutil.copytree(FIXTURE_DB, db_dir)
            toml = db_dir / "curated" / "torch.toml"
            toml.write_text(toml.read_text().replace("https://download.pytorch.org/whl/{variant}",
                                                     f"{server.url}/whl/{{variant}}/"))
            fixture = _env(ATTNLOCK_DATA_DIR=str(db_dir))
            c = tmp / "constraints.txt"
            subprocess.run([*gen, *TARGET, "--with", "torch,xformers", "-o", str(c)], env=fixture, check=True,
                           capture_output=True, timeout=120)
            rows.append(_row("attnlock generate (fixture db, torch,xformers)",
                             _time([*gen, *TARGET, "--with", "torch,xformers"], args.runs, fixture)))
            uv = find_uv()
            if uv is not None:
                req = tmp / "req.in"
                req.write_text("torch\nxformers\n")
                base = [uv, "pip", "compile", str(req), "--quiet", "--index-url", f"{server.url}/pypi/",
                        "--python-version", TARGET[5], "--python-platform", "x86_64-manylinux_2_28",
                        *uv_cache_args(tmp)]
                _time(base, 1, _env())  # warm the cache
                rows.append(_row("uv pip compile torch xformers (local index, warm)", _time(base, args.runs, _env())))
                rows.append(_row("uv pip compile -c attnlock's constraints (local index, warm)",
                                 _time([*base, "-c", str(c)], args.runs, _env())))
        out_dir = tmp / "constraints"
        rows.append(_row("regenerate constraints/ (python -m attnlock.emit.popular)",
                         _time([sys.executable, "-m", "attnlock.emit.popular", str(out_dir)], 3, real)))
        count = len(list(out_dir.glob("*.txt")))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"constraints/ files: {count}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
