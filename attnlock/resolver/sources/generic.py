"""Every other package: releases newest first, bounded to the torch era of their upload where they pair with torch."""

from __future__ import annotations

import functools

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.compat import model_for
from attnlock.database.store import Release
from attnlock.resolver.candidates import _TORCH_ONLY, Candidate, CandidateSource
from attnlock.resolver.requirement import Req


def generic_candidates(self: CandidateSource, name: str, extras: frozenset[str]) -> list[Candidate]:
    """Releases newest first; for a package that pairs with torch (some release declares a torch
    requirement: unsloth), those whose metadata admits a torch explicitly come before those that
    declare none, and each release is bounded to the torch minors that existed when it was
    uploaded — a release uploaded before torch X.Y cannot have been made for it (unless the user
    pins the release)."""
    out: list[Candidate] = []
    silent: list[Candidate] = []
    may_build = name in self.allow_build
    torches = self._torch_versions() if "torch" in self.known() else None
    releases = self.db.releases(name)
    presence = model_for(self.db).index_presence(name)
    if presence is not None and presence.served == "placeholder" and presence.versions is not None:
        for rel in releases:
            if presence.versions.contains(rel.version, prereleases=True):
                self.reject(name, f"{name} {rel.version}", "placeholder",
                            f"{name} {rel.version} on the default index is a name placeholder, not the package"
                            + (f"; the real builds are on {presence.index}" if presence.index else ""))
        releases = tuple(r for r in releases if not presence.versions.contains(r.version, prereleases=True))
    elif presence is not None and presence.versions is not None:
        # Releases the default index still lists but cannot install as a working set (jax 0.3.x: its
        # lockstep jaxlib is no longer served): said as such rather than as a missing wheel.
        for rel in releases:
            if presence.versions.contains(rel.version, prereleases=True):
                self.reject(name, f"{name} {rel.version}", "not-served", f"{name} {rel.version}: {presence.what}")
        releases = tuple(r for r in releases if not presence.versions.contains(r.version, prereleases=True))
    # Pairs with torch: a recent release requires torch itself (not only under an extra: triton's
    # test extra names torch, but torch requires triton, not the reverse).
    pairs = torches is not None and name != "torch" and name not in self.user_pinned and any(
        mentions_torch(self, rel, frozenset()) for rel in releases[-5:])
    for rel in reversed(releases):
        if torches is not None and not self._torch_fits(rel, torches, extras):
            continue  # its torch range misses every torch the target allows (unsloth: most releases)
        era: Req | None = None
        if pairs:
            era = _torch_era(self, rel)
            if era is not None and torches is not None and not _era_admits(self, era, torches):
                self.reject(name, f"{name} {rel.version}", "torch-era", f"{era.parent}")
                continue
        pairing = _pairing(self, rel)
        if pairing is not None and torches is not None and not any(
                pairing.specifier.contains(v, prereleases=True) for v in torches):
            self.reject(name, f"{name} {rel.version}", "torch-pairing", f"{pairing.parent}: torch {pairing.specifier}")
            continue
        if not self._release_ok(rel, need_wheel=not may_build):
            continue
        if not _cuda_binaries_fit(self, rel):
            continue
        if name == "jax" and "jaxlib" in self.known() and not any(
                d.name == "jaxlib" for d in self._deps(rel, extras, parent="")):
            # jax runs on jaxlib; releases that reach it only through an extra (0.4.21's [cpu])
            # would install a jax that cannot import.
            self.reject(name, f"jax {rel.version}", "platform",
                        f"jax {rel.version}{'[' + ','.join(sorted(extras)) + ']' if extras else ''} "
                        f"requires no jaxlib on {self._target_words()}")
            continue
        sdist = not self.db.wheel_ok(rel, self._platform, self._python)
        explicit = not pairs or mentions_torch(self, rel, extras)
        build = None if sdist else _wheel_build(self, rel)
        deps = tuple(d for d in (era, build, pairing, _cuda_libraries(self, rel)) if d is not None)
        (out if explicit else silent).append(Candidate(
            name, rel.version, None, "sdist" if sdist else "pypi", extras=extras,
            deps=deps,
            lazy_deps=functools.partial(self._deps, rel, extras, parent=f"{name} {rel.version}"),
            why=(_engine_why(self, rel, build) if build is not None or _is_engine(self, rel.package) else
                 "Requires-Dist of the release" if explicit else
                 "declares no torch requirement; bounded to the torch releases that existed when it was uploaded")
            if not sdist else "built from the sdist (--allow-build)",
            requires_dist=rel.metadata[0].requires_dist if sdist and rel.metadata else (),
        ))
    return out + silent


def _cuda_binaries_fit(self: CandidateSource, rel: Release) -> bool:
    """An engine whose default-index wheels carry CUDA kernels (``engines.toml`` ``binaries = "cuda"``:
    vllm) fits no target whose torch is a CPU, ROCm or XPU build."""
    cuda = self.target.cuda
    if cuda is None or cuda.is_cuda:
        return True
    engine = model_for(self.db).engine(rel.package)
    if engine is None or engine.binaries != "cuda":
        return True
    desc = f"{rel.package} {rel.version}"
    self.reject(rel.package, desc, "cuda",
                f"{desc}'s wheels carry CUDA kernels (data/curated/engines.toml: {engine.source.split()[0]}); "
                f"the target is a {cuda.label} torch build: plan it for an NVIDIA GPU (--gpu, --cuda) or build "
                f"{rel.package} from source for {cuda.label}")
    return False


def _is_engine(self: CandidateSource, package: str) -> bool:
    from attnlock.compat import model_for

    return model_for(self.db).engine(package) is not None


