"""Binaries compiled for another torch than the pinned one (AL102) and CUDA variants that cannot agree (AL107), judged through the ABI windows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.version import Version

from attnlock.check.context import Env, InstallSet
from attnlock.check.findings import Finding

if TYPE_CHECKING:
    from attnlock.compat import AbiWindow
    from attnlock.database import Database, Release
from attnlock.check.rules._base import (
    _TORCH,
    _contains,
    _finding,
    _index_variant,
    _Pin,
    _variant_of_label,
    render,
)
from attnlock.check.rules.metadata import _candidate, _release, _req_on


def _build_note(db: Database, rel: Release, env: Env) -> str:
    torches = _build_torches(db, rel, env)
    if not torches:
        return ""
    return f" (its wheels were compiled against torch {', '.join(sorted(str(t) for t in torches))})"


def _build_torches(db: Database, rel: Release, env: Env) -> frozenset[Version]:
    """The torch builds ``rel``'s default-index wheels for ``env`` were compiled against (the model's builds)."""
    from attnlock.compat import model_for

    if not rel.build_info:
        return frozenset()
    found = frozenset(b.built_for for b in model_for(db).xformers_builds(rel, env.platform, env.python)
                      if b.origin == "pypi")
    return found or frozenset(b.built_for for b in model_for(db).xformers_builds(rel) if b.origin == "pypi")


def build_rules(iset: InstallSet, env: Env, db: Database, pins: dict[str, _Pin]) -> list[Finding]:
    """Binaries that do not load on the pinned torch build, judged through the model's ABI windows:
    AL102 when no build of the pinned release serves it, AL107 when only a PyTorch-index build does and
    the file does not name that index (or the torch build's CUDA variant has none)."""
    from attnlock.compat import model_for

    out: list[Finding] = []
    torch = pins.get(_TORCH)
    model = model_for(db)
    for name, pin in pins.items():
        if name != "xformers" or pin.exact is None or pin.exact.local:
            continue
        rel = _release(db, name, pin.exact)
        if rel is None or torch is None or torch.exact is None:
            continue
        builds = model.xformers_builds(rel, env.platform, env.python)
        if not any(b.origin == "pypi" for b in builds):
            continue  # no default-index wheel installs here: the release is judged where it does (AL203)
        have = torch.exact
        variant = _variant_of_label(have.local)
        if variant is None and not have.local:
            known = db.torch_variants(Version(have.public))
            variant = known.pypi if known is not None else None
        verdicts = [(b, model.judge(b, Version(have.public), variant.label if variant else None)) for b in builds]
        if variant is None:
            # The torch build's CUDA variant is unknown: only the torch release can be judged.
            verdicts = [(b, model.judge(b, Version(have.public), b.variant)) for b in builds]
        served = [b for b, v in verdicts if v.ok]
        pypi = [b for b in served if b.origin == "pypi"]
        if pypi:
            continue
        configured = {v.label for d in iset.indexes if (v := _index_variant(d)) is not None}
        reachable = [b for b in served if b.origin == "index" and b.index in configured]
        if reachable:
            continue
        if served:
            b = served[0]
            out.append(_finding(
                "AL107", pin.entry,
                f"{name} {pin.exact} from the default index does not load on torch {have} "
                f"({'; '.join(verdicts[0][1].reasons) or 'another build'}); its {b.index} build from the PyTorch "
                f"index does ({_window_words(model.window(b), b.built_for)}), "
                "and this file names no such index", [name, _TORCH],
                f"install {name} {pin.exact} from {model.index_url(b.index or '') or 'the PyTorch index for ' + str(b.index)}"
                + (f" ({verdicts[0][1].way_out} is the other way out)" if verdicts[0][1].way_out else "")))
            continue
        built = sorted({b.built_for for b in builds if b.origin == "pypi"} or {b.built_for for b in builds})
        if variant is not None and any(b.public == have.public for b in built):
            # The torch release is right, its CUDA variant is not, and no build of that variant exists.
            labels = ", ".join(sorted({b.local for b in built if b.local}))
            out.append(_finding(
                "AL107", pin.entry,
                f"{name} {pin.exact} from the default index is built for {labels}; torch is the {variant.label} "
                f"build {have}: this set of pins works for no CUDA variant", [name, _TORCH],
                f"pin torch=={have.public}+{sorted(b.local for b in built if b.local)[0]}, or install {name} from "
                f"the PyTorch index for {variant.label}"))
            continue
        req = _req_on(db, rel, _TORCH, env)
        if req is not None and not pin.override and not _contains(req.specifier, have):
            continue  # AL101 already says it, with the build note
        alts = [r for r in reversed(db.releases(name)) if _candidate(r) and any(
            model.judge(b, Version(have.public), variant.label if variant else b.variant).ok and b.origin == "pypi"
            for b in model.xformers_builds(r, env.platform, env.python))]
        new = render(pin.entry.requirement, specifier=f"=={alts[0].version}", original=pin.entry.text) if (
            alts and pin.entry.requirement is not None) else None
        why = "; ".join(dict.fromkeys(r for _, v in verdicts for r in v.reasons)) or "no build serves it"
        out.append(_finding(
            "AL102", pin.entry,
            f"{name} {pin.exact} wheels were compiled against torch {', '.join(str(b) for b in built)}; torch is "
            f"pinned to {have}: {why}, so its C++/CUDA extensions fail to load (the metadata does not say so)",
            [name, _TORCH],
            new or f"torch=={built[-1].public} (the torch {name} {pin.exact} was built for)", new))
    if torch is not None and torch.exact is not None and torch.exact.local:
        variant = _variant_of_label(torch.exact.local)
        known = db.torch_variants(Version(torch.exact.public))
        if variant is not None and known is not None and known.index_known:
            available = set(known.index) | ({known.pypi} if known.pypi else set())
            if available and variant not in available:
                out.append(_finding(
                    "AL107", torch.entry,
                    f"torch {torch.exact.public} has no {variant.label} build (builds: "
                    f"{', '.join(sorted(v.label for v in available))})", [_TORCH],
                    f"pin torch=={torch.exact.public}+<{'|'.join(sorted(v.label for v in available))}>"))
    return out




def _window_words(window: AbiWindow | None, built: Version) -> str:
    return window.describe(built) if window is not None else "the exact-build rule"
