"""Pins that fall into a known-bad combination (AL106) or a reported one (AL204), asked of the compatibility model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnlock.check.findings import Finding
from attnlock.check.rules._base import _finding, _Pin, _variant_of_label
from attnlock.compat import Installed, model_for
from attnlock.model import Target

if TYPE_CHECKING:
    from attnlock.database import Database


def installed_of(db: Database, pins: dict[str, _Pin]) -> dict[str, Installed]:
    """The exactly pinned packages as the model judges sets: version, build label, torch's CUDA variant."""
    out: dict[str, Installed] = {}
    for name, pin in pins.items():
        if pin.exact is None:
            continue
        label = pin.exact.local
        variant = None
        if name == "torch":
            v = _variant_of_label(label)
            if v is None and label is None:
                known = db.torch_variants(pin.exact)
                v = known.pypi if known is not None else None
            variant = v.label if v is not None else None
        # A flash-attn pin by version alone does not say which labelled wheel: the build is unknown.
        out[name] = Installed(pin.exact, label, variant, build_known=label is not None or name != "flash-attn")
    return out


def known_bad_rules(db: Database, pins: dict[str, _Pin], target: Target) -> list[tuple[str, Finding]]:
    """(record id, finding) for combinations the database records as broken: definite hits of confirmed records are errors
    (AL106); a reported record, or a hit that depends on what the file does not say (the GPU, the
    build), is a warning (AL204) naming what is unknown."""
    out: list[tuple[str, Finding]] = []
    for hit in model_for(db).known_bad_hits(installed_of(db, pins), gpu=target.gpu, platform=target.platform):
        kb = hit.record
        involved = [pins[n] for n in kb.packages if n in pins]
        if not involved:
            continue
        at = max(involved, key=lambda p: (p.entry.path, p.entry.line)).entry
        message = kb.reason or kb.id
        if kb.error:
            message += f" (fails with: {kb.error.strip().splitlines()[0]})"
        if kb.evidence:
            message += f" [{kb.evidence}]"
        if hit.definite and kb.confirmed:
            out.append((kb.id, _finding("AL106", at, f"known-bad combination {kb.id}: {message}", list(kb.packages),
                                kb.fix or None)))
        elif hit.definite:
            out.append((kb.id, _finding("AL204", at, f"reported (unconfirmed) broken combination {kb.id}: {message}",
                                        list(kb.packages), kb.fix or None)))
        else:
            unknown = " and ".join(hit.unknown)
            out.append((kb.id, _finding("AL204", at, f"{'known-bad' if kb.confirmed else 'reported'} combination {kb.id} "
                                f"unless {unknown} is outside it ({kb.words()}): {message}",
                                list(kb.packages), kb.fix or None)))
    return out
