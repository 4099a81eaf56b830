"""The finding codes of ``attnlock check``: stable identifiers, severities and what they mean.

Codes are an API (CI configurations and SARIF uploads refer to them): a code
is never reused for another meaning.  ``AL0xx`` input problems, ``AL1xx`` pins
that cannot work together, ``AL2xx`` what the installer will do instead of
what the file says, ``AL3xx`` indexes, ``AL4xx`` constraints-file hazards.
:func:`markdown_table` renders the table pasted into the README.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    """One finding code: identifier, severity (``error`` / ``warning``), short name, meaning.

    A NamedTuple, not a frozen dataclass: equally immutable, and about a millisecond cheaper to
    create on the import path of every ``attnlock check`` run.
    """

    code: str
    severity: str
    name: str
    summary: str


_TABLE: tuple[Code, ...] = (
    Code("AL001", "error", "unreadable-file",
         "The file cannot be read: missing, unreadable, a directory, binary, too large or in an unknown encoding."),
    Code("AL002", "error", "syntax-error",
         "A line or value does not parse: a garbled requirement, invalid TOML, a key of the wrong type."),
    Code("AL003", "error", "circular-include",
         "`-r`/`-c` includes form a cycle; pip recurses until it fails."),
    Code("AL004", "error", "missing-include",
         "A `-r`/`-c` include names a file that does not exist (relative to the including file)."),
    Code("AL005", "warning", "unchecked-include",
         "A `-r`/`-c` include is a URL; check runs offline and did not read it."),
    Code("AL006", "warning", "unknown-option",
         "An option line pip does not know in a requirements file; pip stops with a usage error."),
    Code("AL007", "warning", "duplicate-pin",
         "The same package is pinned twice to the same version in what one install reads; a change to one pin "
         "(by hand or by `--fix`) leaves the other contradicting it."),
    Code("AL101", "error", "requires-other-version",
         "A pinned package's metadata requires a version of another pinned package that the file excludes "
         "(xformers 0.0.27 requires torch==2.3.1)."),
    Code("AL102", "error", "built-for-other-torch",
         "A pinned binary was compiled for another torch than the one pinned (xformers build info, "
         "a flash-attn `+cu121torch2.4` build); it imports, then fails to load its kernels."),
    Code("AL103", "error", "triton-mismatch",
         "triton is pinned to another version than the one the pinned torch requires."),
    Code("AL104", "error", "companion-mismatch",
         "torchvision or torchaudio is pinned to a release made for another torch."),
    Code("AL105", "error", "shared-dependency-conflict",
         "Two pinned packages require versions of a shared dependency (nvidia-cudnn-cu12 for jax and torch) "
         "that no release satisfies together."),
    Code("AL106", "error", "known-bad-combination",
         "The pins match a combination the database records as broken (with the error it produces)."),
    Code("AL107", "error", "no-cuda-variant",
         "The pins together work for no CUDA variant the target allows (their builds disagree on CUDA)."),
    Code("AL108", "error", "torch-outside-target",
         "torch is pinned to a release the target's `--torch` excludes."),
    Code("AL109", "error", "driver-too-old",
         "The pinned torch build needs a newer CUDA than the target's `--driver` supports, even with "
         "minor-version compatibility."),
    Code("AL110", "error", "contradictory-pins",
         "Two requirements of one package that apply together admit no common version "
         "(`torch==2.3.1` and `torch==2.4.1`, or `torch==2.3.1` with `torch>=2.4`): pip and uv stop with no solution."),
    Code("AL201", "warning", "torch-floats",
         "A package whose metadata bounds torch (xformers, torchvision, …) or a flash-attn build labelled for "
         "one torch is pinned while torch is not: the installer moves torch to whatever the kernel requires. "
         "Reported once per file and package, at the first such line; the message counts the other lines "
         "and names their extras or dependency groups."),
    Code("AL204", "warning", "possible-known-bad",
         "The pins fall into a combination the database records as reported broken (one unconfirmed report), "
         "or into a known-bad one unless something the file does not say (the GPU, the wheel build) is outside it."),
    Code("AL112", "error", "no-working-plan",
         "No combination of builds in the file's ranges works together for the target: the resolver's "
         "explanation, and the plan that would work as the fix."),
    Code("AL111", "error", "resolves-into-known-bad",
         "An installer choosing the newest releases the file's ranges allow lands in a known-bad combination; "
         "the fix pins the plan attnlock's resolver finds, which avoids it."),
    Code("AL202", "warning", "unknown-release",
         "The pinned version is not a release the database knows."),
    Code("AL203", "error", "no-wheel-for-target",
         "The pinned release has no wheel for any Python and platform the target allows "
         "(torch 2.5.1 on CPython 3.13 for Windows)."),
    Code("AL301", "error", "local-version-without-index",
         "A `+cu121`-style local version is pinned but no index in the file serves such builds."),
    Code("AL302", "error", "index-variant-mismatch",
         "An index for one CUDA variant is configured while torch is pinned to a build of another."),
    Code("AL303", "warning", "unscoped-extra-index",
         "`--extra-index-url`, or a `[[tool.uv.index]]` without `explicit = true`, lets any package come from "
         "either index (dependency confusion; pip takes the highest version, uv the first index that has it): "
         "scope the index to the packages it serves."),
    Code("AL304", "warning", "index-in-constraints",
         "`--index-url` inside a constraints file silently replaces the index given on pip's command line."),
    Code("AL401", "error", "extras-in-constraints",
         "A constraint with extras (`pkg[extra]`) makes every pip install using the file fail."),
    Code("AL402", "warning", "hash-in-constraints",
         "`--hash` in a constraints file switches pip 23.x/24.0 into require-hashes mode and breaks installs."),
    Code("AL403", "error", "unsupported-constraint",
         "An editable (`-e`) or bare URL line in a constraints file is rejected by pip and uv."),
)

CODES: dict[str, Code] = {c.code: c for c in _TABLE}


def markdown_table() -> str:
    """The codes as a Markdown table (the README's ``attnlock check`` section)."""
    rows = ["| code | severity | name | meaning |", "|---|---|---|---|"]
    rows += [f"| `{c.code}` | {c.severity} | `{c.name}` | {c.summary} |" for c in _TABLE]
    return "\n".join(rows) + "\n"
