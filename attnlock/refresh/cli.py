"""The ``attnlock db refresh`` subcommand: options, the run, the summary on stdout (``db --data-dir`` picks the root)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``db refresh``."""
    p.add_argument("--index-url", metavar="URL",
                   help="simple index to read (default: ATTNLOCK_INDEX_URL, then pip's and uv's configuration)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when data/ is stale")
    p.add_argument("--package", action="append", default=[], metavar="NAME",
                   help="refresh only this package (repeatable)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds one request may take in all, body included (default 30)")
    p.add_argument("--allow-redirect-host", action="append", default=[], metavar="HOST",
                   help="a host redirects may lead to (repeatable); by default a redirect is followed only "
                        "within the requested URL's host")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="retries per request on 5xx, timeouts, dropped connections (default 3)")
    p.add_argument("--max-bytes", type=int, default=2 * 1024**3, metavar="N",
                   help="total bytes the run may fetch (default 2 GiB)")
    p.add_argument("--workers", type=int, default=8, metavar="N", help="wheels read in parallel (default 8)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def run(args: argparse.Namespace) -> int:
    """Run the refresh; 0 ok (or fresh with --check), 1 stale with --check."""
    from attnlock.database import data_dir
    from attnlock.refresh.http import Fetcher, FetchPolicy
    from attnlock.refresh.indexconf import find_index
    from attnlock.refresh.report import Progress
    from attnlock.refresh.runner import refresh

    from attnlock.bounds import bounded, seconds

    seconds("--timeout", args.timeout, example="30")
    bounded("--retries", args.retries, minimum=0, maximum=100, inclusive_min=True, example="3")
    bounded("--max-bytes", args.max_bytes, minimum=0, maximum=2**50, example=str(2 * 1024**3))
    bounded("--workers", args.workers, minimum=1, maximum=256, inclusive_min=True, example="8")
    index = find_index(args.index_url)
    root = Path(args.data_dir) if getattr(args, "data_dir", None) else data_dir()
    print(f"attnlock db refresh: reading the index from {index.origin}", file=sys.stderr)
    policy = FetchPolicy(timeout=args.timeout, attempts=args.retries + 1, max_bytes=args.max_bytes,
                         redirect_hosts=frozenset(h.strip().lower() for h in args.allow_redirect_host if h.strip()))
    with Fetcher(policy=policy) as fetcher:
        result = refresh(
            root,
            index.url,
            fetcher,
            packages=args.package,
            check=args.check,
            workers=args.workers,
            progress=Progress(),
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for d in result.diffs:
            print(d.render())
    read = result.wheel_bytes_read
    ranged = result.bytes_fetched - result.page_bytes
    share = f"{100 * ranged / read:.3f}% of " if read else ""
    n_read = sum(s.files_read for s in result.stats.values())
    n_reused = sum(s.files_reused for s in result.stats.values())
    print(
        f"fetched {_mib(result.bytes_fetched)} in {result.requests} requests ({_mib(result.page_bytes)} of index pages); "
        f"wheel ranges {_mib(ranged)}: {share}the {_mib(read)} of the "
        f"{n_read} wheels read ({n_reused} facts reused; {_mib(result.wheel_bytes_total)} of wheels in scope); "
        f"{result.seconds:.1f} s",
        file=sys.stderr,
    )
    for msg in result.errors:
        print(f"  error: {msg}", file=sys.stderr)
    if args.check:
        print("data/ is stale: run attnlock db refresh" if result.stale else "data/ is up to date", file=sys.stderr)
        return 1 if result.stale else 0
    if result.written:
        print(f"wrote {', '.join(result.written)}", file=sys.stderr)
    return 0
