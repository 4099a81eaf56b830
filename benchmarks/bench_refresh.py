"""How much `attnlock db refresh` fetches and how long it takes, against a local index of real wheels.

Run: python benchmarks/bench_refresh.py [--releases N] [--wheels-per-release W] [--payload-mib M]

Builds (under a temporary directory) one package with N releases of W platform wheels, each
carrying M MiB of incompressible payload and a 2,000-member tree, serves them with
tests/support's HTTP server, then times (a) a first refresh, (b) a `--check` re-run (every fact
reused), and reports bytes fetched against the total size of the wheels.  No network.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attnlock.refresh.http import Fetcher, FetchPolicy  # noqa: E402
from attnlock.refresh.runner import refresh  # noqa: E402
from tests.support.index import serve, write_simple_index  # noqa: E402
from tests.support.wheels import build_wheel  # noqa: E402

PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_28_aarch64", "win_amd64", "macosx_11_0_arm64", "win32"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, default=20)
    ap.add_argument("--wheels-per-release", type=int, default=5)
    ap.add_argument("--payload-mib", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        payload = os.urandom(int(args.payload_mib * 2**20))
        tree = {f"benchpkg/sub/m{i:04d}.py": b"x = 1\n" for i in range(2000)}
        files = []
        for r in range(args.releases):
            for w in range(args.wheels_per_release):
                plat = PLATFORMS[w % len(PLATFORMS)]
                py = f"cp3{10 + w // len(PLATFORMS)}"
                files.append(build_wheel(t / "dists", "benchpkg", f"1.{r}", tags=(py, py, plat),
                                         requires_dist=["torch==2.3.1"],
                                         extra_files={**tree, "benchpkg/_C.so": payload}, deflate=False))
        total = sum(f.stat().st_size for f in files)
        root = write_simple_index(t / "index", files)
        data = t / "data"
        (data / "curated").mkdir(parents=True)
        (data / "curated" / "refresh.toml").write_text(
            'source = "bench"\nchecked = "2026-01-01"\n[packages]\nbenchpkg = "*"\n')
        with serve(root) as server:
            for label, check in (("first refresh", False), ("--check re-run", True)):
                with Fetcher(policy=FetchPolicy()) as f:
                    started = time.perf_counter()
                    result = refresh(data, server.index_url, f, check=check)
                    wall = time.perf_counter() - started
                print(f"{label}: {wall * 1000:.0f} ms, {result.requests} requests, "
                      f"{result.bytes_fetched / 2**20:.2f} MiB fetched of {total / 2**20:.0f} MiB of wheels "
                      f"({100 * result.bytes_fetched / total:.3f}%), "
                      f"{sum(s.files_read for s in result.stats.values())} wheels read, stale={result.stale}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
