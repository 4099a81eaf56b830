"""Command-line interface: argument definitions and ``main(argv) -> int``.

Each subcommand lives in ``attnlock.commands.<name>`` and is imported only
after parsing, so ``attnlock --help`` and the fast paths (``detect``,
``check``) never pay for the heavy ones.  This module is the one boundary
where :class:`attnlock.errors.AttnlockError` becomes text and an exit code
(``docs/CLI.md``): 0 ok, 1 findings / no plan / failed check, 2 usage,
3 internal error, 4 verify checked nothing, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from attnlock import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_NOTHING_VERIFIED = 4  # verify: no check could run (no GPU and no kernels, or nothing installed)
EXIT_INTERRUPTED = 130


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """The shared TARGET options; each defaults to what detect finds (except for check)."""
    group = parser.add_argument_group(
        "target", "what to plan for; each defaults to this machine (ATTNLOCK_* variables override detection)"
    )
    group.add_argument("--torch", metavar="VERSION", help="2.3.1, 2.3.1+cu121, '>=2.4' or latest")
    group.add_argument("--cuda", metavar="VARIANT", help="12.1, cu121, cpu, rocm6.2 or auto")
    group.add_argument("--python", metavar="X.Y", help="Python feature release, e.g. 3.10")
    group.add_argument("--platform", metavar="NAME", help="linux-x86_64, linux-aarch64, windows-amd64, macos-arm64")
    group.add_argument("--gpu", metavar="ARCH",
                       help="sm_75, 8.0, T4, A100, H100; none = no GPU (a CPU plan); any = not known (any CUDA GPU)")
    group.add_argument("--driver", metavar="VERSION", help="NVIDIA driver version, e.g. 535.104.05; any = not known")


def _args_detect(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--all-tags", action="store_true", help="list every supported wheel tag, not the first 10")


def _args_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR", help="use this data/ directory instead of the shipped one")
    sub = p.add_subparsers(dest="db_command", metavar="ACTION")
    v = sub.add_parser("validate", help="check schema, provenance, ordering and references of data/")
    v.add_argument("--json", action="store_true", help="print JSON on stdout")
    s = sub.add_parser("show", help="what the database knows about a package (or cuda, gpus, known-bad, signatures)")
    s.add_argument("name", metavar="NAME")
    s.add_argument("version", metavar="VERSION", nargs="?")
    s.add_argument("--json", action="store_true", help="print JSON on stdout")
    _args_db_matrix(sub)
    # refresh: added by attnlock.refresh (see _args_db_refresh below when present).
    _args_db_refresh(sub)


def _args_db_matrix(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`attnlock db matrix`: torch builds × kernel packages (attnlock.commands.db_matrix)."""
    m = sub.add_parser("matrix", help="torch builds × kernel packages: the newest release that works in each "
                                      "cell, how it is known and its source")
    g = m.add_argument_group("filters", "what the matrix covers (nothing is detected: it describes the database)")
    g.add_argument("--torch", metavar="RANGE", help="torch releases, e.g. '>=2.4,<2.7' or 2.6.0 (default: all)")
    g.add_argument("--cuda", metavar="VARIANT", help="torch builds of one variant: cu124, 12.4, cpu, rocm6.2")
    g.add_argument("--gpu", metavar="ARCH", help="mark what this GPU cannot run: T4, A100, H100, sm_80, 8.0")
    g.add_argument("--python", metavar="X.Y", help="Python feature release (default: any)")
    g.add_argument("--platform", metavar="NAME", help="linux-x86_64 (default), linux-aarch64, windows-amd64, macos-arm64")
    m.add_argument("--with", dest="with_", metavar="LIST",
                   help="columns, comma separated (default: the covered packages built for torch builds or "
                        "pinned by them: xformers, flash-attn, triton, torchvision, torchaudio)")
    m.add_argument("--format", choices=("text", "markdown", "json", "html"),
                   help="output format (default: text, split into column groups that fit the terminal)")
    m.add_argument("--json", action="store_true", help="print JSON on stdout (= --format json)")
    m.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")


