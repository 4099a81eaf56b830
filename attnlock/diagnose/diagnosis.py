"""The product of diagnosis: one named cause of a failure, its fix, and the log line that shows it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Diagnosis:
    """A cause found in an error log, with the fix for the target.

    ``id`` names the signature (``data/curated/signatures.toml``) that matched;
    ``evidence`` is the log line that matched it and ``line`` its 1-based number;
    ``commands`` are shell commands that apply the fix (may be empty when the
    fix is a code change); ``source`` lists the URLs that document the failure.
    """

    id: str
    cause: str
    packages: tuple[str, ...]
    fix: str
    commands: tuple[str, ...] = ()
    evidence: str = ""
    line: int | None = None
    source: tuple[str, ...] = field(default=(), compare=False)
    pins: tuple[str, ...] = ()  # the fix as requirement lines of a resolver plan (they pass ``attnlock check``)
    indexes: tuple[str, ...] = ()  # the PyTorch indexes those pins come from

    def to_json(self) -> dict[str, object]:
        """The ``diagnose --json`` record of ``docs/CLI.md`` (plus ``line`` and ``source``)."""
        return {
            "id": self.id,
            "cause": self.cause,
            "packages": list(self.packages),
            "fix": self.fix,
            "commands": list(self.commands),
            "evidence": self.evidence,
            "line": self.line,
            "pins": list(self.pins),
            "indexes": list(self.indexes),
            "source": list(self.source),
        }
