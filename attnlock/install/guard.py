"""The install guard: a constraints file owned by attnlock that every plain install in the environment obeys.

``attnlock activate`` writes the plan's constraints to ``<prefix>/attnlock/constraints.txt`` and
adds one marked block to the environment's site-level pip configuration
(``<prefix>/pip.conf``; pip reads it after the global and user files, so it wins)::

    # >>> attnlock guard: `attnlock deactivate` removes this block
    [install]
    constraint = /path/to/.venv/attnlock/constraints.txt
    # <<< attnlock guard

A plain ``pip install xformers`` in that environment can then no longer replace torch or
pick a build the plan rules out.  uv reads no pip configuration and has no per-environment
configuration file, so for uv the guard is ``UV_CONSTRAINT`` (printed for the shell).

``attnlock deactivate`` removes exactly what activate added — the block, the constraints
file, its record — and leaves every other byte of pip.conf as it was.  A ``constraint``
that a lower-priority pip configuration (global or user) already sets would be replaced by
the site value, so activate carries those values along in its line.

pip splits a ``constraint`` value on whitespace, so a path with a space is written as a
``file://`` URL (pip reads those through its local-file adapter).  pip.conf is read only
when it is a regular file (a FIFO or device is refused, never waited on), and activate's
three files are written all or nothing: a read-only pip.conf leaves no constraints file or
record behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from attnlock.atomic import read_regular_bytes, write_bytes_atomic, write_many_atomic
from attnlock.errors import InputError
from attnlock.install.environment import PythonEnvironment

BEGIN = "# >>> attnlock guard: `attnlock deactivate` removes this block"
END = "# <<< attnlock guard"
_RECORD = "guard.json"
_CONSTRAINTS = "constraints.txt"
#: pip.conf is a few lines; anything larger is not one attnlock should edit.
_MAX_CONFIG = 1024 * 1024
#: A constraint setting, in any letter case (configparser lowercases option names).
_CONSTRAINT_KEY = re.compile(r"constraints?\s*[=:]", re.IGNORECASE)


def pip_value(path: Path) -> str:
    """``path`` as a value pip reads back whole: a ``file://`` URL when it holds whitespace."""
    text = str(path)
    if any(ch.isspace() for ch in text):
        return path.absolute().as_uri()
    return text


@dataclass(frozen=True)
class GuardStatus:
    """Whether the guard is active in an environment, and its files."""

    active: bool
    pip_config: Path
    constraints: Path | None
    uv_constraint_set: bool

    def to_json(self) -> dict[str, object]:
        return {"active": self.active, "pip_config": str(self.pip_config),
                "constraints": str(self.constraints) if self.constraints else None,
                "uv_constraint": self.uv_constraint_set}


def status(env: PythonEnvironment, environ: dict[str, str] | None = None) -> GuardStatus:
    """Read the guard's state from the environment's files (no subprocess, no import)."""
    environ = dict(os.environ) if environ is None else environ
    constraints = env.attnlock_dir / _CONSTRAINTS
    active = False
    try:
        active = BEGIN in read_regular_bytes(env.pip_config, limit=_MAX_CONFIG).decode("utf-8", "replace")
    except (OSError, InputError):
        pass
    return GuardStatus(
        active=active and constraints.is_file(),
        pip_config=env.pip_config,
        constraints=constraints if constraints.is_file() else None,
        uv_constraint_set=environ.get("UV_CONSTRAINT", "") == str(constraints),
    )


