"""``attnlock diagnose [FILE | -] [TARGET] [--json]``: name the cause of an error log and its fix.

Reads the log (a file, or standard input for ``-``), refuses binary and huge
inputs with an :class:`~attnlock.errors.InputError`, prints each diagnosis
(cause, fix, commands, evidence) or ``{"diagnoses": [...]}`` with ``--json``,
and exits 1 when no known signature matched (``../shared/CLI.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import BinaryIO

from attnlock.errors import InputError

# A log bigger than this is not an error log we can read sensibly; refuse it clearly.
MAX_BYTES = 32 * 1024 * 1024


def _read(stream: BinaryIO, name: str) -> str:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(
            f"the log is larger than {MAX_BYTES // (1024 * 1024)} MiB",
            path=name,
            hint="pass the part around the error, e.g. `tail -n 2000 build.log | attnlock diagnose -`",
        )
    if b"\x00" in data[:65536]:
        raise InputError("this is a binary file, not a text log", path=name,
                         hint="pass the text an installer or program printed")
    return data.decode("utf-8", errors="replace")


def read_log(path: str) -> str:
    """The text of ``path`` (``-`` for standard input), refusing binary and huge inputs."""
    if path == "-":
        return _read(sys.stdin.buffer, "<stdin>")
    if os.path.isdir(path):
        raise InputError("is a directory, not a log file", path=path)
    try:
        with open(path, "rb") as f:
            return _read(f, path)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except PermissionError:
        raise InputError("permission denied", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None


def run(args: argparse.Namespace) -> int:
    from attnlock.diagnose import diagnose
    from attnlock.target import target_from_args

    text = read_log(args.file)
    # Flags and ATTNLOCK_* variables win over what the log says; detected fields only fill
    # what the log does not tell (the log may come from another machine).
    target = target_from_args(args, environ=os.environ)
    diagnoses = diagnose(text, target=target)
    if args.json:
        print(json.dumps({"diagnoses": [d.to_json() for d in diagnoses]}, indent=2))
    else:
        for i, d in enumerate(diagnoses):
            if i:
                print()
            where = f" (line {d.line})" if d.line else ""
            print(f"{d.id}{where}")
            print(f"  evidence: {d.evidence}")
            print(f"  cause:    {d.cause}")
            print(f"  fix:      {d.fix}")
            for cmd in d.commands:
                print(f"    $ {cmd}")
    if not diagnoses:
        print("attnlock diagnose: no known error signature matched this log", file=sys.stderr)
        return 1
    return 0
