"""How long loading the database costs, side by side with another checkout (``--baseline``) when given.

Run: python benchmarks/bench_database.py [--repeat N] [--baseline DIR] [--data-dir DIR]

Every measurement runs in a fresh interpreter (the cost a command pays once per run), timed inside
the process after ``import attnlock.database`` (itself a row); the table shows the median over N
runs for this checkout and, with ``--baseline`` (e.g. an export of an older commit:
``git archive <commit> | tar -x -C /tmp/base``), for that one, with the ratio baseline/this.
Both read the same data/ (this checkout's, or ``--data-dir``), so only the code differs.

Rows:
  * ``load + torch + xformers``: open the database and read two packages, as generate/check first do;
  * ``curated flash_attn.toml`` and ``load everything`` (every derived and curated file), with the
    TOML cache cold (an empty ``XDG_CACHE_HOME`` per run: parse and write) and warm;
  * unsloth (7 MB of JSON, 579 Requires-Dist lines per release): reading its releases, the newest
    release's requirements, ``requirement_on('torch')`` and ``requirements()`` on every release;
  * 20,000 ``db.release(name, version)`` look-ups;
  * whole processes: ``python -c pass`` and ``load + torch + xformers``.
Target (issue 3): loading <= 30 ms.  Compiled bytecode is cached under a temporary directory
(an installed package has it) and warmed once per checkout.
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

ONE = "db = d.load(); db.releases('xformers'); db.releases('torch')"
FLASH = "db = d.load(); db.curated_raw('flash_attn')"
ALL = ("db = d.load(); [db.releases(p) for p in db.packages()]; "
       "[db.curated_raw(s) for s in db.curated_files()]; db.toolkits(); db.gpus(); db.known_bad()")
UNSLOTH_LOAD = "db = d.load(); db.releases('unsloth')"
UNSLOTH_NEWEST = "db = d.load(); db.releases('unsloth')[-1].requirements()"
UNSLOTH_ON = "db = d.load(); [r.requirement_on('torch') for r in db.releases('unsloth')]"
UNSLOTH_ALL = "db = d.load(); [r.requirements() for r in db.releases('unsloth')]"
RELEASE = ("db = d.load(); vs = [r.version for r in db.releases('torch')] * 100; vs = vs[:20000]; "
           "[db.release('torch', v) for v in vs]")
TIMED = ("import time; t0 = time.perf_counter(); import attnlock.database as d; t1 = time.perf_counter(); "
         "{body}; t2 = time.perf_counter(); print((t1 - t0) * 1000, (t2 - t1) * 1000)")


def _env(root: Path, data: Path, pycache: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ATTNLOCK_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env.update(PYTHONPATH=str(root), ATTNLOCK_DATA_DIR=str(data), PYTHONPYCACHEPREFIX=str(pycache),
               XDG_CACHE_HOME=str(cache))
    return env


def _inproc_once(body: str, env: dict[str, str], cwd: Path, cold: Path | None, *, import_only: bool = False) -> float:
    run_env = dict(env)
    if cold is not None:
        run_env["XDG_CACHE_HOME"] = str(cold)  # empty: the TOML cache is parsed and written
    out = subprocess.run([sys.executable, "-c", TIMED.format(body=body)], capture_output=True, text=True,
                         env=run_env, cwd=cwd, check=True, timeout=600).stdout
    if cold is not None:
        shutil.rmtree(cold, ignore_errors=True)
    import_ms, body_ms = (float(x) for x in out.strip().splitlines()[-1].split())
    return import_ms if import_only else body_ms


def _wall_once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=cwd, timeout=600)
    return (time.perf_counter() - t) * 1000


# name, what to run (a body timed in process, or a whole process), cold TOML cache, heavy
ROWS: list[tuple[str, str, bool, bool]] = [
    ("import attnlock.database", "pass", False, False),
    ("load + torch + xformers", ONE, False, False),
    ("curated flash_attn.toml, cache cold", FLASH, True, False),
    ("curated flash_attn.toml, cache warm", FLASH, False, False),
    ("load everything, cache cold", ALL, True, False),
    ("load everything, cache warm", ALL, False, False),
    ("unsloth: releases()", UNSLOTH_LOAD, False, False),
    ("unsloth: newest release requirements()", UNSLOTH_NEWEST, False, False),
    ("unsloth: requirement_on('torch'), all releases", UNSLOTH_ON, False, True),
    ("unsloth: requirements(), all releases", UNSLOTH_ALL, False, True),
    ("torch: 20,000 db.release() look-ups", RELEASE, False, True),
    ("process: python -c pass", "pass", False, False),
    ("process: load + torch + xformers", "import attnlock.database as d; " + ONE, False, False),
]


def _measure(roots: list[Path], data: Path, n: int, heavy: int, tmp: Path) -> dict[Path, dict[str, float]]:
    """Median per row and checkout; the checkouts' runs alternate so both see the same machine load."""
    envs = {}
    for i, root in enumerate(roots):
        work = tmp / f"c{i}"
        work.mkdir()
        envs[root] = (_env(root, data, tmp / f"pycache-{i}", work / "warm-cache"), work)
        subprocess.run([sys.executable, "-c", TIMED.format(body=ALL)], env=envs[root][0], cwd=work, check=True,
                       capture_output=True, timeout=600)  # bytecode and the warm TOML cache
    out: dict[Path, dict[str, float]] = {root: {} for root in roots}
    for name, body, cold, is_heavy in ROWS:
        samples: dict[Path, list[float]] = {root: [] for root in roots}
        for k in range(heavy if is_heavy else n):
            for root in roots:
                env, work = envs[root]
                if name.startswith("process:"):
                    samples[root].append(_wall_once([sys.executable, "-c", body], env, work))
                else:
                    samples[root].append(_inproc_once(body, env, work, work / f"cold-{k}" if cold else None,
                                                      import_only=name.startswith("import ")))
        for root in roots:
            out[root][name] = statistics.median(samples[root])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="fresh interpreters per row (default 15)")
    ap.add_argument("--heavy-repeat", type=int, default=3,
                    help="runs of the rows that take seconds on old code (default 3)")
    ap.add_argument("--baseline", metavar="DIR", help="another checkout (its attnlock/) to compare with")
    ap.add_argument("--data-dir", metavar="DIR", default=str(ROOT / "data"), help="the data/ both read")
    args = ap.parse_args()
    data = Path(args.data_dir).resolve()
    roots = [ROOT] + ([Path(args.baseline).resolve()] if args.baseline else [])
    with tempfile.TemporaryDirectory(prefix="attnlock-bench-db-") as tmp_name:
        results = _measure(roots, data, args.repeat, args.heavy_repeat, Path(tmp_name))

    this = results[ROOT]
    width = max(len(k) for k in this)
    head = f"{'median ms':>10}" if not args.baseline else f"{'baseline':>10} {'this':>10} {'speed-up':>9}"
    print(f"{'measurement':<{width}} {head}   (n={args.repeat}; heavy rows n={args.heavy_repeat})")
    for name, ms in this.items():
        if args.baseline:
            base = results[roots[1]][name]
            print(f"{name:<{width}} {base:>10.1f} {ms:>10.1f} {base / ms:>8.1f}x")
        else:
            print(f"{name:<{width}} {ms:>10.1f}")
    print(f"\nthis checkout: {ROOT}" + (f"\nbaseline:      {roots[1]}" if args.baseline else ""))
    print(f"data:          {data}")
    print("target (issue 3): load + torch + xformers and load everything (warm) <= 30 ms")


if __name__ == "__main__":
    main()
