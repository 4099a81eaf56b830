"""Benchmark: ``attnlock detect --json`` against ``python -m torch.utils.collect_env``, side by side, same run.

Usage::

    python benchmarks/bench_detect.py [--runs N] [--python PATH] [--baseline DIR] [--json]

Every command runs as a fresh process of the same interpreter (``--python``, default this one),
in turn, N times each; the table shows the median, minimum and maximum wall time from start to
exit, and how many times faster than ``collect_env`` each row is (ratio of the medians).
``collect_env`` is the tool users run today for the same facts; it imports torch.  With
``--baseline DIR`` (another checkout, e.g. ``git archive <commit> | tar -x -C /tmp/base``) its
``attnlock detect --json`` is timed too, in the same rotation.  One untimed run of each first warms
the page cache and writes bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped for the children; the
bytecode goes under a temporary ``PYTHONPYCACHEPREFIX``, so the checkouts stay clean).
Target (issue 2): detect at least 20x faster than collect_env.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_NO_PARSER = ("import argparse, attnlock.commands.detect as d; "
              "d.run(argparse.Namespace(json=True, all_tags=False))")


def _time(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    # cwd outside every checkout: ``python -m`` puts the working directory first on sys.path.
    result = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode(errors='replace')}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose environment is described")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout whose detect is timed beside this one")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON too")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="attnlock-bench-detect-") as tmp:
        # Bytecode is allowed so the untimed warm-up leaves attnlock's .pyc files as an installed
        # wheel has them (torch's came with its install): a fair comparison of two installed tools.
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("ATTNLOCK_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        base_env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")

        def env_for(root: Path) -> dict[str, str]:
            return dict(base_env, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))

        this_env = env_for(REPO)
        detect = [args.python, "-m", "attnlock", "detect", "--json"]
        commands: dict[str, tuple[list[str], dict[str, str]]] = {"attnlock detect --json": (detect, this_env)}
        if args.baseline:
            commands["attnlock detect --json (baseline)"] = (detect, env_for(Path(args.baseline).resolve()))
        commands.update({
            "python -m torch.utils.collect_env": ([args.python, "-m", "torch.utils.collect_env"], this_env),
            # for scale: the same detection without the CLI parser, and a bare interpreter
            "(detect --json, no CLI parser)": ([args.python, "-c", _NO_PARSER], this_env),
            "(python -c pass)": ([args.python, "-c", "pass"], this_env),
        })
        for argv_, env in commands.values():  # warm the page cache and the bytecode, untimed
            _time(argv_, env, tmp)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (argv_, env) in commands.items():
                samples[name].append(_time(argv_, env, tmp))

    medians = {name: statistics.median(s) for name, s in samples.items()}
    collect = medians["python -m torch.utils.collect_env"]
    width = max(len(n) for n in commands)
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>8}  {'max ms':>8}  {'collect_env/this':>16}  runs")
    for name, s in samples.items():
        print(f"{name:<{width}}  {medians[name] * 1000:9.1f}  {min(s) * 1000:8.1f}  {max(s) * 1000:8.1f}  "
              f"{collect / medians[name]:15.1f}x  {len(s)}")
    ratio = collect / medians["attnlock detect --json"]
    print(f"\nattnlock detect is {ratio:.1f}x faster than torch.utils.collect_env (median vs median; target >= 20x)")
    if args.baseline:
        base_ratio = collect / medians["attnlock detect --json (baseline)"]
        print(f"baseline ({args.baseline}): {base_ratio:.1f}x")
    print(f"interpreter: {args.python}")
    if args.json:
        print(json.dumps({"runs": args.runs, "python": args.python,
                          "samples_s": samples, "median_s": medians, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
