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

# Terminal control sequences hide text from patterns and must never be echoed: OSC
# (hyperlinks, window titles: ESC ] ... BEL or ESC \\), CSI (colours, cursor moves),
# other two-byte escapes, and the remaining C0/C1 control characters.
_OSC = re.compile(r"\x1b\][^\x07\x1b]{0,8192}(?:\x07|\x1b\\)?")
_CSI = re.compile(r"\x1b\[[0-?]{0,64}[ -/]{0,16}[@-~]")  # a literal start: scanned fast
_C1_CSI = re.compile(r"\x9b[0-?]{0,64}[ -/]{0,16}[@-~]")
_ESC = re.compile(r"\x1b[@-Z\\-_]?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Kept for callers that imported it.
_ANSI = _CSI


# Per-line prefixes that log collectors add in front of what the program printed; they would
# break patterns that span lines ("built for:\n    PyTorch …").  Each is anchored and bounded,
# and prefixes stack (a timestamp before ``##[error]``), so they are removed up to three times.
_LINE_PREFIXES = re.compile(
    r"^(?:"
    r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S{1,100} [^\s:\[]{1,100}(?:\[\d{1,10}\])?: ?"  # syslog / journald
    r"|\[rank\d{1,6}\]: ?"  # torchrun
    r"|#\d{1,6} \d{1,6}\.\d{1,3} "  # docker buildkit
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"  # ISO timestamp, then
    r"(?: - | \[[A-Z]{3,8}\] (?:\([\w.]{1,100}\) )?| )"  # ComfyUI " - ", logging " [WARNING] (name) ", CI " "
    r"|\[\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?\](?: [\w.]{1,100}:)?(?: \[[A-Z]{3,8}\])? ?"  # torch logging
    r"|\[(?:stderr|stdout|err|out)\] ?"  # process managers
    r"|##\[(?:error|warning|notice|debug|group|endgroup|command)\]"  # GitHub Actions
    r"|(?:> ?){1,8}(?=\S| {2,})"  # e-mail / Markdown quotes, REPL prompts
    r")",
    re.MULTILINE,
)

# A Windows path (C:\\Users\\…\\site-packages\\…) is read with forward slashes, as patterns expect.
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s\"'<>|*?]{0,1024}")
# A Markdown link around a file name ([flash_attn_2_cuda….so](http://…)) is read as its text.
_MD_LINK = re.compile(r"\[([^\[\]\n]{1,300})\]\((?:https?://|/)[^()\s]{0,500}\)")

# xformers' "No operator found" table pasted with its line breaks lost: one line that holds
# the inputs, the operator headers and their reasons.  Breaks are put back before each part,
# so the table is read whole.
_TABLE_JOINED = "is not supported because:"
_TABLE_SPLITS = (
    (re.compile(r"((?:with|support) inputs:) "), "\\1\n"),
    (re.compile(r" (?=(?:query|key|value|attn_bias|p) {1,20}: )"), "\n     "),
    (re.compile(r" (?=`[^`\n]{1,100}` is not supported because:)"), "\n"),
    (re.compile(r"(is not supported because:) "), "\\1\n    "),
    (re.compile(
        r" (?=device=|dtype=|max\(|min\(|unsupported embed|xFormers wasn't|[Oo]perator wasn't|requires "
        r"|bf16 is only|attn_bias type|attn_bias\.stride|triton is not available|Computing the bias"
        r"|Broadcasting the|bias with non-zero|only head-dim|has custom scale)"
    ), "\n    "),
)


_BLANK_RUN = re.compile(r"\n[ \t]{1,20}(?=\n)")


def _split_joined_table(line: str) -> str:
    if _TABLE_JOINED not in line or len(line) < 120:
        return line
    for pattern, repl in _TABLE_SPLITS:
        line = pattern.sub(repl, line)
    return _BLANK_RUN.sub("", line)


def strip_control(text: str) -> str:
    """``text`` without terminal escape sequences or control characters (newlines and tabs kept)."""
    if "\x1b" in text:
        text = _OSC.sub("", text)
        text = _CSI.sub("", text)
        text = _ESC.sub("", text)
    if "\x9b" in text:
        text = _C1_CSI.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def normalize(text: str) -> str:
    """The log as patterns see it: no escape sequences or collector prefixes, ``\\n`` line ends,
    forward-slash paths, link text instead of Markdown links, joined xformers tables split again."""
    text = strip_control(text)
    for _ in range(3):
        text, n = _LINE_PREFIXES.subn("", text)
        if not n:
            break
    if ":\\" in text:
        text = _WINDOWS_PATH.sub(lambda m: m.group(0).replace("\\", "/"), text)
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    if _TABLE_JOINED in text:
        text = "\n".join(_split_joined_table(line) for line in text.split("\n"))
    return text


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

# At most this many matches of one signature are read: a log that repeats one message ten
# thousand times has one cause, and the ordering below stays cheap.
MAX_MATCHES_PER_SIGNATURE = 8


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
        pins: Sequence[str] = (),
        indexes: Sequence[str] = (),
    ) -> Diagnosis:
        """A diagnosis from this match: the signature's templates unless overridden."""
        sig = self.signature
        # An optional group that did not take part in the match reads as empty text.
        vals: dict[str, str | None] = {k: v if v is not None else "" for k, v in self.groups.items()}
        if values:
            vals.update(values)
        pkgs = tuple(packages if packages is not None else sig.packages)
        named = vals.get("package")
        if named and packages is None:
            # A pattern's ``package`` group names the distribution the log is about.
            canonical = re.sub(r"[-_.]+", "-", named).lower()
            if canonical not in pkgs:
                pkgs = (canonical, *pkgs)
        return Diagnosis(
            id=id or sig.id,
            cause=render(cause if cause is not None else sig.cause, vals),
            packages=pkgs,
            fix=render(fix if fix is not None else sig.fix, vals),
            commands=tuple(render(c, vals) for c in (commands if commands is not None else sig.commands)),
            evidence=evidence if evidence is not None else self.evidence,
            line=line if line is not None else self.line,
            source=sig.source,
            pins=tuple(pins),
            indexes=tuple(indexes),
        )


