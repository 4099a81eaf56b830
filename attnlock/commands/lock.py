"""``attnlock lock``: write the plan's ``[tool.uv]`` settings into pyproject.toml, run ``uv lock``, check the result.

The pyproject edit is the one ``attnlock generate --format uv --pyproject`` makes (only the keys
attnlock owns change).  If ``uv lock`` then fails, pyproject.toml is put back byte for byte, so
a failed lock leaves the project as it was found; the failure goes through diagnosis.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from attnlock.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attnlock lock`` (target options are added by the caller)."""
    p.add_argument("--pyproject", metavar="PATH", default="pyproject.toml",
                   help="the project's pyproject.toml (default: ./pyproject.toml)")
    p.add_argument("--with", dest="with_", metavar="LIST", action="append",
                   help="packages to plan (default: every covered package with a release for the target)")
    p.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS", help="stop uv lock after this long")
    from attnlock.commands.generate import add_source_option

    add_source_option(p)


def run(args: argparse.Namespace) -> int:
    from attnlock import bounds

    args.timeout = bounds.seconds("--timeout", args.timeout)
    from attnlock.atomic import write_bytes_atomic
    from attnlock.check import check_paths, output
    from attnlock.database import load
    from attnlock.emit import update_pyproject
    from attnlock.install.environment import find_uv
    from attnlock.install.runner import run_installer
    from attnlock.resolver import parse_with, resolve
    from attnlock.target import target_from_args

    path = Path(args.pyproject)
    from attnlock.atomic import read_regular_bytes

    try:
        raw = read_regular_bytes(path, limit=8 * 2**20)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path),
                         hint="run attnlock lock in the project folder, or pass --pyproject PATH") from None
    try:
        original = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None
    uv = find_uv()
    if uv is None:
        raise InputError("uv is not installed; pyproject.toml was not touched", path=str(path),
                         hint="pip install uv (or attnlock[uv])")
    db = load()
    target = target_from_args(args, environ=os.environ)
    from attnlock.commands.generate import sources_of

    plan = resolve(db, target, parse_with(args.with_), sources=sources_of(args, db))
    for pin in plan.pins:
        if pin.source:
            print(f"attnlock lock: {pin.package} comes from the {pin.source} (--source): not the project's own build",
                  file=sys.stderr)
    updated = update_pyproject(original, plan, path=str(path))
    changed = updated != original
    if changed:
        write_bytes_atomic(path, updated.encode("utf-8"))
        print(f"attnlock lock: updated [tool.uv] in {path}", file=sys.stderr)
    project = path.resolve().parent
    argv = [uv, "lock", "--directory", str(project)]
    print(f"attnlock lock: running: {' '.join(argv)}", file=sys.stderr)
    result = run_installer(argv, timeout=args.timeout)
    if result.returncode != 0:
        if changed:
            write_bytes_atomic(path, raw)
            print(f"attnlock lock: uv lock failed; {path} is restored as it was", file=sys.stderr)
        from attnlock.commands.install import _diagnose

        _diagnose(result.tail, target, db)
        return 1
    lock = project / "uv.lock"
    report = check_paths([str(path), str(lock)], target=plan.target, db=db)
    text = output.text(report)
    if text:
        sys.stdout.write(text)
    errors = [f for f in report.findings if f.severity == "error"]
    print(f"attnlock lock: {lock} written; check: {len(errors)} error(s), "
          f"{len(report.findings) - len(errors)} warning(s)", file=sys.stderr)
    return 1 if errors else 0
