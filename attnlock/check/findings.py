"""A finding: one problem at one place, with its stable code, severity and the line to write.

Codes and their meaning live in :mod:`attnlock.check.codes`; a finding's
severity is its code's severity.  ``fix`` is the human instruction (the line
to write); ``edit`` is the machine-applicable replacement ``--fix`` performs
when the change is unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edit:
    """Replace characters ``[start, end)`` of ``path``'s decoded text with ``replacement``."""

    path: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class Finding:
    """One problem ``attnlock check`` reports."""

    code: str
    path: str
    line: int
    column: int
    message: str
    packages: tuple[str, ...] = ()
    fix: str | None = None
    edit: Edit | None = field(default=None, compare=False)

    @property
    def severity(self) -> str:
        from attnlock.check.codes import CODES

        return CODES[self.code].severity

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.code, self.message)

    def to_json(self) -> dict[str, object]:
        """The finding in the ``check --format json`` shape of ``../shared/CLI.md``."""
        return {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "packages": list(self.packages),
            "message": self.message,
            "fix": self.fix,
            "fixable": self.edit is not None,
        }
