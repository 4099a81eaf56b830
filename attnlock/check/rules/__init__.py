"""The rules of ``attnlock check``: findings about an install set, judged against the compatibility model.

One module per rule family (as ruff lays out its rules): :mod:`.files` (the file alone),
:mod:`.indexes` (local-version builds against indexes), :mod:`.target` (``--torch``,
``--driver``), :mod:`.releases` (unknown releases, missing wheels, torch floating),
:mod:`.dependencies` (metadata that excludes another pin), :mod:`.builds` (binaries for another
torch build, through the ABI windows), :mod:`.flash_attn` (labelled wheels), :mod:`.known_bad`,
and :mod:`.resolution`, which asks the resolver what an installer would choose from the file's
ranges.  Every compatibility fact comes from :mod:`attnlock.compat`; no rule keeps a table.
Findings may repeat; the caller deduplicates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnlock.check.context import Env, InstallSet
from attnlock.check.document import Entry
from attnlock.check.findings import Finding
from attnlock.check.rules._base import _Pin, _pins
from attnlock.check.rules.builds import _build_torches, build_rules
from attnlock.check.rules.dependencies import dependency_rules
from attnlock.check.rules.files import file_rules
from attnlock.check.rules.flash_attn import flash_attn_label_rules
from attnlock.check.rules.indexes import index_rules
from attnlock.check.rules.known_bad import known_bad_rules
from attnlock.check.rules.metadata import _release, _reqs
from attnlock.check.rules.releases import release_rules, torch_floats_rules
from attnlock.check.rules.resolution import resolution_rules
from attnlock.check.rules.target import target_rules
from attnlock.model import Target

if TYPE_CHECKING:
    from attnlock.database import Database


def run(iset: InstallSet, target: Target, db: Database | None) -> list[Finding]:
    """Every rule over one install set; findings may repeat (the caller deduplicates).

    Environments in which the same entries are active share their pins; the rules that
    read metadata still run per environment (markers in Requires-Dist differ), with the
    evaluated metadata memoised per database.
    """
    out = file_rules(iset) + index_rules(iset, target, db) + target_rules(iset, target, db)
    if db is not None:
        out += release_rules(iset, db) + torch_floats_rules(iset, db)
    possible: list[tuple[str, Finding]] = []  # AL204, with the record each names
    groups: dict[tuple[int, ...], tuple[list[Entry], list[Env]]] = {}
    for env in iset.envs:
        active = iset.active(env)
        groups.setdefault(tuple(id(e) for e in active), (active, []))[1].append(env)
    for active, envs in groups.values():
        pins = _pins(active)
        if not pins:
            continue
        if db is not None:
            for record, finding in known_bad_rules(db, pins, target):
                (possible.append((record, finding)) if finding.code == "AL204" else out.append(finding))
        known = [] if db is None else [
            (p, rel) for p in pins.values() if p.exact is not None
            for rel in (_release(db, p.name, p.exact),) if rel is not None]
        has_fa = "flash-attn" in pins
        judged: set[tuple[object, ...]] = set()
        for env in envs:
            if has_fa:
                out += flash_attn_label_rules(iset, env, db, active, pins)
            if not known or db is None:
                continue
            # Environments where every pinned release says the same are judged once.
            signature = tuple(
                (id(_reqs(db, rel, env, _extras(p))), _build_torches(db, rel, env)) for p, rel in known)
            if signature in judged:
                continue
            judged.add(signature)
            out += dependency_rules(iset, env, db, pins)
            out += build_rules(iset, env, db, pins)
    settled: set[str] = set()
    if db is not None and not any(f.severity == "error" for f in out):
        # Only where the pins one by one are sound: what would an installer choose from the ranges?
        resolved, settled = resolution_rules(iset, target, db)
        out += resolved
    # A record AL111 names for certain needs no AL204 "possible" finding beside it.
    out += [f for record, f in possible if record not in settled]
    return out


def _extras(pin: _Pin) -> frozenset[str]:
    req = pin.entry.requirement
    return frozenset(req.extras) if req is not None else frozenset()


