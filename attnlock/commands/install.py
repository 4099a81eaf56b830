"""``attnlock install``: plan, run the real installer with the plan's constraints, then verify.

Steps, each visible on stderr:

1. the target is this environment (the installed torch is pinned exactly unless
   ``--allow-torch-change``), the wanted packages are the ones named;
2. the plan is computed first: a conflict is explained before any installer runs (and, when
   only another torch would work, which one);
3. ``pip install -c PLAN …`` (or ``uv pip install --python THIS -c PLAN …``) runs with its output
   streamed through (its own progress on stderr, never ``--quiet``); ``--dry-run`` adds pip's
   ``--dry-run --report FILE`` / uv's ``--dry-run`` and prints what would be installed;
   the temporary ``attnlock-install-*`` directory holding the plan is removed on every exit path
   (success, failure, an error, Ctrl-C);
4. a failed install goes through ``attnlock diagnose``; a successful one through
   ``attnlock verify --only`` the installed packages (``--no-verify`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from attnlock.errors import AttnlockError, NoPlanError, ToolError, UsageError
from attnlock.model import Plan, Target, canonical


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attnlock install`` (target options are added by the caller)."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--pip", dest="installer", action="store_const", const="pip",
                       help="install with pip (the default)")
    which.add_argument("--uv", dest="installer", action="store_const", const="uv", help="install with uv pip")
    p.add_argument("--dry-run", action="store_true", help="print the installer command and what it would install")
    p.add_argument("--allow-torch-change", action="store_true",
                   help="let the plan move the installed torch to another build")
    p.add_argument("--allow-build", metavar="LIST",
                   help="packages that may be built from source when no prebuilt wheel fits (flash-attn)")
    p.add_argument("--yes", action="store_true", help="answer yes to questions (building from source)")
    p.add_argument("--no-verify", action="store_true", help="skip `attnlock verify` after the install")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="stop the installer after this long (default 3600)")
    p.add_argument("packages", nargs="+", metavar="PACKAGE", help="what to install, e.g. xformers flash-attn")
    from attnlock.commands.generate import add_source_option

    add_source_option(p)


# What a --no-build-isolation source build of flash-attn imports besides torch (its setup.py).
_BUILD_TOOLS = ("setuptools", "wheel", "packaging", "psutil", "ninja")


def _requested(texts: list[str]) -> list[Requirement]:
    out = []
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            raise UsageError(f"malformed package {text!r}", hint="write a name, optionally with a range: xformers<0.0.28") \
                from None
        if req.url:
            raise UsageError(f"{text!r} is a URL: attnlock chooses the build itself",
                             hint=f"ask for {req.name} and let the plan pick its wheel, or install the URL with pip")
        out.append(req)
    return out


def plan_for_environment(args: argparse.Namespace, names: list[Requirement] | None) -> tuple[Target, Plan, Any]:
    """The target of this environment and the plan for ``names`` (installed torch kept unless allowed).

    ``names`` None plans every covered package (``attnlock activate``).
    """
    from attnlock.database import load
    from attnlock.detect import detect
    from attnlock.resolver import Wanted, resolve
    from attnlock.target import target_from_args

    detected = detect()
    target = target_from_args(args, environ=os.environ, detected=detected)
    from attnlock.target import plan_line

    line = plan_line(target)
    if line:
        print(f"attnlock {getattr(args, 'command', None) or 'install'}: {line}", file=sys.stderr)
    torch_installed = detected.torch is not None and bool(detected.torch.version)
    if getattr(args, "allow_torch_change", False) and target.origin("torch") == "detected":
        origins = tuple((k, v) for k, v in target.origins if k not in ("torch", "cuda"))
        target = replace(target, torch=None, origins=origins)
    wanted: list[Any] | None = None
    if names is not None:
        wanted = [Wanted(canonical(r.name), r.specifier, frozenset(canonical(e) for e in r.extras)) for r in names]
        if torch_installed and "torch" not in {w.name for w in wanted}:
            from packaging.specifiers import SpecifierSet

            wanted.insert(0, Wanted("torch", SpecifierSet()))
    db = load()
    allow_build = [canonical(p) for p in (getattr(args, "allow_build", None) or "").split(",") if p.strip()]
    from attnlock.commands.generate import sources_of

    try:
        plan = resolve(db, target, wanted, allow_build=allow_build, sources=sources_of(args, db))
    except NoPlanError as exc:
        err = _explain_torch(exc, db, target, wanted, allow_build)
        buildable = sorted({w.name for w in wanted or []} & {"flash-attn"} - set(allow_build))
        if buildable and any(b in err.message for b in buildable):
            more = f"or build {', '.join(buildable)} from source for this torch: --allow-build {','.join(buildable)}"
            err = NoPlanError(err.message, hint=f"{err.hint}; {more}" if err.hint else more)
        raise err from None
    return target, plan, db


def _explain_torch(exc: NoPlanError, db: Any, target: Target, wanted: list[Any] | None,
                   allow_build: list[str]) -> NoPlanError:
    """When the installed torch is what makes the plan impossible, say which torch would work."""
    if target.origin("torch") != "detected":
        return exc
    from attnlock.resolver import resolve

    free = replace(target, torch=None, origins=tuple((k, v) for k, v in target.origins if k not in ("torch", "cuda")))
    try:
        alt = resolve(db, free, wanted, allow_build=allow_build)
    except AttnlockError:
        return exc
    torch = alt.pin("torch")
    if torch is None or torch.version is None:
        return exc
    hint = (f"torch {torch.version} would work with what you asked for; rerun with --allow-torch-change "
            f"to let attnlock replace the installed torch ({_installed_torch(target)})")
    return NoPlanError(f"{exc.message} (the installed torch is kept unless you allow a change)", hint=hint)


def _installed_torch(target: Target) -> str:
    return str(target.torch).removeprefix("==") if target.torch is not None else "unknown"


def _sdist_question(plan: Plan, args: argparse.Namespace) -> None:
    """Building from source (flash-attn) is slow and fragile: say how it will go, ask first."""
    built = [p for p in plan.pins if p.sdist]
    if not built:
        return
    names = ", ".join(p.package for p in built)
    arch = str(plan.target.gpu) if plan.target.gpu else "the GPUs of this machine"
    jobs = os.environ.get("MAX_JOBS") or str(min(4, os.cpu_count() or 1))
    print(
        f"attnlock install: {names} has no prebuilt wheel for this target and will be compiled from source:\n"
        f"  - it needs nvcc (the CUDA toolkit) and the installed torch at build time, so the installer runs with\n"
        f"    --no-build-isolation; MAX_JOBS={jobs} bounds parallel compile jobs (each can take several GiB of RAM);\n"
        f"  - TORCH_CUDA_ARCH_LIST limits the build to {arch}; a full build can take from tens of minutes to hours.",
        file=sys.stderr,
    )
    if args.yes or args.dry_run:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"building {names} from source needs confirmation", hint="rerun with --yes to build it")
    answer = input("Build it now? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not building from source; nothing was installed",
                         hint="choose a target with a prebuilt wheel (attnlock generate --with flash-attn explains)")


def installer_argv(installer: str, python: str, constraints: Path, requested: list[str], *, dry_run: bool,
                   build_from_source: bool, report: Path | None = None) -> list[str]:
    """The exact installer command line (pip's dry run writes its ``--report`` to ``report``)."""
    if installer == "uv":
        from attnlock.install.environment import find_uv

        uv = find_uv()
        if uv is None:
            raise ToolError("uv is not installed", hint="pip install uv (or attnlock[uv]), or use --pip")
        argv = [uv, "pip", "install", "--python", python, "-c", str(constraints)]
        if build_from_source:
            argv.append("--no-build-isolation")
        if dry_run:
            argv.append("--dry-run")
        return argv + requested
    argv = [python, "-m", "pip", "install", "-c", str(constraints)]
    if build_from_source:
        argv.append("--no-build-isolation")
    if dry_run:
        argv += ["--dry-run"] + (["--report", str(report)] if report is not None else [])
    return argv + requested


def run(args: argparse.Namespace) -> int:
    from attnlock import bounds

    args.timeout = bounds.seconds("--timeout", args.timeout)
    from attnlock.emit import regenerate_command, render_constraints
    from attnlock.install.environment import PythonEnvironment

    installer = args.installer or "pip"
    env = PythonEnvironment.current()
    if not args.dry_run:
        env.check_writable()
    requested = _requested(args.packages)
    target, plan, db = plan_for_environment(args, requested)
    _sdist_question(plan, args)
    build = any(p.sdist for p in plan.pins)
    _print_plan(plan)
    text = render_constraints(plan, command=regenerate_command(plan, "constraints"))
    child_env = dict(os.environ)
    if build:
        child_env.setdefault("MAX_JOBS", str(min(4, os.cpu_count() or 1)))
        if plan.target.gpu is not None:
            child_env.setdefault("TORCH_CUDA_ARCH_LIST", plan.target.gpu.dotted)
    tmp = tempfile.mkdtemp(prefix="attnlock-install-")
    try:
        code = _install(args, installer, env.executable, Path(tmp), text, plan, target, db, child_env, requested,
                        build)
    finally:
        # Every exit path: success, a failed installer, an error, Ctrl-C.
        shutil.rmtree(tmp, ignore_errors=True)
    if code is not None:
        return code
    if args.no_verify:
        return 0
    names = sorted({canonical(r.name) for r in requested} | {"torch"})
    print(f"attnlock install: verifying {', '.join(names)}", file=sys.stderr)
    import subprocess

    try:
        res = subprocess.run([env.executable, "-m", "attnlock", "verify", "--only", ",".join(names)],
                             timeout=max(600.0, args.timeout / 2))
    except subprocess.TimeoutExpired:
        print("attnlock install: verify did not finish in time", file=sys.stderr)
        return 1
    return 0 if res.returncode == 0 else 1


def _install(args: argparse.Namespace, installer: str, python: str, tmp: Path, text: str, plan: Plan,
             target: Target, db: Any, child_env: dict[str, str], requested: list[Requirement],
             build: bool) -> int | None:
    """Run the installer inside ``tmp``; an exit code, or None when the install succeeded and verify follows."""
    from attnlock.emit import regenerate_command
    from attnlock.install.runner import run_installer

    constraints = tmp / "constraints.txt"
    constraints.write_text(text, encoding="utf-8")
    if build and not args.dry_run:
        # --no-build-isolation builds against this environment: it must hold the build tools
        # (flash-attn's setup.py imports torch, packaging, psutil and ninja; bdist_wheel needs wheel).
        tools = installer_argv(installer, python, constraints, list(_BUILD_TOOLS), dry_run=False,
                               build_from_source=False)
        print(f"attnlock install: running: {shlex.join(tools)}", file=sys.stderr)
        prep = run_installer(tools, env=child_env, timeout=args.timeout)
        if prep.returncode != 0:
            _diagnose(prep.tail, target, db)
            print("attnlock install: could not install the build tools; nothing else was installed",
                  file=sys.stderr)
            return 1
    report = tmp / "report.json" if args.dry_run and installer == "pip" and not build else None
    argv = installer_argv(installer, python, constraints, [str(r) for r in requested],
                          dry_run=args.dry_run and not build, build_from_source=build, report=report)
    if build and args.dry_run:
        # An installer's dry run of an sdist still builds its metadata, and flash-attn's setup.py
        # imports torch and the build tools: it would fail or build. Show the commands instead, with
        # the plan written to a file of the user's (the temporary one is removed on exit).
        tools = installer_argv(installer, python, constraints, list(_BUILD_TOOLS), dry_run=False,
                               build_from_source=False)
        print("attnlock install: dry run: an sdist cannot be resolved without building its metadata; "
              "these commands would run:", file=sys.stderr)
        mine = "constraints.txt"
        print(regenerate_command(plan, "constraints", output=mine))
        for cmd in (tools, argv):
            print(shlex.join([mine if a == str(constraints) else a for a in cmd]))
        return 0
    print(f"attnlock install: running: {shlex.join(argv)}", file=sys.stderr)
    result = run_installer(argv, env=child_env, timeout=args.timeout)
    if result.returncode != 0:
        _diagnose(result.tail + result.stdout, target, db)
        print(f"attnlock install: {installer} failed (exit {result.returncode}); the environment is as {installer} "
              "left it (pip and uv install all-or-nothing only per package)", file=sys.stderr)
        return 1
    if args.dry_run:
        if report is not None:
            _print_report(report.read_text(encoding="utf-8") if report.is_file() else "")
        return 0
    return None


def _print_plan(plan: Plan) -> None:
    for pin in plan.pins:
        where = f" from {pin.index}" if pin.index else (" (wheel URL)" if pin.url else "")
        what = str(pin.version) if pin.version is not None else str(pin.specifier)
        print(f"attnlock install: plan {pin.package} {what}{where}" + (f" — {pin.reason}" if pin.reason else ""),
              file=sys.stderr)


def _print_report(stdout: str) -> None:
    """What pip's ``--report`` says it would install, one ``name==version`` a line on stdout."""
    try:
        report = json.loads(stdout)
    except ValueError:
        sys.stdout.write(stdout)
        return
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        print(f"{meta.get('name')}=={meta.get('version')}")


def _diagnose(text: str, target: Target, db: Any) -> None:
    try:
        from attnlock.diagnose import diagnose
    except ImportError:  # pragma: no cover
        return
    try:
        found = diagnose(text, target=target, db=db)
    except AttnlockError as exc:
        print(f"attnlock install: could not diagnose the failure: {exc.render()}", file=sys.stderr)
        return
    if not found:
        print("attnlock install: no known error signature matched; `attnlock diagnose` takes the full log",
              file=sys.stderr)
    for d in found:
        print(f"attnlock install: diagnosis [{d.id}]: {d.cause}\n  fix: {d.fix}", file=sys.stderr)
        for cmd in d.commands:
            print(f"    {cmd}", file=sys.stderr)
