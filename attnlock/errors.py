"""Structured errors: what went wrong, where (file:line:column), why, and the fix.

Library code raises these; only the CLI boundary (``attnlock.cli``) turns them
into text and an exit code.  A traceback is printed only with ``-v``.
"""

from __future__ import annotations


class AttnlockError(Exception):
    """Base of every error attnlock reports to a user.

    ``exit_code`` follows the CLI contract: 1 findings / no plan / failed
    check, 2 usage, 3 internal error.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.hint = hint

    @property
    def location(self) -> str | None:
        """``path[:line[:column]]``, or None when the error has no place."""
        if self.path is None:
            return None
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        """The message as printed on stderr: location, message, hint."""
        head = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            return f"{head}\n  hint: {self.hint}"
        return head

    def to_json(self) -> dict[str, object]:
        """The ``{"error": {...}}`` shape of ``../shared/CLI.md``."""
        body: dict[str, object] = {"message": self.message, "hint": self.hint}
        if self.path is not None:
            body.update(path=self.path, line=self.line, column=self.column)
        return {"error": body}


class UsageError(AttnlockError):
    """The command line itself is wrong (a malformed option value)."""

    exit_code = 2


class InputError(AttnlockError):
    """A file or log the user handed us cannot be read or parsed."""

    exit_code = 1


class DataError(AttnlockError):
    """The database in data/ is malformed (names file, key and problem)."""

    exit_code = 3


class NoPlanError(AttnlockError):
    """No combination of releases satisfies the target; says why and what would."""

    exit_code = 1


class ToolError(AttnlockError):
    """An external tool (pip, uv, nvidia-smi, the package index) failed or hung."""

    exit_code = 1
