"""`attnlock generate`: resolve the target into a Plan and render it (constraints, uv, pip-args, JSON).

Everything is computed before anything is written, so a bad input or an impossible target
leaves every file untouched; writes go through :mod:`attnlock.atomic`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from attnlock.errors import InputError, ToolError, UsageError
from attnlock.model import Plan, Target

_PY_PLATFORM = {  # uv's --python-platform names for attnlock's platforms
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "windows-amd64": "x86_64-pc-windows-msvc",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `attnlock generate` (docs/CLI.md), target options added by the caller."""
    p.add_argument("--with", dest="with_", metavar="LIST", action="append",
                   help="packages to plan, comma separated, optionally with ranges (default: every covered "
                        "package with a release for the target)")
    p.add_argument("--format", choices=("constraints", "uv", "pip-args", "json"), default=None,
                   help="output format (default: constraints; uv with --pyproject)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (= --format json)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--pyproject", metavar="PATH", help="merge the uv settings into this pyproject.toml")
    p.add_argument("--validate", action="store_true",
                   help="run the constraints through the real uv (uv pip compile for the target) and report")
    p.add_argument("--index-url", metavar="URL",
                   help="index for --validate (default: $ATTNLOCK_INDEX_URL, else uv's own configuration)")
    p.add_argument("--skip-missing", action="store_true",
                   help="treat --with like the default set: leave out (with a note) a package that has no "
                        "release for the target instead of failing")
    p.add_argument("--allow-build", metavar="LIST",
                   help="packages that may be built from an sdist on the target (e.g. flash-attn)")
    p.add_argument("--allow-known-bad", metavar="ID", action="append", default=[],
                   help="plan into one known-bad combination anyway (its id, from `attnlock db show known-bad`); "
                        "repeatable")
    p.add_argument("--popular", metavar="DIR",
                   help="regenerate the committed constraint files for popular targets into DIR")
    add_source_option(p)


def add_source_option(p: argparse.ArgumentParser) -> None:
    """``--source community``: opt into community wheel sources (generate, install, lock)."""
    p.add_argument("--source", dest="sources", metavar="NAME", action="append", default=[],
                   help="also plan builds from community wheel sources: 'community' (every recorded one) or one "
                        "source's name (`attnlock db show community`); never without this flag; repeatable")


def sources_of(args: argparse.Namespace, db: Any) -> tuple[str, ...]:
    """The ``--source`` values, checked against the recorded community sources (usage error otherwise)."""
    values = tuple(v.strip() for item in getattr(args, "sources", None) or () for v in item.split(",") if v.strip())
    if not values:
        return ()
    from attnlock.compat import model_for

    names = sorted(model_for(db).community_sources())
    unknown = [v for v in values if v != "community" and v not in names]
    if unknown:
        raise UsageError(f"unknown wheel source {', '.join(unknown)} in --source",
                         hint=f"use --source community, or one of: {', '.join(names) or '(none recorded)'}")
    return values


def _target(args: argparse.Namespace) -> Target:
    try:
        from attnlock.target import target_from_args
    except ImportError:  # pragma: no cover - the detect helper ships target.py
        return _target_from_flags(args)
    return target_from_args(args, environ=os.environ)


