"""Shared pieces of the check rules: requirement rendering, in-place edits, findings, pins per environment."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.check.document import Entry, IndexDecl
from attnlock.check.findings import Edit, Finding
from attnlock.model import CudaVariant

if TYPE_CHECKING:
    pass


_VARIANT_LABEL = re.compile(r"^(cu\d{2,3}|cpu|rocm\d+(?:\.\d+){0,2}|xpu)$")


#: flash-attn's local label: ``cu123torch2.4cxx11abiFALSE`` (Dao-AILab releases) or ``cu128torch2.11``
#: (third-party prebuilt wheels, no ABI part); packaging lowercases it.
_FA_LABEL = re.compile(r"(cu\d+)?torch(\d+)\.(\d+)(?:cxx11abi(true|false))?")


#: ``-cp310-cp310-linux_x86_64.whl``: the cp tag and platform tag of a wheel file name.
_WHEEL_TAGS = re.compile(r"-(cp\d+)-[^-]+-([A-Za-z0-9_.]+)\.whl$")


_TORCH = "torch"


def render(req: Requirement, *, specifier: str | None = None, extras: Iterable[str] | None = None,
           url: str | None = None, keep_url: bool = True, original: str | None = None) -> str:
    """Requirement text with some parts replaced; the marker is kept (verbatim from ``original`` if given)."""
    name = req.name
    ex = sorted(req.extras) if extras is None else sorted(extras)
    text = name + (f"[{','.join(ex)}]" if ex else "")
    tail = ""
    if req.marker is not None:
        tail = (_marker_tail(original) if original else None) or f"; {req.marker}"
    the_url = url if url is not None else (req.url if keep_url else None)
    if the_url:
        return f"{text} @ {the_url}" + ((" " + tail.lstrip()) if tail else "")
    return text + (specifier if specifier is not None else str(req.specifier)) + tail


def _marker_tail(original: str) -> str | None:
    """``" ; sys_platform == 'linux'"`` of a requirement as written (whitespace before ``;`` kept)."""
    idx = original.find(" ;") if "@" in original.split(";", 1)[0] else original.find(";")
    if idx < 0:
        return None
    while idx > 0 and original[idx - 1] in " \t":
        idx -= 1
    return original[idx:]


def edit_for(entry: Entry, new_text: str) -> Edit | None:
    """The in-place edit replacing ``entry``'s requirement with ``new_text`` (None when not safe)."""
    if entry.span is None or "\n" in new_text or "\r" in new_text:
        return None
    if entry.hashes:
        return None  # new version, old --hash lines: pip would refuse it; the hashes must be regenerated
    if not entry.quote:
        return Edit(entry.path, entry.span.start, entry.span.end, new_text)
    if entry.quote == "'" and "'" not in new_text:
        return Edit(entry.path, entry.span.start, entry.span.end, f"'{new_text}'")
    escaped = new_text.replace("\\", "\\\\").replace('"', '\\"')
    return Edit(entry.path, entry.span.start, entry.span.end, f'"{escaped}"')


def _finding(code: str, entry: Entry, message: str, packages: Iterable[str], fix: str | None,
             new_text: str | None = None) -> Finding:
    edit = edit_for(entry, new_text) if new_text is not None else None
    if fix and entry.hashes and new_text is not None:
        fix += " (then regenerate its --hash lines)"
    return Finding(code, entry.path, entry.line, entry.column, message, tuple(dict.fromkeys(packages)),
                   fix=fix, edit=edit)


def _label(version: Version | None) -> str | None:
    return version.local if version is not None else None


def _variant_of_label(label: str | None) -> CudaVariant | None:
    if not label or not _VARIANT_LABEL.match(label):
        return None
    try:
        return CudaVariant.parse(label)
    except ValueError:
        return None
    except Exception:  # UsageError from a label that looks like one but is not
        return None


def _index_variant(decl: IndexDecl) -> CudaVariant | None:
    tail = decl.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    return _variant_of_label(tail)


def _spec_text(spec: SpecifierSet) -> str:
    return str(spec) or "(any version)"


class _Pin:
    """What the active entries of one package say in one environment.

    A plain class, like the other records private to this module (NamedTuples): a dataclass
    costs about a millisecond to create at import, on the path every pre-commit run pays.
    """

    __slots__ = ("name", "entries", "exact", "spec", "override")

    def __init__(self, name: str, entries: list[Entry], exact: Version | None, spec: SpecifierSet,
                 override: bool) -> None:
        self.name = name
        self.entries = entries
        self.exact = exact
        self.spec = spec
        self.override = override

    @property
    def entry(self) -> Entry:
        for e in self.entries:
            if e.exact_version is not None:
                return e
        return self.entries[0]


def _pins(entries: Iterable[Entry]) -> dict[str, _Pin]:
    out: dict[str, _Pin] = {}
    for e in entries:
        name = e.name
        if name is None or e.requirement is None:
            continue
        pin = out.setdefault(name, _Pin(name, [], None, SpecifierSet(), False))
        pin.entries.append(e)
        if e.kind == "override":
            pin.override = True
        if e.exact_version is not None and pin.exact is None:
            pin.exact = e.exact_version
        if not e.requirement.url:
            pin.spec &= e.requirement.specifier
    return out


def _contains(spec: SpecifierSet, version: Version) -> bool:
    return spec.contains(version, prereleases=True)


