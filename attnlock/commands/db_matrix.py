"""``attnlock db matrix``: torch builds × kernel packages, as text, Markdown, JSON or the HTML page."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from attnlock.database.store import Database
from attnlock.errors import UsageError
from attnlock.model import canonical


def run(args: argparse.Namespace, db: Database) -> int:
    from attnlock.target import target_from_args

    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} contradict each other", hint="give one of them")
    fmt = "json" if args.json else args.format or "text"
    # Nothing is detected and no ATTNLOCK_* variable is read: the matrix describes the database.
    target = target_from_args(args, environ={}, use_detection=False)
    if target.torch_latest:
        raise UsageError("--torch latest is not a range", hint="give a range, e.g. --torch '>=2.10'")
    packages = _packages(args.with_, db)
    if fmt == "html":
        from attnlock.matrix.page import render_page, views_for

        text = render_page(db, views_for(target), target, packages)
    else:
        from attnlock.matrix import table

        m = table.build(db, target, packages)
        if not m.rows:
            raise UsageError("no torch build matches the filters",
                             hint="widen --torch / --cuda, or check --platform and --python")
        if fmt == "json":
            text = json.dumps(m.to_json(), indent=1) + "\n"
        elif fmt == "markdown":
            from attnlock.matrix.text import render_markdown

            text = render_markdown(m)
        else:
            from attnlock.matrix.text import render_text

            text = render_text(m, shutil.get_terminal_size((100, 24)).columns)
    if args.output:
        from attnlock.atomic import write_text_atomic

        write_text_atomic(args.output, text)
        print(f"attnlock db matrix: wrote {args.output} ({len(text.encode())} bytes)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _packages(text: str | None, db: Database) -> tuple[str, ...] | None:
    if not text:
        return None
    names = tuple(canonical(n) for n in text.split(",") if n.strip())
    from attnlock.resolver.candidates import known_packages

    known = known_packages(db)
    unknown = [n for n in names if n not in known or n == "torch"]
    if unknown:
        raise UsageError(f"no column for {', '.join(unknown)}",
                         hint="--with takes packages the database has releases of (other than torch)")
    return names