def _engine_why(self: CandidateSource, rel: Release, build: Req | None) -> str:
    """The reason line of a serving engine's release: its exact torch pin and the build its wheel needs."""
    if build is not None:
        return f"Requires-Dist of the release; its wheel is compiled against {_build_words(build)} (data/curated/engines.toml)"
    return ("Requires-Dist of the release; the torch build (CUDA variant) its default-index wheel is compiled "
            "against is not recorded: if its kernels fail to load, use the torch build its project names")


def _build_words(req: Req) -> str:
    pin = str(req.specifier).removeprefix("==")
    if req.source == "pypi":
        return f"the default-index build of torch {pin}" + (f" ({req.variant})" if req.variant else "")
    return f"torch {pin}+{req.variant}"


def _wheel_build(self: CandidateSource, rel: Release) -> Req | None:
    """A serving engine's wheel (vllm) compiled against one torch build: ``torch==X`` of that build, where
    ``engines.toml [[wheel_build]]`` records it (its Requires-Dist says only ``==X``)."""
    from attnlock.compat import model_for
    from attnlock.compat.engines import exact_torch_pin
    from attnlock.resolver.sources.torch import pypi_variant

    model = model_for(self.db)
    if model.engine(rel.package) is None:
        return None
    build = model.engine_wheel_build(rel.package, rel.version)
    pin = exact_torch_pin(rel)
    if build is None or pin is None:
        return None
    variant: str | None
    source: str | None
    if build.variant is not None:
        variant, source = build.variant, None
    else:  # the default-index build, whatever variant it is on the target's platform
        default = pypi_variant(self, pin)
        variant, source = (default.label if default is not None else None), "pypi"
    req = Req("torch", SpecifierSet(f"=={pin}"), variant=variant, source=source)
    return Req("torch", req.specifier, variant=variant, source=source,
               parent=f"{rel.package} {rel.version} (its wheel is compiled against {_build_words(req)})")


def _pairing(self: CandidateSource, rel: Release) -> Req | None:
    """The curated torch pairing of ``rel`` (packages.toml ``[[torch_pairing]]``) as a requirement on torch:
    intersected with the release's own Requires-Dist by the resolver, so it only ever narrows."""
    if "torch" not in self.known():
        return None
    p = model_for(self.db).torch_pairing(rel.package, rel.version)
    if p is None:
        return None
    return Req("torch", p.torch, parent=f"{rel.package} {rel.version} (works with torch {p.torch}: {p.source.split()[0]})")


def _cuda_libraries(self: CandidateSource, rel: Release) -> Req | None:
    """A package that loads the native library named after torch's CUDA (bitsandbytes): the CUDA torch
    builds its wheel for the target ships a library for (packages.toml ``[[cuda_library]]`` with the
    wheel's member names, refresh.toml ``[members]``); None where either is not recorded."""
    if "torch" not in self.known() or not rel.members:
        return None
    model = model_for(self.db)
    rule = model.cuda_library_rule(rel.package, rel.version)
    if rule is None:
        return None
    from attnlock.compat.packages import binary_cuda

    libs = binary_cuda(rel)
    wheel = next((w.filename for w in rel.wheels() if w.filename in libs and w.runs_on(self._platform, self._python)),
                 None)
    if wheel is None:
        return None
    labels = frozenset(libs[wheel])
    words = ", ".join(libs[wheel]) or "no CUDA version"
    how = "the library named after torch's CUDA" if rule.match == "exact" else "a library of torch's CUDA major"
    return Req("torch", SpecifierSet(), cuda_libs=labels, cuda_libs_match=rule.match,
               parent=f"{rel.package} {rel.version} (loads {how}; {wheel} ships {words}: {rule.source.split()[0]})")


def mentions_torch(self: CandidateSource, rel: Release, extras: frozenset[str] | None = None) -> bool:
    """Whether ``rel``'s metadata has a torch requirement (with ``extras``: one that applies on the
    target with those extras; without: under any extra or marker)."""
    rec = rel.metadata_for(self._platform)
    if rec is None:
        return False
    if extras is None:
        return bool(rec.lines_naming(_TORCH_ONLY, None))
    return bool(self._torch_specs(rel, extras))


def _era_admits(self: CandidateSource, era: Req, torches: set[Version]) -> bool:
    """Whether some allowed torch is in ``era`` (remembered per range: releases share their era)."""
    memo: dict[str, bool] = self.__dict__.setdefault("_era_memo", {})
    key = str(era.specifier)
    if key not in memo:
        memo[key] = any(era.specifier.contains(v) for v in torches)
    return memo[key]


def _torch_era(self: CandidateSource, rel: Release) -> Req | None:
    """``torch<X.(Y+1)``: the torch minors released before ``rel`` was uploaded (None: unknown)."""
    if not rel.upload_time:
        return None
    firsts: dict[tuple[int, int], str] = self.__dict__.get("_torch_minor_firsts") or {}
    if not firsts:
        for t in self.db.releases("torch"):
            if t.upload_time and not t.version.is_prerelease:
                key = (t.version.major, t.version.minor)
                if key not in firsts or t.upload_time < firsts[key]:
                    firsts[key] = t.upload_time
        self.__dict__["_torch_minor_firsts"] = firsts
    before = [k for k, when in firsts.items() if when <= rel.upload_time]
    if not before or len(before) == len(firsts):
        return None
    major, minor = max(before)
    return Req("torch", SpecifierSet(f"<{major}.{minor + 1}"),
               parent=f"{rel.package} {rel.version} (uploaded {rel.upload_time[:10]}, before torch "
                      f"{major}.{minor + 1} existed)")
