"""``attnlock diagnose [FILE | -] [TARGET] [--json]``: name the cause of an error log and its fix.

Reads the log (a file, or standard input for ``-``) in bounded memory: a log of any
size is answered (a big one through an excerpt of the lines near known error texts
and its tail, :mod:`attnlock.diagnose.reader`).  Prints each diagnosis (cause, fix,
commands, evidence) or ``{"diagnoses": [...]}`` with ``--json``, and exits 1 when no
known signature matched, the input is empty or binary (with what to try instead),
never with a traceback (``../shared/CLI.md``).  On a terminal with nothing piped in
it says how to paste or pipe a log before it reads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import BinaryIO

from attnlock.diagnose.reader import IN_MEMORY_BYTES, LogText, read_stream
from attnlock.errors import InputError

# Kept for callers and tests that read it: logs up to this size are read whole.
MAX_BYTES = IN_MEMORY_BYTES

PASTE_HELP = """\
attnlock diagnose: reading the error log from the terminal.
  Paste it, then press Ctrl-D on a new line (Ctrl-Z then Enter on Windows).
  Or pipe it:      python train.py 2>&1 | attnlock diagnose -
  Or pass a file:  attnlock diagnose build.log"""

WHAT_TO_TRY = (
    "pass the full output of the command that failed, from the first error line on "
    "(e.g. `python train.py 2>&1 | tail -n 300 | attnlock diagnose -`); "
    "`attnlock detect` shows this environment and `attnlock verify` runs the installed kernels"
)


def _needles() -> list[str]:
    from attnlock.diagnose.signatures import load_signatures

    out: list[str] = []
    for sig in load_signatures():
        if sig.scope:
            continue  # read only inside a block another signature found
        if sig.needles is None:
            return []  # a signature without a known literal: keep every line (no excerpt)
        out.extend(sig.needles)
    return out


def _read(stream: BinaryIO, name: str) -> LogText:
    log = read_stream(stream, _needles())
    if log.kind == "compressed":
        raise InputError(
            "this is a compressed file (gzip, zstd, xz, bzip2 or zip), not a text log: nothing recognised",
            path=name,
            hint=f"decompress it on the way in, e.g. `zcat {name} | attnlock diagnose -` (zstdcat, xzcat, bzcat, unzip -p)",
        )
    if log.kind == "binary":
        raise InputError(
            "this is a binary file, not a text log: nothing recognised",
            path=name,
            hint="pass the text an installer or program printed, e.g. `pip install … 2>&1 | attnlock diagnose -`",
        )
    return log


def read_log(path: str) -> LogText:
    """The log at ``path`` (``-`` for standard input), read in bounded memory; binary input is refused."""
    from attnlock.diagnose.engine import strip_control

    shown = strip_control(path).replace("\n", " ")  # a file name is printed too: no escapes in it
    if path == "-":
        if sys.stdin is None:
            raise InputError("no standard input to read", path="<stdin>", hint=WHAT_TO_TRY)
        if sys.stdin.isatty():
            print(PASTE_HELP, file=sys.stderr, flush=True)
        return _read(sys.stdin.buffer, "<stdin>")
    if os.path.isdir(path):
        raise InputError("is a directory, not a log file", path=shown)
    try:
        with open(path, "rb") as f:
            return _read(f, shown)
    except FileNotFoundError:
        raise InputError("no such file", path=shown) from None
    except PermissionError:
        raise InputError("permission denied", path=shown) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=shown) from None


def _nothing(log: LogText) -> str:
    if log.kind == "empty":
        why = "the log is empty: nothing recognised"
    elif log.replaced and log.replaced * 4 > len(log.text):
        why = "the log is mostly not UTF-8 text: nothing recognised (is it another encoding, or compressed?)"
    else:
        why = "no known error signature matched this log"
    return f"attnlock diagnose: {why}\n  hint: {WHAT_TO_TRY}"


def run(args: argparse.Namespace) -> int:
    from attnlock.diagnose import diagnose
    from attnlock.diagnose.engine import strip_control
    from attnlock.target import target_from_args

    log = read_log(args.file)
    # Flags and ATTNLOCK_* variables win over what the log says; detected fields only fill
    # what the log does not tell (the log may come from another machine).
    target = target_from_args(args, environ=os.environ)
    diagnoses = diagnose(log.text, target=target) if log.text.strip() else []
    if log.excerpt:  # report lines as numbered in the whole log, not in the excerpt
        diagnoses = [replace(d, line=log.line_in_log(d.line)) if d.line else d for d in diagnoses]
    if args.json:
        print(json.dumps({"diagnoses": [d.to_json() for d in diagnoses]}, indent=2))
    else:
        if log.excerpt and diagnoses:
            print(f"(a {log.size // (1024 * 1024)} MiB log: read the lines near known error texts and its end)\n")
        for i, d in enumerate(diagnoses):
            if i:
                print()
            where = f" (line {d.line})" if d.line else ""
            # Everything printed comes from the log: no escape sequence reaches the terminal.
            print(strip_control(f"{d.id}{where}"))
            print(strip_control(f"  evidence: {d.evidence}"))
            print(strip_control(f"  cause:    {d.cause}"))
            print(strip_control(f"  fix:      {d.fix}"))
            for cmd in d.commands:
                print(strip_control(f"    $ {cmd}"))
    if not diagnoses:
        print(_nothing(log), file=sys.stderr)
        return 1
    return 0
