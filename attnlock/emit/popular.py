"""The committed constraint files for popular targets (``constraints/``), rebuilt by one command.

``python -m attnlock.emit.popular constraints/`` (or ``attnlock generate --popular constraints/``)
(each file's header names the ``attnlock generate … --skip-missing`` command that rebuilds it alone)
writes one file per target — every torch minor from 2.1 to 2.15 that the database knows × each
CUDA variant of it × each Python it ships wheels for, linux-x86_64 — plus ``index.json`` naming
every file and every target that has no plan, with the reason.  Files whose bytes do not change
are not rewritten; files of targets that disappeared are removed.  The test suite regenerates
into a temporary directory and fails when the committed files drift from ``data/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.database.store import Database
from attnlock.errors import NoPlanError
from attnlock.model import CudaVariant, Platform, PythonVersion, Target

# The attention stack a popular file pins (each left out where it has no release for the target).
WITH = ("torch", "torchvision", "torchaudio", "triton", "xformers", "flash-attn")
MINORS = [(2, m) for m in range(1, 16)]
PLATFORM = Platform("linux", "x86_64")
PYTHONS = [PythonVersion(3, m) for m in range(8, 16)]


def targets(db: Database) -> Iterator[tuple[str, Target]]:
    """(file name, target) for every popular target the database has a torch release for."""
    releases = [r for r in db.releases("torch") if not r.version.is_prerelease]
    for major, minor in MINORS:
        inside = [r for r in releases if (r.version.major, r.version.minor) == (major, minor)]
        if not inside:
            continue
        newest = inside[-1]
        tv = db.torch_variants(newest.version)
        if tv is None:
            continue
        variants = sorted({v for v in (*tv.index, *( [tv.pypi] if tv.pypi else [])) if v.is_cuda},
                          key=lambda v: v.version or Version("0"))
        for py in PYTHONS:
            if not newest.python_ok(py) or not newest.has_wheel_for(PLATFORM, py):
                continue
            for variant in variants:
                name = f"torch{major}.{minor}-{variant.label}-py{py}-{PLATFORM}.txt"
                yield name, Target(torch=SpecifierSet(f"=={major}.{minor}.*"), cuda=variant, python=py,
                                   platform=PLATFORM)


def render_all(db: Database) -> tuple[dict[str, str], dict[str, str]]:
    """(file name → constraints text, file name → why it has no plan) for every popular target."""
    from attnlock.emit.command import regenerate_command
    from attnlock.emit.constraints import render_constraints
    from attnlock.resolver import parse_with, resolve

    files: dict[str, str] = {}
    skipped: dict[str, str] = {}
    wanted = parse_with(",".join(WITH))
    for name, target in targets(db):
        try:
            plan = resolve(db, target, wanted, default_set=True)
        except NoPlanError as exc:
            skipped[name] = exc.message
            continue
        command = regenerate_command(plan, "constraints", output=f"constraints/{name}", with_=list(WITH),
                                     skip_missing=True)
        files[name] = render_constraints(plan, command=command)
    return files, skipped


def regenerate(out_dir: Path, db: Database) -> int:
    """Write the popular files into ``out_dir`` (atomically, only when changed); return how many exist."""
    from attnlock.atomic import write_text_atomic

    files, skipped = render_all(db)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_text_atomic(path, text)
    for stale in out_dir.glob("torch*.txt"):
        if stale.name not in files:
            stale.unlink()
    index = {"files": sorted(files), "no_plan": dict(sorted(skipped.items())),
             "regenerate": "python -m attnlock.emit.popular constraints/"}
    text = json.dumps(index, indent=1) + "\n"
    ipath = out_dir / "index.json"
    if not ipath.exists() or ipath.read_text(encoding="utf-8") != text:
        write_text_atomic(ipath, text)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    """``python -m attnlock.emit.popular DIR``."""
    from attnlock.database import load

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m attnlock.emit.popular DIR", file=sys.stderr)
        return 2
    count = regenerate(Path(args[0]), load())
    print(f"wrote {count} constraint files to {args[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