def _order(found: list[Diagnosis], signatures: Sequence[Signature]) -> list[Diagnosis]:
    """Put each diagnosis after every found diagnosis that explains it (``explains`` in the data).

    A stable topological order: among diagnoses nothing else explains, the earlier (signature
    priority, then position in the log) comes first.
    """
    explains = {s.id: set(s.explains) for s in signatures if s.explains}
    if not explains:
        return found
    ids = {d.id for d in found}
    parents: dict[int, set[int]] = {i: set() for i in range(len(found))}
    for i, d in enumerate(found):
        for j, e in enumerate(found):
            if i != j and e.id != d.id and d.id in explains.get(e.id, ()) and e.id in ids:
                parents[i].add(j)
    out: list[Diagnosis] = []
    placed: set[int] = set()
    while len(placed) < len(found):
        ready = [i for i in range(len(found)) if i not in placed and not (parents[i] - placed)]
        if not ready:  # a cycle in the data: fall back to the given order for the rest
            ready = [min(i for i in range(len(found)) if i not in placed)]
        placed.add(ready[0])
        out.append(found[ready[0]])
    return out


def run(
    text: str,
    signatures: Sequence[Signature],
    *,
    target: Target | None,
    source: CompatibilitySource | None,
) -> list[Diagnosis]:
    """Every diagnosis the log supports, root causes first, duplicates merged.

    Order: a diagnosis that ``explains`` another comes before it (a CPU-only torch before the
    xformers and bitsandbytes messages it causes); otherwise signature order, then log order.
    """
    from attnlock.diagnose.fixes import COMPUTATIONS

    text = normalize(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    found: list[tuple[int, int, Diagnosis]] = []
    matched_ids: set[str] = set()
    for rank, sig in enumerate(signatures):
        if sig.scope or not sig.may_match(text):
            continue
        for n, m in enumerate(sig.pattern.finditer(text)):
            if n >= MAX_MATCHES_PER_SIGNATURE:
                break
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
    return _order(out, signatures)