def inherited_constraints(env: PythonEnvironment, timeout: float = 20.0) -> list[str]:
    """``constraint`` values pip already takes from its global/user configuration.

    Asked of pip itself (``pip config list``) so the files it reads are exactly pip's.
    """
    try:
        res = subprocess.run([env.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             timeout=timeout, env={k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"})
    except (OSError, subprocess.TimeoutExpired):
        return []
    own = {str(env.attnlock_dir / _CONSTRAINTS), pip_value(env.attnlock_dir / _CONSTRAINTS)}
    values: list[str] = []
    for line in res.stdout.splitlines():
        m = re.fullmatch(r"(?:global|install)\.constraint='(.*)'", line.strip())
        if m:
            values.extend(v for v in m.group(1).split() if v not in own and v not in values)
    return values


def activate(env: PythonEnvironment, constraints_text: str, *, inherited: list[str] | None = None) -> GuardStatus:
    """Write the constraints and the pip.conf block (replacing a previous guard); atomic per file."""
    own_dir = env.attnlock_dir
    constraints = own_dir / _CONSTRAINTS
    conf = env.pip_config
    original = _read_config(conf)
    record = _read_record(env)
    text = _decode(original, conf) if original is not None else ""
    if BEGIN in text:
        text = _remove_block(text, conf, added_newline=bool(record.get("added_newline")))
        created = bool(record.get("created_pip_config"))
    else:
        created = original is None
    values = [pip_value(constraints)] + list(inherited or [])
    new_text, added_newline = _insert_block(text, values, conf)
    record_text = json.dumps({
        "pip_config": str(conf), "constraints": str(constraints), "created_pip_config": created,
        "added_newline": added_newline, "inherited": list(inherited or []),
    }, indent=2) + "\n"
    made_dir = not own_dir.exists()
    try:
        own_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {own_dir}: {exc.strerror}; nothing was changed", path=str(own_dir)) from exc
    try:
        # All or nothing: a read-only pip.conf must not leave the constraints and record behind.
        write_many_atomic([(constraints, constraints_text.encode("utf-8")),
                           (own_dir / _RECORD, record_text.encode("utf-8")),
                           (conf, new_text.encode("utf-8"))])
    except BaseException:
        if made_dir:
            try:
                own_dir.rmdir()
            except OSError:
                pass
        raise
    return status(env)


def deactivate(env: PythonEnvironment) -> bool:
    """Remove exactly what :func:`activate` added; True when something was removed."""
    conf = env.pip_config
    record = _read_record(env)
    removed = False
    original = _read_config(conf)
    if original is not None:
        text = _decode(original, conf)
        if BEGIN in text:
            rest = _remove_block(text, conf, added_newline=bool(record.get("added_newline")))
            if rest == "" and record.get("created_pip_config"):
                try:
                    conf.unlink()
                except OSError as exc:
                    raise InputError(f"cannot remove: {exc.strerror}", path=str(conf)) from exc
            else:
                write_bytes_atomic(conf, rest.encode("utf-8"))
            removed = True
    for name in (_CONSTRAINTS, _RECORD):
        path = env.attnlock_dir / name
        if os.path.lexists(path):
            try:
                path.unlink()
            except OSError as exc:
                raise InputError(f"cannot remove: {exc.strerror or exc}", path=str(path),
                                 hint="remove it by hand; pip.conf no longer points at it") from None
            removed = True
    try:
        env.attnlock_dir.rmdir()
    except OSError:
        pass  # absent, or holds files that are not ours
    return removed


def _read_config(conf: Path) -> bytes | None:
    """pip.conf's bytes; None when there is none."""
    try:
        return read_regular_bytes(conf, limit=_MAX_CONFIG)  # a FIFO or device is refused, not waited on
    except FileNotFoundError:
        return None


def _read_record(env: PythonEnvironment) -> dict[str, object]:
    try:
        data = json.loads(read_regular_bytes(env.attnlock_dir / _RECORD, limit=_MAX_CONFIG).decode("utf-8"))
    except (OSError, ValueError, InputError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("is not UTF-8; attnlock will not edit it", path=str(path),
                         hint="fix its encoding, or delete it if it is not needed") from exc


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _insert_block(text: str, values: list[str], path: Path) -> tuple[str, bool]:
    nl = _newline(text)
    line = "constraint = " + " ".join(values)
    lines = text.splitlines(keepends=True)
    for i, raw in enumerate(lines):
        if re.fullmatch(r"\s*\[install\]\s*", raw.rstrip("\r\n")):
            # An [install] section exists: a second one would make pip's parser fail, so the
            # guard's line goes inside it — unless it already sets a constraint of its own.
            for j in range(i + 1, len(lines)):
                body = lines[j].strip()
                if body.startswith("["):
                    break
                if _CONSTRAINT_KEY.match(body):
                    raise InputError(
                        "already sets an install constraint; attnlock will not override it",
                        path=str(path), line=j + 1,
                        hint="move that constraint into a requirements file, or remove the line and rerun",
                    )
            block = f"{BEGIN}{nl}{line}{nl}{END}{nl}"
            if not raw.endswith(("\n", "\r")):
                lines[i] = raw + nl
                return "".join(lines[: i + 1]) + block + "".join(lines[i + 1:]), True
            return "".join(lines[: i + 1]) + block + "".join(lines[i + 1:]), False
    added_newline = bool(text) and not text.endswith(("\n", "\r"))
    prefix = text + (nl if added_newline else "")
    return prefix + f"{BEGIN}{nl}[install]{nl}{line}{nl}{END}{nl}", added_newline


def _remove_block(text: str, path: Path, *, added_newline: bool) -> str:
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, ln in enumerate(lines) if ln.rstrip("\r\n") == BEGIN)
        end = next(i for i in range(start, len(lines)) if lines[i].rstrip("\r\n") == END)
    except StopIteration:
        raise InputError("holds an attnlock guard block without its end marker; attnlock will not guess",
                         path=str(path), hint=f"remove the lines from '{BEGIN}' by hand") from None
    rest = lines[:start] + lines[end + 1:]
    out = "".join(rest)
    if added_newline and start > 0:
        # The newline activate added to a file without a final one sits before the block.
        prev = lines[start - 1]
        if prev.endswith("\r\n"):
            out = "".join(rest[: start - 1]) + prev[:-2] + "".join(rest[start:])
        elif prev.endswith("\n"):
            out = "".join(rest[: start - 1]) + prev[:-1] + "".join(rest[start:])
    return out
