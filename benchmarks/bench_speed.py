"""Issue 15's speed targets in one run: attnlock beside the tool a user would otherwise run.

    python benchmarks/bench_speed.py [--runs 9] [--skip-detect] [--skip-constraints]

Rows (every command a fresh process; pairs run alternately, A B A B …; medians):
  * ``generate --with torch,xformers,triton`` and ``check`` on a pinned and on a ranged requirements
    file, each beside ``uv pip compile --offline`` of the same packages, warm cache, on a local index of
    stub wheels built from tests/fixtures/resolver/db (tests/support).  uv answers a narrower question
    (metadata ranges only: no builds, ABI windows, GPUs, drivers or known-bad combinations).
    Targets: ≤ 1.5× uv.
  * ``generate`` with the default package set: wall time and peak memory (the child's ru_maxrss).
    Targets: ≤ 100 ms, ≤ 40 MiB.
  * loading the whole database (every derived and curated file, typed releases) inside a fresh
    interpreter, compiled entries warm.  Target: ≤ 30 ms.
  * ``detect --json`` beside ``python -m torch.utils.collect_env`` (needs torch).  Target: ≥ 50× faster.
  * regenerating every file of ``constraints/`` (``python -m attnlock.emit.popular``).  Target: ≤ 5 s.

The children get bytecode under a temporary ``PYTHONPYCACHEPREFIX`` (an installed package has its
bytecode; ``PYTHONDONTWRITEBYTECODE`` is dropped) and a private ``XDG_CACHE_HOME`` that the first,
untimed run of each command fills (the compiled database, as after a first run).
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

TARGET = ["--python", "3.11", "--platform", "linux-x86_64"]
FILES = {
    "check, pinned file (torch, xformers, triton)": "torch==2.3.1\nxformers==0.0.27\ntriton==2.3.1\n",
    "check, ranges (torch<2.4, xformers)": "torch<2.4\nxformers\n",
}
LOAD_ALL = ("import time; t0 = time.perf_counter(); import attnlock.database as d; t1 = time.perf_counter(); "
            "db = d.load(); [db.releases(p) for p in db.packages()]; "
            "[db.curated_raw(s) for s in db.curated_files()]; db.toolkits(); db.gpus(); "
            "t2 = time.perf_counter(); print((t2 - t1) * 1000)")


def _env(tmp: Path) -> dict[str, str]:
    from tests.support.installers import installer_env

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = installer_env({"PYTHONPATH": path, "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
                         "XDG_CACHE_HOME": str(tmp / "xdg-cache")})
    for k in ("ATTNLOCK_DATA_DIR", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)
    return env


def _once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall ms, peak MiB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code not in (0, 1):
        raise SystemExit(f"{argv[:6]} failed ({code}):\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def _pair(a: list[str], b: list[str], runs: int, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    _once(a, env, cwd)
    _once(b, env, cwd)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(_once(a, env, cwd)[0])
        tb.append(_once(b, env, cwd)[0])
    return statistics.median(ta), statistics.median(tb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--skip-detect", action="store_true", help="leave out detect vs collect_env (needs torch)")
    parser.add_argument("--skip-constraints", action="store_true", help="leave out regenerating constraints/")
    args = parser.parse_args()
    rows = ["| question | attnlock | the alternative | ratio | target |", "|---|---|---|---|---|"]
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="attnlock-bench-") as tmp_s:
        tmp = Path(tmp_s)
        env = _env(tmp)
        from tests.support.index import serve
        from tests.support.installers import find_uv, uv_cache_args
        from tests.test_installers_generate import _build_world

        uv = find_uv()
        if uv is None:
            raise SystemExit("uv not found: pip install uv")
        root, _build, _gh = _build_world(tmp)
        with serve(root) as server:
            # --python names this interpreter: with only --python-version, uv searches PATH for a
            # Python 3.11 and (under pyenv) runs a shim script each time, ~90 ms that are not uv's own.
            uv_base = [uv, "pip", "compile", "--quiet", "--index-url", f"{server.url}/pypi/",
                       "--extra-index-url", f"{server.url}/whl/cu121/", "--python", sys.executable,
                       "--python-platform", "x86_64-manylinux_2_28", *uv_cache_args(tmp)]
            req = tmp / "stack.in"
            req.write_text("torch==2.3.1\nxformers\ntriton\n")
            subprocess.run([*uv_base, str(req)], env=env, capture_output=True, timeout=120, check=False)
            gen = [py, "-m", "attnlock", "generate", "--torch", "2.3.1", "--cuda", "cu121", *TARGET,
                   "--gpu", "sm_80", "--with", "torch,xformers,triton"]
            ma, mb = _pair(gen, [*uv_base, "--offline", str(req)], args.runs, env, tmp)
            rows.append(f"| generate --with torch,xformers,triton | {ma:.0f} ms | uv pip compile --offline "
                        f"(torch==2.3.1, xformers, triton): {mb:.0f} ms | {ma / mb:.2f}× | ≤ 1.5× |")
            for name, text in FILES.items():
                req = tmp / "requirements.txt"
                req.write_text(text)
                subprocess.run([*uv_base, str(req)], env=env, capture_output=True, timeout=120, check=False)
                ma, mb = _pair([py, "-m", "attnlock", "check", *TARGET, str(req)],
                               [*uv_base, "--offline", str(req)], args.runs, env, tmp)
                rows.append(f"| {name} | {ma:.0f} ms | uv pip compile --offline, same file: {mb:.0f} ms | "
                            f"{ma / mb:.2f}× | ≤ 1.5× |")
        floor = [py, "-c", "import packaging.specifiers, packaging.markers, packaging.version, resolvelib"]
        _once(floor, env, tmp)
        floor_ms = statistics.median(_once(floor, env, tmp)[0] for _ in range(args.runs))
        rows.append(f"| floor: python + packaging + resolvelib imports, no work | {floor_ms:.0f} ms | — | — | — |")
        default = [py, "-m", "attnlock", "generate", "--torch", "2.8.0", "--cuda", "cu128", "--python", "3.11",
                   "--gpu", "H100"]
        _once(default, env, tmp)
        samples = [_once(default, env, tmp) for _ in range(args.runs)]
        ms = statistics.median(s[0] for s in samples)
        mib = max(s[1] for s in samples)
        rows.append(f"| generate, default package set (torch 2.8.0, cu128, H100) | {ms:.0f} ms, peak {mib:.1f} MiB "
                    f"| — | — | ≤ 100 ms, ≤ 40 MiB |")
        loads = []
        for _ in range(args.runs):
            out = subprocess.run([py, "-c", LOAD_ALL], env=env, cwd=tmp, capture_output=True, text=True,
                                 timeout=300, check=True).stdout
            loads.append(float(out.strip().splitlines()[-1]))
        rows.append(f"| load the whole database (in process, compiled entries warm) | "
                    f"{statistics.median(loads):.1f} ms | — | — | ≤ 30 ms |")
        if not args.skip_detect:
            try:
                import torch  # noqa: F401
            except ImportError:
                rows.append("| detect --json | skipped: torch is not installed (collect_env needs it) | | | |")
            else:
                runs = max(3, args.runs // 3)
                ma, mb = _pair([py, "-m", "attnlock", "detect", "--json"], [py, "-m", "torch.utils.collect_env"],
                               runs, env, tmp)
                rows.append(f"| detect --json | {ma:.0f} ms | python -m torch.utils.collect_env: {mb:.0f} ms | "
                            f"{mb / ma:.1f}× faster | ≥ 50× faster |")
        if not args.skip_constraints:
            out_dir = tmp / "constraints"
            t0 = time.perf_counter()
            subprocess.run([py, "-m", "attnlock.emit.popular", str(out_dir)], env=env, cwd=ROOT,
                           capture_output=True, timeout=600, check=True)
            secs = time.perf_counter() - t0
            n = len(list(out_dir.iterdir()))
            rows.append(f"| regenerate constraints/ ({n} files, one process) | {secs:.2f} s | — | — | ≤ 5 s |")
    pass_ms = statistics.median(_once([py, "-c", "pass"], env, ROOT)[0] for _ in range(5))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"`python -c pass` {pass_ms:.0f} ms; medians of {args.runs} runs (pairs alternating)")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
