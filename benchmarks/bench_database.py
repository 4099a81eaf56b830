"""How long loading the database costs: each derived package's first use and every curated file.

Run: python benchmarks/bench_database.py [--repeat N]
Prints the median over N fresh interpreters (the cost a command pays once per run) of:
  * opening the database and reading one package (xformers) as generate/check first do,
  * reading every derived and curated file (the worst case: `db validate` territory),
and the in-process median of the same, beside a bare `python -c pass` start for scale.
Target (issue 3): loading ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

ONE = "import attnlock.database as d; db = d.load(); db.releases('xformers'); db.releases('torch')"
ALL = ("import attnlock.database as d; db = d.load(); [db.releases(p) for p in db.packages()]; "
       "[db.curated_raw(s) for s in db.curated_files()]; db.toolkits(); db.gpus(); db.known_bad()")
TIMED = ("import time; t = time.perf_counter(); {body}; "
         "print((time.perf_counter() - t) * 1000)")


def _inproc(body: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", TIMED.format(body=body)], capture_output=True, text=True,
                             check=True).stdout
        samples.append(float(out.strip().splitlines()[-1]))
    return statistics.median(samples)


def _wall(argv: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    n = ap.parse_args().repeat
    rows = [
        ("load + torch + xformers (in process)", _inproc(ONE, n)),
        ("load everything (in process)", _inproc(ALL, n)),
        ("python -c pass (whole process)", _wall([sys.executable, "-c", "pass"], n)),
        ("load + torch + xformers (whole process)", _wall([sys.executable, "-c", ONE], n)),
    ]
    print(f"{'measurement':<44} {'median ms':>10}   (n={n})")
    for name, ms in rows:
        print(f"{name:<44} {ms:>10.1f}")


if __name__ == "__main__":
    main()
