"""xformers builds, each with the torch range its ABI window serves (the compatibility model's build list)."""

from __future__ import annotations

import functools

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.compat import AbiWindow, KernelBuild, model_for
from attnlock.database.store import Release
from attnlock.model import CudaVariant
from attnlock.resolver.candidates import Candidate, CandidateSource, _build_order, _req
from attnlock.resolver.requirement import Req


def xformers_candidates(self: CandidateSource) -> list[Candidate]:
    """Every build of every release (the compatibility model's list), each with the torch range
    its ABI window serves, intersected with what the release's metadata admits (an installer
    enforces Requires-Dist whatever the window says: 0.0.34 declares torch==2.10.0)."""
    out: list[Candidate] = []
    model = model_for(self.db)
    torches = self._torch_versions()
    for rel in reversed(self.db.releases("xformers")):
        builds = model.xformers_builds(rel, self._platform, self._python)
        if not builds:
            cand = _xformers_unbuilt(self, rel)
            if cand is not None and self._release_ok(rel):
                out.append(cand)
            continue
        meta = self._torch_specs(rel, frozenset())
        served = []
        for b in builds:
            spec = model.torch_range(b)
            for m in meta:
                spec &= m
            if any(spec.contains(v, prereleases=True) for v in torches):
                served.append((b, spec))
        if not served or not self._release_ok(rel):
            continue
        for b, spec in sorted(served, key=_build_order):
            cand = _xformers_candidate(self, rel, b, spec, model.window(b))
            if cand is not None:
                out.append(cand)
    return out
def _xformers_candidate(self: CandidateSource, rel: Release, b: KernelBuild, spec: SpecifierSet,
                        window: AbiWindow | None) -> Candidate | None:
    variant = CudaVariant.parse(b.variant) if b.variant else None
    # A window that needs only the CUDA major says nothing about a ROCm/CPU/XPU build: there the
    # label decides (compat.abi.judge), so the build pairs with that variant only.
    major_only = window is not None and window.cuda == "major" and b.cuda_major is not None
    where = f"the {b.index} index's build" if b.origin == "index" else "cpp_lib.json of the default-index wheel"
    build = f"xformers {b.version}" + (f"+{b.index}" if b.origin == "index" else "")
    if variant is not None and not self._variant_ok(build, "xformers", variant, Version(b.built_for.public),
                                                    major_only=major_only):
        return None
    admitted = window.describe(b.built_for) if window is not None else "the exact-build rule"
    parent = f"{build} (built for torch {b.built_for}; {admitted})"
    req = Req("torch", spec, variant=None if major_only else b.variant,
              cuda_major=b.cuda_major if major_only else None, parent=parent)
    return Candidate(
        name="xformers", version=rel.version, label=b.label, source=b.origin, variant=b.variant,
        index=self.locations.index_url(b.index) if b.origin == "index" and b.index else None,
        deps=(req,), lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=parent),
        why=f"built for torch {b.built_for} ({where}); {admitted}", built_for=b.built_for,
    )
def _xformers_unbuilt(self: CandidateSource, rel: Release) -> Candidate | None:
    """A release without build info or index record (pure-Python dev builds): Requires-Dist is all there is."""
    desc = f"xformers {rel.version}"
    wheels = [w for w in rel.wheels() if w.runs_on(self._platform, self._python)]
    if wheels and all(t.abi.startswith("cp") and t.abi != "abi3" for w in wheels for t in w.tags):
        # A CPython-bound wheel carries a compiled extension; without build info the torch it was
        # compiled for is unknown (0.0.13: cp38 only, no cpp_lib.json), so no torch can be said to load it.
        self.reject("xformers", desc, "unknown", f"{desc}'s wheel is a compiled extension without build info: "
                    "the torch it was built for is unknown")
        return None
    req = rel.requirement_on("torch", self._platform, self._python)
    torch_req = _req(req, desc) if req is not None else None
    if torch_req is not None and not any(torch_req.specifier.contains(v, prereleases=True)
                                         for v in self._torch_versions()):
        return None
    return Candidate("xformers", rel.version, None, "pypi", deps=(torch_req,) if torch_req else (),
                     lazy_deps=functools.partial(self._deps, rel, skip=["torch"], parent=desc),
                     why="Requires-Dist (no build info recorded)")
