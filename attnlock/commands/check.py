"""``attnlock check``: lint dependency files offline, print findings, optionally fix them in place."""

from __future__ import annotations

import argparse
import os
import sys

from attnlock.errors import UsageError
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion, Target, parse_specifier, \
    parse_version


def target_from_args(args: argparse.Namespace, db: object | None = None) -> Target:
    """The target the options name; options not given stay None (check judges every value)."""
    origins = []
    torch = None
    latest = False
    if getattr(args, "torch", None):
        text = args.torch.strip()
        if text == "latest":
            latest = True
        elif text[:1].isdigit():
            version = parse_version(text, what="torch version")
            torch = parse_specifier(f"=={version}", what="torch version")
        else:
            torch = parse_specifier(text, what="torch version range")
        origins.append(("torch", "flag"))
    cuda = None
    if getattr(args, "cuda", None) and args.cuda.strip().lower() != "auto":
        cuda = CudaVariant.parse(args.cuda)
        origins.append(("cuda", "flag"))
    python = PythonVersion.parse(args.python) if getattr(args, "python", None) else None
    platform = Platform.parse(args.platform) if getattr(args, "platform", None) else None
    gpu = None
    gpu_name = None
    if getattr(args, "gpu", None) and args.gpu.strip().lower() != "none":
        try:
            gpu = ComputeCapability.parse(args.gpu)
        except UsageError:
            found = db.gpu(args.gpu) if db is not None else None  # type: ignore[attr-defined]
            if found is None:
                raise UsageError(f"unknown GPU {args.gpu!r}", hint="write a compute capability such as sm_80") \
                    from None
            gpu, gpu_name = found.compute_capability, found.name
    driver = parse_version(args.driver, what="driver version") if getattr(args, "driver", None) else None
    return Target(torch=torch, torch_latest=latest, cuda=cuda, python=python, platform=platform, gpu=gpu,
                  gpu_name=gpu_name, driver=driver, origins=tuple(origins))


def run(args: argparse.Namespace) -> int:
    """Check the files; exit 1 when any finding is an error (after fixing, when --fix)."""
    from attnlock.check import checker, output
    from attnlock.database import load

    db = load()
    target = target_from_args(args, db)
    paths: list[str] = []
    for given in args.paths or ["."]:
        # A directory stands for the requirement-like files directly in it.
        paths.extend(checker.default_paths(given) if os.path.isdir(given) else [given])
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