def _args_db_refresh(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`attnlock db refresh` options; the refresher itself lives in attnlock.refresh."""
    from attnlock.refresh.cli import add_arguments

    r = sub.add_parser("refresh", help="re-read release lists and wheel metadata from the package index")
    add_arguments(r)


def _args_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files to check (default: requirement-like files in the current directory)")
    add_target_options(p)
    p.add_argument("--format", choices=("text", "json", "sarif"), default=None, help="output format (default: text)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout (= --format json)")
    p.add_argument("--fix", action="store_true", help="rewrite unambiguous requirement lines in place")


def _args_diagnose(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", nargs="?", default="-", help="the error log; - (default) reads stdin")
    add_target_options(p)
    p.add_argument("--json", action="store_true", help="print JSON on stdout")


def _args_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", metavar="LIST", help="comma list of packages to verify (default: all installed)")
    p.add_argument("--all-gpus", action="store_true", help="verify on every visible GPU, not only the first")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=180.0,
                   help="longest one check may run before its probe child is killed (default 180)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")


# name -> (help line, argument adder).  A command is listed here only once its
# capability works: no placeholders.
def _args_generate(p: argparse.ArgumentParser) -> None:
    from attnlock.commands.generate import add_arguments  # imports only errors/model (packaging) at import

    add_target_options(p)
    add_arguments(p)


def _args_install(p: argparse.ArgumentParser) -> None:
    from attnlock.commands.install import add_arguments

    add_target_options(p)
    add_arguments(p)


def _args_lock(p: argparse.ArgumentParser) -> None:
    from attnlock.commands.lock import add_arguments

    add_target_options(p)
    add_arguments(p)


def _args_activate(p: argparse.ArgumentParser) -> None:
    from attnlock.commands.activate import add_arguments

    add_target_options(p)
    add_arguments(p)


def _args_deactivate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shell", choices=("sh", "fish", "powershell"), default="sh",
                   help="syntax of the line printed on stdout that unsets UV_CONSTRAINT")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "detect": ("report this environment (Python, torch, driver, GPUs, kernels) without importing torch", _args_detect),
    "db": ("validate the database, show what it knows, refresh derived facts", _args_db),
    "generate": ("resolve the target into pins that work together: constraints, uv settings, pip args, JSON",
                 _args_generate),
    "check": ("lint requirements, constraints, pyproject and lock files against the database", _args_check),
    "diagnose": ("name the cause of an error log and the fix", _args_diagnose),
    "verify": ("run the installed attention kernels on the GPU and check their results and speed", _args_verify),
    "install": ("plan, install with pip or uv under the plan's constraints, then verify", _args_install),
    "lock": ("write the plan's [tool.uv] settings into pyproject.toml, run uv lock, check the result", _args_lock),
    "activate": ("make every later pip install in this environment obey the plan (uv: UV_CONSTRAINT)",
                 _args_activate),
    "deactivate": ("remove exactly what attnlock activate added", _args_deactivate),
}


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first argument that is a known command (None when none is).

    The global options (``-v``/``--verbose``, ``--version``, ``--help``) take no value, so the
    first positional argument is the command, and no earlier argument can be a command's name.
    """
    for arg in argv:
        if arg in COMMANDS:
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``attnlock`` parser: every subcommand's options, or with ``argv`` only those of the command it names.

    For an ``argv`` every other subcommand gets a stub carrying its help line, so ``attnlock --help``
    still lists all of them while an invocation pays only for the options (and imports) of the
    command it runs; ``attnlock CMD --help`` shows CMD's full options.
    """
    chosen = command_in(argv) if argv is not None else None
    parser = argparse.ArgumentParser(
        prog="attnlock",
        description="Lock PyTorch attention-kernel stacks to builds that work together.",
    )
    parser.add_argument("--version", action="version", version=f"attnlock {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_line, adder) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_line, description=help_line)
        if argv is None or name == chosen:
            adder(sp)
    return parser


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or getattr(args, "format", None) == "json"


def main(argv: Sequence[str] | None = None) -> int:
    """Run attnlock with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from attnlock.errors import AttnlockError

    try:
        module = importlib.import_module(f"attnlock.commands.{args.command.replace('-', '_')}")
        return int(module.run(args))
    except AttnlockError as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        if _wants_json(args):
            import json

            print(json.dumps(exc.to_json(), indent=2))
        print(f"attnlock {args.command}: error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("attnlock: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (`attnlock generate | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the one catch-all: an internal bug, reported as such
        if args.verbose:
            raise
        print(
            f"attnlock {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: rerun with -v for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def use_color(stream: object = None) -> bool:
    """Colour only on a terminal and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    s = stream if stream is not None else sys.stdout
    isatty = getattr(s, "isatty", None)
    return bool(isatty and isatty())
