"""``attnlock diagnose [FILE | -] [TARGET] [--json]``: name the cause of an error log and its fix."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import BinaryIO

from attnlock.errors import InputError, UsageError
from attnlock.model import (
    ComputeCapability,
    CudaVariant,
    Platform,
    PythonVersion,
    Target,
    parse_specifier,
    parse_version,
)

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


def target_from_args(args: argparse.Namespace) -> Target | None:
    """The target the flags name; None when no flag is given (the log then speaks for itself)."""
    fields: dict[str, object] = {}
    origins: list[tuple[str, str]] = []
    torch = getattr(args, "torch", None)
    if torch:
        if torch.strip().lower() == "latest":
            fields["torch_latest"] = True
        elif torch.strip()[:1].isdigit():
            fields["torch"] = parse_specifier("==" + parse_version(torch, what="torch version").__str__(),
                                              what="torch version")
        else:
            fields["torch"] = parse_specifier(torch, what="torch version range")
        origins.append(("torch", "flag"))
    if getattr(args, "cuda", None) and args.cuda != "auto":
        fields["cuda"] = CudaVariant.parse(args.cuda)
        origins.append(("cuda", "flag"))
    if getattr(args, "python", None):
        fields["python"] = PythonVersion.parse(args.python)
        origins.append(("python", "flag"))
    if getattr(args, "platform", None):
        fields["platform"] = Platform.parse(args.platform)
        origins.append(("platform", "flag"))
    if getattr(args, "gpu", None) and args.gpu.strip().lower() != "none":
        try:
            fields["gpu"] = ComputeCapability.parse(args.gpu)
        except UsageError:  # a GPU name (T4, A100): kept as a name; the database maps it
            fields["gpu_name"] = args.gpu
        origins.append(("gpu", "flag"))
    if getattr(args, "driver", None):
        fields["driver"] = parse_version(args.driver, what="driver version")
        origins.append(("driver", "flag"))
    if not fields:
        return None
    return Target(origins=tuple(origins), **fields)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from attnlock.diagnose import diagnose

    text = read_log(args.file)
    diagnoses = diagnose(text, target=target_from_args(args))
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
