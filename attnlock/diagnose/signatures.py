"""Error signatures: load ``data/curated/signatures.toml`` into compiled, validated records.

A signature is data: a Python regular expression (compiled with ``re.MULTILINE``),
the cause and fix as text templates over the pattern's named groups, the packages
involved, the URLs that document it, and a verbatim ``example`` the pattern must
match.  An optional ``compute`` names the fix computation of
:mod:`attnlock.diagnose.fixes` that turns the captured groups and the database
into concrete pins; an optional ``scope`` restricts a signature to a block found
by another one (``xformers-operator-reason``: one reason line under an operator of
xformers' "No operator found" message), where ``class`` says whether the reason
is an ``input`` limit, a ``hardware`` limit or a broken ``build``, and
``universal = true`` marks a limit no operator lifts (CPU tensors), reported even
when the build is broken.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlock.errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SCOPES = ("", "xformers-operator-reason")
REASON_CLASSES = ("input", "hardware", "build")
_REQUIRED = ("id", "pattern", "cause", "fix", "packages", "evidence", "example", "source", "checked")


@dataclass(frozen=True)
class Signature:
    """One known error text, its cause and its fix."""

    id: str
    pattern: re.Pattern[str]
    cause: str
    fix: str
    packages: tuple[str, ...]
    evidence: str
    example: str
    source: tuple[str, ...]
    checked: str
    commands: tuple[str, ...] = ()
    compute: str | None = None
    scope: str = ""
    reason_class: str | None = None
    superseded_by: tuple[str, ...] = ()
    universal: bool = False
    explains: tuple[str, ...] = ()
    needles: tuple[str, ...] | None = None

    def may_match(self, text: str) -> bool:
        """False only when the pattern cannot match ``text`` (none of its required literals occurs)."""
        return self.needles is None or any(n in text for n in self.needles)


def default_path() -> Path:
    """``signatures.toml`` of the shipped database (repository ``data/`` or the wheel's copy)."""
    try:
        from attnlock.database import data_dir
    except ImportError:
        here = Path(__file__).resolve().parent.parent
        for candidate in (here / "data", here.parent / "data"):
            if (candidate / "curated").is_dir():
                return candidate / "curated" / "signatures.toml"
        return here.parent / "data" / "curated" / "signatures.toml"
    return Path(data_dir()) / "curated" / "signatures.toml"


def _strs(value: object, *, path: str, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DataError(f"{where}: {key} must be a string or a list of strings", path=path)


def parse_signatures(text: str, *, path: str = "signatures.toml") -> list[Signature]:
    """Parse and validate the TOML text of a signatures file (order is kept: it is priority)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"malformed TOML: {exc}", path=path) from None
    records = doc.get("signature")
    if not isinstance(records, list):
        raise DataError("no [[signature]] records", path=path, hint="see data/SCHEMA.md")
    out: list[Signature] = []
    seen: set[str] = set()
    for i, rec in enumerate(records):
        where = f"signature #{i + 1}" + (f" ({rec.get('id')})" if isinstance(rec, dict) and "id" in rec else "")
        if not isinstance(rec, dict):
            raise DataError(f"{where}: not a table", path=path)
        missing = [k for k in _REQUIRED if k not in rec]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)}", path=path, hint="see data/SCHEMA.md")
        for key in ("id", "pattern", "cause", "fix", "evidence", "example"):
            if not isinstance(rec[key], str) or not rec[key]:
                raise DataError(f"{where}: {key} must be a non-empty string", path=path)
        sid = rec["id"]
        if sid in seen:
            raise DataError(f"{where}: duplicate id", path=path)
        seen.add(sid)
        try:
            pattern = re.compile(rec["pattern"], re.MULTILINE)
        except re.error as exc:
            raise DataError(f"{where}: pattern does not compile: {exc}", path=path) from None
        if not pattern.search(rec["example"]):
            raise DataError(f"{where}: pattern does not match its example", path=path)
        checked = rec["checked"]
        checked_text = checked.isoformat() if hasattr(checked, "isoformat") else str(checked)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", checked_text):
            raise DataError(f"{where}: checked must be an ISO date", path=path)
        scope = rec.get("scope", "")
        if scope not in SCOPES:
            raise DataError(f"{where}: unknown scope {scope!r}", path=path)
        reason_class = rec.get("class")
        if scope == "xformers-operator-reason" and reason_class not in REASON_CLASSES:
            raise DataError(f"{where}: class must be one of {', '.join(REASON_CLASSES)}", path=path)
        compute = rec.get("compute")
        if compute is not None and not isinstance(compute, str):
            raise DataError(f"{where}: compute must be a string", path=path)
        source = _strs(rec["source"], path=path, key="source", where=where)
        if not all(s.startswith("https://") for s in source):
            raise DataError(f"{where}: source must be https URLs", path=path)
        out.append(
            Signature(
                id=sid,
                pattern=pattern,
                cause=rec["cause"],
                fix=rec["fix"],
                packages=_strs(rec["packages"], path=path, key="packages", where=where),
                evidence=rec["evidence"],
                example=rec["example"],
                source=source,
                checked=checked_text,
                commands=_strs(rec.get("commands", []), path=path, key="commands", where=where),
                compute=compute,
                scope=scope,
                reason_class=reason_class,
                superseded_by=_strs(rec.get("superseded_by", []), path=path, key="superseded_by", where=where),
                universal=rec.get("universal") is True,
                explains=_strs(rec.get("explains", []), path=path, key="explains", where=where),
                needles=required_literals(pattern),
            )
        )
    known = {s.id for s in out}
    for s in out:
        for key, others in (("superseded_by", s.superseded_by), ("explains", s.explains)):
            for other in others:
                if other not in known:
                    raise DataError(f"signature {s.id}: {key} names unknown id {other!r}", path=path)
                if other == s.id:
                    raise DataError(f"signature {s.id}: {key} names itself", path=path)
    return out


_CACHE: dict[tuple[str, int, int], tuple[Signature, ...]] = {}


def load_signatures(path: Path | None = None) -> list[Signature]:
    """Read and validate the signatures file (default: the shipped one).

    Parsed once per file version (path, modification time, size): verify diagnoses
    every failed check through here.
    """
    p = path or default_path()
    try:
        st = p.stat()
        key = (str(p), st.st_mtime_ns, st.st_size)
        if key not in _CACHE:
            _CACHE[key] = tuple(parse_signatures(p.read_text(encoding="utf-8"), path=str(p)))
    except OSError as exc:
        raise DataError(f"cannot read signatures: {exc.strerror}", path=str(p)) from None
    return list(_CACHE[key])


# ------------------------------------------------------------------ prefilter

_MIN_NEEDLE = 4


def _op_name(op: object) -> str:
    return str(getattr(op, "name", op))


def _needles(items: list[tuple[object, object]]) -> tuple[str, ...] | None:
    """Literal strings one of which every match of the sequence ``items`` contains (longest found)."""
    best: tuple[str, ...] | None = None

    def consider(cand: tuple[str, ...] | None) -> None:
        nonlocal best
        if cand and min(len(c) for c in cand) >= _MIN_NEEDLE:
            if best is None or min(len(c) for c in cand) > min(len(c) for c in best):
                best = cand

    run: list[str] = []
    for op, av in items:
        name = _op_name(op)
        if name == "LITERAL" and isinstance(av, int):
            run.append(chr(av))
            continue
        consider(("".join(run),) if run else None)
        run = []
        if name == "SUBPATTERN" and isinstance(av, tuple):
            consider(_needles(list(av[-1])))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and isinstance(av, tuple):
            if isinstance(av[0], int) and av[0] >= 1:
                consider(_needles(list(av[2])))
        elif name == "BRANCH" and isinstance(av, tuple):
            alternatives: list[str] = []
            for branch in av[1]:
                got = _needles(list(branch))
                if not got:
                    alternatives = []
                    break
                alternatives.extend(got)
            consider(tuple(alternatives) if alternatives else None)
        elif name == "ATOMIC_GROUP" and isinstance(av, list):
            consider(_needles(av))
    consider(("".join(run),) if run else None)
    return best


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Literal substrings of which every match of ``pattern`` contains at least one; None when unknown.

    Derived from the parsed pattern (its longest mandatory literal run, or one per
    alternative of a mandatory alternation), so a log that holds none of them is
    skipped without running the regular expression.
    """
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        if sys.version_info >= (3, 11):
            from re import _parser as sre_parse  # type: ignore[attr-defined]
        else:  # pragma: no cover - Python 3.10
            import sre_parse
        tree: Any = sre_parse.parse(pattern.pattern, pattern.flags)
        if tree.state.flags & re.IGNORECASE:
            return None
        return _needles(list(tree))
    except Exception:  # noqa: BLE001 - an unparsable pattern just gets no prefilter
        return None
