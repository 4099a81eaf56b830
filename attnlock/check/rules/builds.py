"""Binaries compiled for another torch than the pinned one (AL102) and CUDA variants that cannot agree (AL107), judged through the ABI windows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.version import Version

from attnlock.check.context import Env, InstallSet
from attnlock.check.findings import Finding

if TYPE_CHECKING:
    from attnlock.database import Database, Release
    from attnlock.database.store import (
        FileInfo,
    )
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


def _build_note(rel: Release, env: Env) -> str:
    torches = _build_torches(rel, env)
    if not torches:
        return ""
    return f" (its wheels were compiled against torch {', '.join(sorted(str(t) for t in torches))})"


_BUILDS: dict[tuple[int, Env], frozenset[Version]] = {}


def _build_torches(rel: Release, env: Env) -> frozenset[Version]:
    """The torch builds ``rel``'s wheels for ``env`` were compiled against (xformers build info)."""
    if not rel.build_info:
        return frozenset()
    key = (id(rel.build_info), env)
    found = _BUILDS.get(key)
    if found is None:
        found = _BUILDS[key] = frozenset(_compute_build_torches(rel, env))
    return found


def _compute_build_torches(rel: Release, env: Env) -> set[Version]:
    chosen: set[Version] = set()
    fallback: set[Version] = set()
    for file, v in _build_files(rel):
        fallback.add(v)
        if file is not None and file.runs_on(env.platform, env.python):
            chosen.add(v)
    return chosen or fallback


_BUILD_FILES: dict[int, tuple[object, tuple[tuple[FileInfo | None, Version], ...]]] = {}


def _build_files(rel: Release) -> tuple[tuple[FileInfo | None, Version], ...]:
    """``rel``'s build info parsed once: (its wheel file, the torch it was compiled against) per entry."""
    infos = rel.build_info or {}
    found = _BUILD_FILES.get(id(infos))
    if found is not None and found[0] is infos:
        return found[1]
    files = {f.filename: f for f in rel.files}
    out: list[tuple[FileInfo | None, Version]] = []
    for filename, info in infos.items():
        if not isinstance(info, dict) or not isinstance(info.get("torch"), str):
            continue
        try:
            out.append((files.get(filename), Version(info["torch"])))
        except ValueError:
            continue
    _BUILD_FILES[id(infos)] = (infos, tuple(out))
    return tuple(out)


def build_rules(iset: InstallSet, env: Env, db: Database, pins: dict[str, _Pin]) -> list[Finding]:
    """Binaries compiled for another torch (xformers build info), and CUDA variants that cannot agree."""
    out: list[Finding] = []
    torch = pins.get(_TORCH)
    for name, pin in pins.items():
        if name == _TORCH or pin.exact is None:
            continue
        rel = _release(db, name, pin.exact)
        if rel is None or not rel.build_info or pin.exact.local:
            continue
        built = _build_torches(rel, env)
        if not built or torch is None or torch.exact is None:
            continue
        have = torch.exact
        same_public = [b for b in built if b.public == have.public]
        req = _req_on(db, rel, _TORCH, env)
        if not same_public:
            if req is not None and not pin.override and not _contains(req.specifier, have):
                continue  # AL101 already says it, with the build note
            alts = [r for r in reversed(db.releases(name))
                    if _candidate(r) and any(b.public == have.public for b in _build_torches(r, env))]
            new = render(pin.entry.requirement, specifier=f"=={alts[0].version}", original=pin.entry.text) if (
                alts and pin.entry.requirement is not None) else None
            out.append(_finding(
                "AL102", pin.entry,
                f"{name} {pin.exact} wheels were compiled against torch "
                f"{', '.join(sorted(str(b) for b in built))}; torch is pinned to {have}: its C++/CUDA extensions "
                "fail to load (the metadata does not say so)", [name, _TORCH],
                new or f"torch=={sorted(built)[-1].public} (the torch {name} {pin.exact} was built for)", new))
            continue
        torch_variant = _variant_of_label(have.local)
        built_variants = {_variant_of_label(b.local) for b in same_public} - {None}
        if torch_variant is not None and built_variants and torch_variant not in built_variants:
            index_builds = [variants for t, variants, _src in db.xformers_index_builds(pin.exact)
                            if t.public == have.public]
            variant_index = any(_index_variant(d) == torch_variant for d in iset.indexes)
            if variant_index and (not index_builds or any(torch_variant in v for v in index_builds)):
                continue  # the configured PyTorch index serves a matching build (or may: not recorded)
            labels = ", ".join(sorted(v.label for v in built_variants if v is not None))
            out.append(_finding(
                "AL107", pin.entry,
                f"{name} {pin.exact} from the default index is built for {labels}; torch is the "
                f"{torch_variant.label} build {have}: this set of pins works for no CUDA variant",
                [name, _TORCH],
                f"pin torch=={have.public}+{sorted(v.label for v in built_variants if v)[0]}, or install {name} "
                f"from the PyTorch index for {torch_variant.label}"))
    if torch is not None and torch.exact is not None and torch.exact.local:
        variant = _variant_of_label(torch.exact.local)
        known = db.torch_variants(Version(torch.exact.public))
        if variant is not None and known is not None:
            available = set(known.index) | ({known.pypi} if known.pypi else set())
            if available and variant not in available:
                out.append(_finding(
                    "AL107", torch.entry,
                    f"torch {torch.exact.public} has no {variant.label} build (builds: "
                    f"{', '.join(sorted(v.label for v in available))})", [_TORCH],
                    f"pin torch=={torch.exact.public}+<{'|'.join(sorted(v.label for v in available))}>"))
    return out


