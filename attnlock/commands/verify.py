"""``attnlock verify [--only LIST] [--all-gpus] [--timeout SECONDS] [--json]``: prove the installed kernels run.

Runs the probe children (:mod:`attnlock.verify`), shows progress on a
terminal, prints the table or the JSON of ``docs/CLI.md`` on stdout, and
exits 1 when any check of an installed package fails.  When no check could run
(every one skipped: no GPU and no kernels, or nothing installed) it says plainly
that nothing was verified and why, and exits 4 (``EXIT_NOTHING_VERIFIED``), so a
script cannot mistake "nothing checked" for "all good".  Under torchrun each
rank verifies its GPU and rank 0 prints the fleet report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from attnlock.errors import AttnlockError, UsageError

def _only(text: str | None) -> list[str] | None:
    from packaging.utils import canonicalize_name

    from attnlock.verify.plan import KNOWN_PACKAGES

    if not text:
        return None
    names: list[str] = [canonicalize_name(n.strip()) for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KNOWN_PACKAGES]
    if unknown:
        raise UsageError(f"--only: unknown package {', '.join(unknown)}",
                         hint="choose from " + ", ".join(sorted(KNOWN_PACKAGES)))
    return names


def environment() -> tuple[dict[str, Any], Any]:
    """``detect``'s JSON record and the Target it implies (None when detection is unavailable)."""
    try:
        from attnlock import detect
    except ImportError as exc:
        return {"error": f"attnlock.detect unavailable: {exc}"}, None
    fn = getattr(detect, "detect", None)
    if fn is None:
        return {"error": "attnlock.detect has no detect()"}, None
    try:
        env = fn()
    except Exception as exc:  # detection trouble must not stop verification
        return {"error": f"detect failed: {type(exc).__name__}: {exc}"}, None
    data = env.to_json() if hasattr(env, "to_json") else dict(env)
    target = None
    try:
        from attnlock.target import target_from_args

        # No TARGET options on verify: ATTNLOCK_* variables, else this detection, as every command does.
        target = target_from_args(argparse.Namespace(), environ=os.environ, detected=env)
    except ImportError:
        target = None
    except AttnlockError:  # an incomplete environment gives no target; diagnosis then works without one
        target = None
    return data, target


def run(args: argparse.Namespace) -> int:
    """Run verify with parsed ``args`` and return the exit code."""
    from attnlock.cli import use_color
    from attnlock.verify import fleet, report
    from attnlock.verify.verifier import default_diagnoser, run_verify

    from attnlock.bounds import seconds

    args.timeout = seconds("--timeout", args.timeout)
    only = _only(args.only)
    env_json, target = environment()
    diagnoser = default_diagnoser(target)
    progress = report.Progress(sys.stderr, colour=use_color(sys.stderr)) if sys.stderr.isatty() else None
    if progress is not None:
        print("attnlock verify: running the checks in child processes (each imports the kernels it checks; "
              "a line appears as each check finishes)", file=sys.stderr, flush=True)

    rank = fleet.from_env(os.environ)
    if rank is not None:
        result = fleet.run_fleet(rank, only=only, timeout=args.timeout, environment=env_json,
                                 diagnoser=diagnoser, progress=progress)
        if rank.rank != 0:  # rank 0 prints the fleet report; the others only exit with their own verdict
            return 1 if result.failed else 0
    else:
        result = run_verify(only=only, all_gpus=args.all_gpus, timeout=args.timeout, environment=env_json,
                            diagnoser=diagnoser, progress=progress)
    nothing = nothing_verified(result.checks, env_json)
    if args.json:
        data = result.to_json()
        if nothing:
            data["nothing_verified"] = nothing
        print(json.dumps(data, indent=2, default=str))
    else:
        sys.stdout.write(report.table(result.checks, colour=use_color(sys.stdout)))
        sys.stdout.write(f"verify took {result.seconds:.1f} s\n")
    if result.failed:
        return 1
    if nothing:
        from attnlock.cli import EXIT_NOTHING_VERIFIED

        print(f"attnlock verify: nothing was verified: {nothing}", file=sys.stderr)
        return EXIT_NOTHING_VERIFIED
    return 0


def nothing_verified(checks: list[dict[str, Any]], environment: dict[str, Any]) -> str | None:
    """Why no check ran (every one skipped), in one sentence; None when something passed or failed."""
    if any(c.get("status") in ("pass", "fail") for c in checks):
        return None
    absent = sorted({str(c.get("package")) for c in checks
                     if str(c.get("reason") or "").startswith("not installed")})
    others = sorted({str(c.get("reason")) for c in checks
                     if c.get("reason") and not str(c.get("reason")).startswith("not installed")})
    parts = []
    gpus = environment.get("gpus")
    if isinstance(gpus, list) and not gpus:
        parts.append("no NVIDIA GPU was found")
    if absent:
        parts.append(f"none of the kernels it checks is installed in {sys.executable}'s environment "
                     f"({', '.join(absent)})")
    parts += others[:3]
    why = "; ".join(parts) or "every check was skipped"
    return (f"all {len(checks)} checks were skipped: {why}. Install the stack first "
            "(attnlock install torch xformers …), or run verify on the GPU machine")