def _target_from_flags(args: argparse.Namespace) -> Target:
    from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, parse_specifier, parse_version

    torch = getattr(args, "torch", None)
    return Target(
        torch=parse_specifier(torch if not torch[:1].isdigit() else f"=={torch}") if torch and torch != "latest"
        else None,
        torch_latest=torch == "latest",
        cuda=CudaVariant.parse(args.cuda) if args.cuda and args.cuda != "auto" else None,
        python=PythonVersion.parse(args.python) if args.python else PythonVersion(*sys.version_info[:2]),
        platform=Platform.parse(args.platform) if args.platform else None,
        gpu=ComputeCapability.parse(args.gpu) if args.gpu and args.gpu != "none" else None,
        driver=parse_version(args.driver) if args.driver and args.driver != "none" else None,
    )


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def run(args: argparse.Namespace) -> int:
    from attnlock.database import load
    from attnlock.emit.command import regenerate_command
    from attnlock.resolver import parse_with, resolve

    if args.popular:
        from attnlock.emit.popular import regenerate

        written = regenerate(Path(args.popular), load())
        print(f"attnlock generate: wrote {written} constraint files to {args.popular}", file=sys.stderr)
        return 0
    if getattr(args, "json", False):
        if args.format not in (None, "json"):
            raise UsageError(f"--json is --format json; it cannot be combined with --format {args.format}")
        args.format = "json"
    fmt = args.format or ("uv" if args.pyproject else "constraints")
    if args.pyproject and fmt != "uv":
        raise UsageError("--pyproject writes uv settings; it cannot be combined with --format " + fmt)
    if args.pyproject and args.output:
        raise UsageError("give either --pyproject PATH or -o FILE, not both")
    wanted = parse_with(args.with_)
    allow_build = _split(args.allow_build)
    target = _target(args)
    from attnlock.target import plan_line

    line = plan_line(target)
    if line:
        print(f"attnlock generate: {line}", file=sys.stderr)
    db = load()
    allow_bad = tuple(i for item in args.allow_known_bad for i in _split(item))
    if allow_bad:
        from attnlock.compat import model_for

        ids = {kb.id for kb in model_for(db).known_bad()}
        unknown = [i for i in allow_bad if i not in ids]
        if unknown:
            raise UsageError(f"unknown known-bad record {', '.join(unknown)} in --allow-known-bad",
                             hint="`attnlock db show known-bad` lists the ids")
    sources = sources_of(args, db)
    plan = resolve(db, target, wanted, allow_build=allow_build, default_set=bool(args.skip_missing),
                   allow_known_bad=allow_bad, sources=sources)
    with_words = [w.name + str(w.specifier) for w in wanted] if wanted else None
    command = regenerate_command(plan, fmt, output=args.output, with_=with_words, allow_build=allow_build,
                                 pyproject=args.pyproject, skip_missing=bool(args.skip_missing and wanted),
                                 allow_known_bad=allow_bad, sources=sources)
    if fmt == "json":
        from attnlock.emit.json_plan import render_json

        text = render_json(plan)
    elif fmt == "pip-args":
        from attnlock.emit.pip_args import companion_path, render_pip_args

        if args.output:
            # /dev/stdin means nothing in a saved file: the pins go to a constraints file beside it.
            companion = companion_path(args.output)
            text = render_pip_args(plan, constraints=companion)
        else:
            text = render_pip_args(plan)
    elif fmt == "uv":
        from attnlock.emit.uv import render_uv

        text = render_uv(plan, command=command)
    else:
        from attnlock.emit.constraints import render_constraints

        text = render_constraints(plan, command=command)

    if args.validate:
        _validate(plan, args, command)

    from attnlock.atomic import write_bytes_atomic, write_text_atomic

    if args.pyproject:
        path = Path(args.pyproject)
        from attnlock.atomic import read_regular_bytes

        # A regular file only, bounded: a FIFO or /dev/zero is refused, never read until memory runs out.
        try:
            raw = read_regular_bytes(path, limit=8 * 2**20)
        except FileNotFoundError:
            raise InputError("no such file; nothing was written", path=str(path),
                             hint="--pyproject updates an existing pyproject.toml (create one with `uv init`), "
                                  "or print the uv settings with --format uv") from None
        try:
            original = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None
        from attnlock.emit.uv import update_pyproject

        updated = update_pyproject(original, plan, path=str(path))
        if updated != original:
            write_bytes_atomic(path, updated.encode("utf-8"))
            print(f"attnlock generate: updated [tool.uv] in {path}", file=sys.stderr)
        else:
            print(f"attnlock generate: {path} is up to date", file=sys.stderr)
    elif args.output:
        if fmt == "pip-args":
            from attnlock.emit.constraints import render_constraints
            from attnlock.emit.pip_args import companion_path

            companion = companion_path(args.output)
            write_text_atomic(companion, render_constraints(plan, command=command))
            print(f"attnlock generate: wrote {companion} (the pins {args.output} names)", file=sys.stderr)
        write_text_atomic(args.output, text)
        print(f"attnlock generate: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    _print_notes(plan, fmt)
    return 0


def _print_notes(plan: Plan, fmt: str) -> None:
    """The plan's notes on stderr.  Where the output itself lists what was left out and why (the
    constraints header, JSON's ``left_out``), one line names the left-out packages instead."""
    from attnlock.emit.constraints import left_out

    gone = left_out(plan) if fmt in ("constraints", "json") else []
    names = {n for n, _ in gone}
    for note in plan.notes:
        if note.split(":", 1)[0] not in names:
            print(f"attnlock generate: {note}", file=sys.stderr)
    if gone:
        held = [n for n, why in gone if why.startswith("it would hold torch back")]
        rest = [n for n, _ in gone if n not in held]
        parts = ([f"{', '.join(held)} (each would hold torch back; name it in --with to plan it)"] if held else []) \
            + ([f"{', '.join(rest)} (no build for the target)"] if rest else [])
        where = "JSON's left_out" if fmt == "json" else "the constraints header"
        print(f"attnlock generate: left out: {'; '.join(parts)}; why: see {where}", file=sys.stderr)


def _validate(plan: Plan, args: argparse.Namespace, command: str) -> None:
    """Resolve the constraints with the real uv for the target's Python and platform."""
    import subprocess
    import tempfile

    from attnlock.emit import render_constraints

    from attnlock.install.environment import find_uv

    uv = find_uv()
    if uv is None:
        raise ToolError("--validate needs uv, which is not installed", hint="pip install uv (or attnlock[uv])")
    index = args.index_url or os.environ.get("ATTNLOCK_INDEX_URL")
    t = plan.target
    with tempfile.TemporaryDirectory(prefix="attnlock-validate-") as tmp:
        req = Path(tmp) / "constraints.txt"
        req.write_text(render_constraints(plan, command=command), encoding="utf-8")
        argv = [uv, "pip", "compile", str(req), "--quiet", "--no-header", "--index-strategy", "first-index"]
        if t.python is not None:
            argv += ["--python-version", str(t.python)]
        if t.platform is not None and str(t.platform) in _PY_PLATFORM:
            argv += ["--python-platform", _PY_PLATFORM[str(t.platform)]]
        if index:
            argv += ["--index-url", index]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise ToolError("uv pip compile did not finish within 300 s", hint="check the index") from None
        except OSError as exc:
            raise ToolError(f"cannot run uv: {exc}") from None
    if proc.returncode != 0:
        raise ToolError("uv could not resolve the generated constraints:\n" + proc.stderr.strip(),
                        hint="the index may lack a planned build; see the message above")
    print(f"attnlock generate: validated: uv resolved the plan ({len(proc.stdout.splitlines())} lines)",
          file=sys.stderr)
