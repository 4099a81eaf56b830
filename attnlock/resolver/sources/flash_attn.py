"""flash-attn's GitHub wheels (the release matrix), each with the torch its ABI window serves; sdists only when asked."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from packaging.version import Version

from attnlock.compat import model_for
from attnlock.database.store import Release
from attnlock.model import ComputeCapability
from attnlock.resolver.candidates import (
    Candidate,
    CandidateSource,
    _arch_runs,
    _cuda_major,
    _series,
    _window_words,
)
from attnlock.resolver.requirement import Req


def flash_attn_candidates(self: CandidateSource) -> list[Candidate]:
    out: list[Candidate] = []
    py = self._python.cp_tag if self._python is not None else None
    plat = str(self._platform) if self._platform is not None else None
    archs_of: dict[str, Mapping[str, tuple[ComputeCapability, ...]]] = {}
    for rel_ in reversed(model_for(self.db).flash_attn_releases()):  # newest first
        if rel_.package != "flash-attn":
            continue
        version = rel_.version
        if rel_.archs_by_cuda:
            archs_of[str(version)] = rel_.archs_by_cuda
        if rel_.matrix_unknown:
            self.reject("flash-attn", f"flash-attn {version}", "unknown",
                        f"flash-attn {version}'s prebuilt wheels are not recorded (its release matrix is unknown)")
        elif plat is not None and plat not in rel_.platforms:
            self.reject("flash-attn", f"flash-attn {version}", "platform",
                        f"flash-attn {version} has no prebuilt wheel for {plat}")
        elif py is not None and py not in rel_.pythons:
            self.reject("flash-attn", f"flash-attn {version}", "python",
                        f"flash-attn {version} has no prebuilt wheel for Python {self._python}")
    # A wheel serves the torch releases of its ABI window (a torch2.10 wheel serves 2.10-2.12):
    # keep the wheels whose window holds some torch the target allows.
    model = model_for(self.db)
    torches = self._torch_versions()
    every = self.db.flash_attn_wheels_for("flash-attn", plat, py, None)
    served = {m: model.torch_minors_served(m) for m in {w.torch_minor for w in every}}
    minors = frozenset(m for m, rng in served.items() if any(rng.contains(v, prereleases=True) for v in torches))
    wheels = [w for w in every if w.torch_minor in minors]  # (the matrix expanded once, not twice)
    seen: set[tuple[Version, str]] = set()
    by_version: dict[Version, list[Candidate]] = {}
    gpu_ok: dict[Version, bool] = {}
    releases: dict[Version, Release | None] = {}
    for w in sorted(wheels, key=lambda w: (w.version, w.python), reverse=True):
        if w.torch_minor not in minors:
            continue
        if w.version not in gpu_ok:
            gpu_ok[w.version] = gpu_ok_for_kernel(self, "flash-attn", w.version)
        if not gpu_ok[w.version] or (w.version, w.local_label) in seen or (
                w.version.is_prerelease and "flash-attn" not in self.allow_pre):
            continue
        sass = archs_of.get(str(w.version), {}).get(w.cuda)
        if self.target.gpu is not None and sass:
            archs = list(sass)
            if archs and not _arch_runs(archs, self.target.gpu):
                self.reject("flash-attn", f"flash-attn {w.version}+{w.local_label}", "gpu",
                            f"flash-attn {w.version} wheels for {w.cuda} have no kernels for {self.target.gpu}"
                            f"{self._gpu_suffix()} (built for {', '.join(str(a) for a in archs)})")
                continue
        seen.add((w.version, w.local_label))
        build = f"flash-attn {w.version}+{w.local_label}"
        major = _cuda_major(w.cuda)
        parent = f"{build} ({w.filename})"
        if w.version not in releases:
            releases[w.version] = self.db.release("flash-attn", w.version)
        rel = releases[w.version]
        by_version.setdefault(w.version, []).append(Candidate(
            name="flash-attn", version=w.version, label=w.local_label, source="url",
            built_for=Version(f"{w.torch_minor}+{w.cuda}"),
            url=self.locations.wheel_url(w.url), cxx11abi=w.cxx11abi,
            deps=(Req("torch", served[w.torch_minor], cuda_major=major, cxx11abi=w.cxx11abi,
                      parent=parent),),
            lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=parent) if rel else None,
            why=f"the prebuilt wheel for torch {w.torch_minor}, CUDA {major}, "
                f"cxx11abi={'TRUE' if w.cxx11abi else 'FALSE'}, {w.python}"
                + (f"; serves torch {served[w.torch_minor]} ({_window_words(model, w.torch_minor)})"
                   if str(served[w.torch_minor]) != f"=={w.torch_minor}.*" else ""),
        ))
    for version in sorted(by_version, reverse=True):
        # Within a release prefer the newest CUDA label; ABI order does not matter (torch decides).
        out.extend(sorted(by_version[version], key=lambda c: c.label or "", reverse=True))
    # Community wheels only when the user opted in, and after every official build: one is planned only
    # when no official wheel fits.
    out.extend(community_candidates(self, plat, py, torches))
    if "flash-attn" in self.allow_build:
        for rel in reversed(self.db.releases("flash-attn")):
            if not self._release_ok(rel, need_wheel=False) or not gpu_ok_for_kernel(self, "flash-attn", rel.version):
                continue
            rec = rel.metadata[0] if rel.metadata else None
            out.append(Candidate(
                name="flash-attn", version=rel.version, label=None, source="sdist",
                deps=self._deps(rel, parent=f"flash-attn {rel.version} (sdist)"),
                why="built from the sdist on the target (--allow-build flash-attn)",
                requires_dist=rec.requires_dist if rec else (),
            ))
    elif self.db.releases("flash-attn"):
        self.reject("flash-attn", "flash-attn (sdist)", "sdist",
                    "flash-attn's releases on the index are sdists only; attnlock never plans a build "
                    "unless asked (--allow-build flash-attn)")
    return out
def community_candidates(self: CandidateSource, plat: str | None, py: str | None,
                         torches: set[Version]) -> list[Candidate]:
    """flash-attn wheels of the community sources the user opted into (``--source community``), each
    serving the torch releases of flash-attn's ABI window for the minor it was built for."""
    if not self.community:
        return []
    model = model_for(self.db)
    sources = model.community_sources()
    out: list[Candidate] = []
    seen: set[tuple[str, Version, str]] = set()
    for w in model.community_wheels("flash-attn"):
        src = sources.get(w.source)
        if src is None or not ({"community", w.source} & self.community):
            continue
        if (plat is not None and w.platform != plat) or (py is not None and w.python != py):
            continue
        served = model.torch_minors_served(w.torch_minor)
        if not any(served.contains(v, prereleases=True) for v in torches):
            continue
        key = (w.source, w.version, w.local_label)
        if key in seen or not gpu_ok_for_kernel(self, "flash-attn", w.version):
            continue
        seen.add(key)
        major = _cuda_major(w.cuda)
        build = f"flash-attn {w.version}+{w.local_label}"
        parent = f"{build} ({w.filename}, {src.describe()})"
        rel = self.db.release("flash-attn", w.version)
        out.append(Candidate(
            name="flash-attn", version=w.version, label=w.local_label, source="url",
            built_for=Version(f"{w.torch_minor}+{w.cuda}"), url=self.locations.wheel_url(w.url),
            deps=(Req("torch", served, cuda_major=major, parent=parent),),
            lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=parent) if rel else None,
            why=f"a wheel from the {src.describe()}, not the flash-attn project's own build (--source community): "
                f"built for torch {w.torch_minor}, CUDA {major}, {w.python}"
                + (f"; serves torch {served} ({_window_words(model, w.torch_minor)})"
                   if str(served) != f"=={w.torch_minor}.*" else ""),
            community=src.describe(),
        ))
    return out


def gpu_ok_for_kernel(self: CandidateSource, package: str, version: Version) -> bool:
    """Whether the target's GPU is in the range the model records for ``package`` ``version``."""
    gpu = self.target.gpu
    if gpu is None:
        return True
    miss = model_for(self.db).gpu_miss(package, version, gpu)
    if miss is None:
        return True
    self.reject(package, f"{package} {version}", "gpu",
                f"{_series(package, miss.series)} needs {miss.need()}; this GPU is {gpu}{self._gpu_suffix()}")
    return False
