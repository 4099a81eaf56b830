"""Match an error log against the error signatures and turn each match into a :class:`Diagnosis`."""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from attnlock.diagnose.diagnosis import Diagnosis
from attnlock.diagnose.port import CompatibilitySource
from attnlock.diagnose.signatures import Signature
from attnlock.model import Target

# Colour codes and carriage returns (progress bars, Windows logs) hide text from patterns.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# Per-line prefixes that log collectors add in front of what the program printed; they would
# break patterns that span lines ("built for:\n    PyTorch …").  Each is anchored and specific.
_LINE_PREFIXES = re.compile(
    r"^(?:"
    r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: ?"  # syslog / journald
    r"|\[rank\d+\]: ?"  # torchrun
    r"|#\d+ \d+\.\d+ "  # docker buildkit
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z? - "  # ComfyUI
    r")",
    re.MULTILINE,
)


def normalize(text: str) -> str:
    """The log as patterns see it: no ANSI colour codes or collector prefixes, ``\\n`` line ends."""
    text = _ANSI.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _LINE_PREFIXES.sub("", text)


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: Mapping[str, str | None]) -> str:
    """Fill ``{name}`` fields from ``values``; unknown fields stay as written, braces never raise."""
    clean = _Lenient({k: v for k, v in values.items() if v is not None})
    try:
        return string.Formatter().vformat(template, (), clean)
    except (ValueError, IndexError, KeyError):
        return template


# How far past a match a computation reads (the operator list of "No operator found", the
# lines of a conflict explanation): bounded, so a huge log costs linear time.
WINDOW = 64 * 1024


@dataclass(frozen=True)
class Match:
    """One signature match in the log, with what a fix computation needs."""

    signature: Signature
    match: re.Match[str]
    text: str
    target: Target | None
    source: CompatibilitySource | None
    signatures: Sequence[Signature]
    line_starts: Sequence[int] = ()

    @property
    def groups(self) -> dict[str, str | None]:
        return self.match.groupdict()

    def line_of(self, offset: int) -> int:
        """1-based line number of a character offset in the log."""
        if self.line_starts:
            return bisect.bisect_right(self.line_starts, offset)
        return self.text.count("\n", 0, offset) + 1

    @property
    def line(self) -> int:
        return self.line_of(self.match.start())

    @property
    def after(self) -> str:
        """The text that follows the match, at most :data:`WINDOW` characters."""
        return self.text[self.match.end(): self.match.end() + WINDOW]

    @property
    def evidence(self) -> str:
        """The matched text, from the start of its first line, whitespace collapsed, at most 600 chars."""
        start = self.text.rfind("\n", 0, self.match.start()) + 1
        end = self.text.find("\n", self.match.end() - 1 if self.match.end() > self.match.start() else self.match.end())
        if end == -1:
            end = len(self.text)
        chunk = " ".join(self.text[start:end].split())
        return chunk if len(chunk) <= 600 else chunk[:597] + "..."

    def diagnosis(
        self,
        *,
        id: str | None = None,
        cause: str | None = None,
        fix: str | None = None,
        commands: Sequence[str] | None = None,
        packages: Sequence[str] | None = None,
        values: Mapping[str, str | None] | None = None,
        evidence: str | None = None,
        line: int | None = None,
    ) -> Diagnosis:
        """A diagnosis from this match: the signature's templates unless overridden."""
        sig = self.signature
        vals: dict[str, str | None] = dict(self.groups)
        if values:
            vals.update(values)
        return Diagnosis(
            id=id or sig.id,
            cause=render(cause if cause is not None else sig.cause, vals),
            packages=tuple(packages if packages is not None else sig.packages),
            fix=render(fix if fix is not None else sig.fix, vals),
            commands=tuple(render(c, vals) for c in (commands if commands is not None else sig.commands)),
            evidence=evidence if evidence is not None else self.evidence,
            line=line if line is not None else self.line,
            source=sig.source,
        )


def run(
    text: str,
    signatures: Sequence[Signature],
    *,
    target: Target | None,
    source: CompatibilitySource | None,
) -> list[Diagnosis]:
    """Every diagnosis the log supports, root causes first (signature order), duplicates merged."""
    from attnlock.diagnose.fixes import COMPUTATIONS

    text = normalize(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    found: list[tuple[int, int, Diagnosis]] = []
    matched_ids: set[str] = set()
    for rank, sig in enumerate(signatures):
        if sig.scope:
            continue
        for m in sig.pattern.finditer(text):
            if m.end() == m.start():
                continue
            matched_ids.add(sig.id)
            ctx = Match(sig, m, text, target, source, signatures, line_starts)
            compute = COMPUTATIONS.get(sig.compute) if sig.compute else None
            results = compute(ctx) if compute is not None else [ctx.diagnosis()]
            for d in results:
                found.append((rank, m.start(), d))
    by_id = {s.id: s for s in signatures}
    out: list[Diagnosis] = []
    seen: set[tuple[str, str, str]] = set()
    for _, _, d in sorted(found, key=lambda t: (t[0], t[1])):
        origin = by_id.get(d.id)
        if origin is not None and any(other in matched_ids for other in origin.superseded_by):
            continue
        key = (d.id, d.cause, d.fix)
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    return out
