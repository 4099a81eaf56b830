"""The JSON emitter: the ``generate --format json`` shape of ``docs/CLI.md``."""

from __future__ import annotations

import json
from typing import Any

from attnlock.emit.constraints import left_out
from attnlock.model import Plan


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as plain data: target, pins, indexes, urls, excluded, reasons (+ builds, notes)."""
    t = plan.target
    torch = plan.pin("torch")
    cuda: str | None = None
    if t.cuda is not None:
        cuda = str(t.cuda.version) if t.cuda.is_cuda and t.cuda.version else t.cuda.label
    elif torch is not None and torch.build:
        from attnlock.model import CudaVariant

        v = CudaVariant.parse(torch.build)
        cuda = str(v.version) if v.is_cuda and v.version else v.label
    pins: dict[str, str] = {}
    for p in plan.pins:
        if p.url:
            continue
        pins[p.package] = f"=={p.version}" if p.index and p.version is not None else str(p.specifier)
    out: dict[str, Any] = {
        "target": {
            "torch": (f"{torch.version}" + (f"+{torch.build}" if torch.build and torch.version and
                                            not torch.version.local else "")) if torch else None,
            "cuda": cuda,
            "python": str(t.python) if t.python else None,
            "platform": str(t.platform) if t.platform else None,
            "gpu": str(t.gpu) if t.gpu else None,
            "driver": t.driver_words,
        },
        "pins": pins,
        "indexes": [{"url": ix.url, "name": ix.name, "packages": list(ix.packages)} for ix in plan.indexes],
        "urls": {p.package: p.url for p in plan.pins if p.url},
        "excluded": [
            {"package": e.package, "specifier": e.specifier, "reason": e.reason, "evidence": e.evidence}
            for e in plan.excluded
        ],
        "reasons": {p.package: p.reason for p in plan.pins},
        "builds": {p.package: p.build for p in plan.pins if p.build},
        "notes": list(plan.notes),
        "left_out": [{"package": name, "reason": why} for name, why in left_out(plan)],
    }
    sources = {p.package: p.source for p in plan.pins if p.source}
    if sources:  # only with --source: a plan without community builds keeps its shape
        out["sources"] = sources
    return out


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_json(plan), indent=2) + "\n"
