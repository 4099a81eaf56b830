"""``attnlock check``: lint dependency files offline, print findings, optionally fix them in place."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from attnlock.errors import UsageError
from attnlock.model import Target


def target_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Target:
    """The target the options (else ``ATTNLOCK_*`` variables) name; the rest stays None: check never detects.

    Delegates to :func:`attnlock.target.target_from_args`, the one builder every command shares.
    """
    from attnlock.target import target_from_args as build

    return build(args, environ=os.environ if environ is None else environ, use_detection=False)


def run(args: argparse.Namespace) -> int:
    """Check the files; exit 1 when any finding is an error (after fixing, when --fix)."""
    import gc

    # A short-lived process that builds many acyclic objects (the database's JSON, parsed
    # requirements): the cyclic collector only costs time here; reference counting frees the rest.
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _format(args: argparse.Namespace) -> str:
    """``--json`` is ``--format json`` (../docs/CLI.md); the two together must agree."""
    fmt = getattr(args, "format", None)
    if getattr(args, "json", False):
        if fmt not in (None, "json"):
            raise UsageError(f"--json is --format json; it cannot be combined with --format {fmt}")
        return "json"
    return fmt or "text"


def _run(args: argparse.Namespace) -> int:
    from attnlock.check import checker, output
    from attnlock.database import load

    args.format = _format(args)
    db = load()
    target = target_from_args(args)
    paths: list[str] = []
    for given in args.paths or ["."]:
        # A directory stands for the requirement-like files directly in it.
        # "-" is standard input, read as a requirements file.
        paths.extend(checker.default_paths(given) if given != "-" and os.path.isdir(given) else [given])
    if args.fix and "-" in paths:
        raise UsageError("--fix cannot rewrite standard input",
                         hint="write the input to a file and run attnlock check --fix FILE, or drop --fix")
    if not paths:
        raise UsageError(f"no requirement-like files in {', '.join(args.paths) or 'the current directory'}",
                         hint="pass paths, e.g. attnlock check requirements.txt pyproject.toml")
    report = checker.check_paths(paths, target, db)
    if args.fix:
        from attnlock.check.fix import fix_files

        applied = fix_files(report.findings, report.documents)
        if applied:
            total = sum(applied.values())
            print(f"attnlock check: fixed {total} line(s) in {len(applied)} file(s)", file=sys.stderr)
            report = checker.check_paths(paths, target, db)
    if args.format == "json":
        sys.stdout.write(output.to_json(report) + "\n")
    elif args.format == "sarif":
        sys.stdout.write(output.to_sarif(report) + "\n")
    else:
        from attnlock.cli import use_color

        sys.stdout.write(output.text(report, color=use_color(sys.stdout)))
        print(output.summary(report), file=sys.stderr)
    return 1 if report.errors else 0
