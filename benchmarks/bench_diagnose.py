"""Benchmark: ``attnlock diagnose`` on a generated 10 MB log, each run a fresh process.

Usage::

    python benchmarks/bench_diagnose.py [--runs N] [--mib M] [--json]

The log is a training/CI log of M MiB (default 10): pip output, progress lines, warnings and
tracebacks that match nothing, with real error texts from the corpus (a CPU-only torch, an
xformers build for another torch, a bitsandbytes without GPU support) spread through it, so
the prefilter, the normalisation and the matching patterns all run.  Each run is
``python -m attnlock diagnose LOG --json`` in a fresh interpreter (startup, imports, loading
the signatures and the database included); the table shows median, minimum and maximum wall
time over N runs (default 7), after one untimed warm-up that writes the bytecode.  Also timed,
for scale: ``python -c pass`` and the same diagnose on a 200 MiB log (streamed excerpt) with
``--big``.  Target (issue 12): at most 1 s for 10 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "fixtures" / "logs" / "corpus"
ERRORS = ("torch-cpu-detectron2-460.log", "xformers-built-for-pia-30.log", "bnb-cpu-only-bnb-176.log")
NOISE = (
    "Requirement already satisfied: numpy in /usr/local/lib/python3.10/dist-packages (from xformers==0.0.19) (1.22.4)",
    "  Downloading torch-2.3.1-cp310-cp310-manylinux1_x86_64.whl (779.1 MB)",
    "     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 779.1/779.1 MB 2.8 MB/s eta 0:00:00",
    "2024-05-01 12:00:00,123 INFO trainer: epoch 3 step 1200 loss=0.4312 lr=2e-05 grad_norm=1.02",
    "\x1b[32m[2024-05-01 12:00:01]\x1b[0m saving checkpoint to /data/run-17/checkpoint-1200",
    "/usr/local/lib/python3.10/dist-packages/transformers/utils/generic.py:441: FutureWarning: "
    "`torch.utils._pytree._register_pytree_node` is deprecated.",
    "  File \"/usr/local/lib/python3.10/dist-packages/accelerate/accelerator.py\", line 1213, in prepare",
    "100%|██████████| 1563/1563 [02:13<00:00, 11.71it/s]",
)


def make_log(path: Path, mib: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    errors = [(CORPUS / name).read_text(encoding="utf-8") for name in ERRORS]
    target = mib * 1024 * 1024
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        size = 0
        marks = {int(target * f) for f in (0.2, 0.5, 0.9)}
        pending = sorted(marks)
        while size < target:
            if pending and size >= pending[0]:
                chunk = errors[len(marks) - len(pending)]
                pending.pop(0)
            else:
                chunk = "\n".join(rng.choice(NOISE) for _ in range(64)) + "\n"
            fh.write(chunk)
            size += len(chunk.encode("utf-8"))


def _time(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode(errors='replace')}")
    if argv[-1] == "--json" and result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} recognised nothing:\n{result.stderr.decode(errors='replace')}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument("--mib", type=int, default=10, help="size of the generated log in MiB (default 10)")
    parser.add_argument("--big", action="store_true", help="also time a 200 MiB log (streamed excerpt)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON too")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="attnlock-bench-diagnose-") as tmp:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ATTNLOCK_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        log = Path(tmp) / f"train-{args.mib}mib.log"
        make_log(log, args.mib)
        commands = {
            f"attnlock diagnose ({args.mib} MiB log)": [sys.executable, "-m", "attnlock", "diagnose", str(log), "--json"],
            "(python -c pass)": [sys.executable, "-c", "pass"],
        }
        if args.big:
            big = Path(tmp) / "ci-200mib.log"
            make_log(big, 200)
            commands["attnlock diagnose (200 MiB log)"] = [sys.executable, "-m", "attnlock", "diagnose",
                                                           str(big), "--json"]
        for cmd in commands.values():  # warm the page cache and the bytecode, untimed
            _time(cmd, env, tmp)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(_time(cmd, env, tmp))

    width = max(len(n) for n in samples)
    print(f"{'command':{width}}  median    min      max     (runs: {args.runs})")
    for name, times in samples.items():
        print(f"{name:{width}}  {statistics.median(times):6.3f}s  {min(times):6.3f}s  {max(times):6.3f}s")
    headline = statistics.median(next(iter(samples.values())))
    print(f"\ntarget: <= 1.000 s for a 10 MB log; measured median {headline:.3f} s")
    if args.json:
        print(json.dumps({name: {"median": statistics.median(t), "min": min(t), "max": max(t), "runs": t}
                          for name, t in samples.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
