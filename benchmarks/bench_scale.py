"""How ``attnlock check`` scales with the size of one file (issue 16: <= 1 s per 10k lines, bounded memory).

Run: python benchmarks/bench_scale.py [--lines 10000,100000] [--data-dir DIR]
Each case runs in a fresh process: the readers plus the duplicate-pin pass alone, then the whole
``check_paths`` on one generated file; wall times and peak RSS.
Cases: a requirements file of N distinct pins; the same with a marker on every line; a pyproject
with N/10 dependencies and 20 extras of 10 pins each; a 400-clause ``or`` marker.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from attnlock.check.checker import check_paths, read
from attnlock.check.duplicate_pins import duplicate_pin_findings
from attnlock.database import load
db = load(sys.argv[3]) if sys.argv[3] else load()
t0 = time.perf_counter()
docs = read([sys.argv[2]])[0]
duplicate_pin_findings(docs)
readers = time.perf_counter() - t0
t0 = time.perf_counter()
report = check_paths([sys.argv[2]], db=db)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "readers": readers, "findings": len(report.findings),
                  "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _cases(n: int, d: Path) -> dict[str, Path]:
    out = {}
    plain = d / f"requirements-{n}.txt"
    plain.write_text("torch==2.3.1\n" + "".join(f"pkg{i}=={i % 97}.{i % 13}\n" for i in range(n - 1)))
    out[f"requirements, {n:,} lines"] = plain
    marked = d / f"requirements-markers-{n}.txt"
    marked.write_text("torch==2.3.1\n" + "".join(
        f"pkg{i}=={i % 97}.{i % 13} ; python_version >= '3.{i % 12}' and sys_platform == 'linux'\n"
        for i in range(n - 1)))
    out[f"requirements with markers, {n:,} lines"] = marked
    deps = max(1, n // 10)
    pyproject = d / f"p{n}" / "pyproject.toml"
    pyproject.parent.mkdir()
    extras = "".join(f"e{j} = [" + ", ".join(f'"x{j}k{k}==1.{k}"' for k in range(10)) + "]\n" for j in range(20))
    pyproject.write_text('[project]\nname = "x"\ndependencies = [\n' +
                         "".join(f'  "dep{i}=={i % 50}.0",\n' for i in range(deps)) +
                         "]\n[project.optional-dependencies]\n" + extras)
    out[f"pyproject, {deps:,} deps x 20 extras"] = pyproject
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", default="10000,100000")
    ap.add_argument("--data-dir", default=str(ROOT / "tests" / "fixtures" / "check" / "data"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases: dict[str, Path] = {}
        for n in (int(x) for x in args.lines.split(",")):
            cases.update(_cases(n, d))
        orm = d / "requirements-or.txt"
        orm.write_text("torch==2.3.1 ; " + " or ".join(f"python_version == '3.{i % 14}'" for i in range(400)) + "\n")
        cases["one 400-clause `or` marker"] = orm
        print(f"{'case':45} {'readers+dup s':>13} {'check s':>8} {'peak MiB':>9} {'findings':>8}")
        for name, path in cases.items():
            res = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path), args.data_dir],
                                 capture_output=True, text=True, timeout=600)
            if res.returncode != 0:
                print(f"{name:45} failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout)
            print(f"{name:45} {r['readers']:13.2f} {r['seconds']:8.2f} {r['max_rss_mib']:9.0f} {r['findings']:8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
