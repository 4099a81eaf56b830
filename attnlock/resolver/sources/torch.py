"""torch builds: the default-index build and each PyTorch-index variant of every release the target allows."""

from __future__ import annotations

import functools

from packaging.version import Version

from attnlock.compat import Model
from attnlock.database.store import Release, TorchVariants
from attnlock.model import CudaVariant, Platform
from attnlock.resolver.candidates import Candidate, CandidateSource


def pypi_variant(self: CandidateSource, version: Version) -> CudaVariant | None:
    """The CUDA variant of torch's default-index build on the target platform."""
    plat = self._platform
    if plat is not None and plat.os == "macos":
        return CudaVariant("cpu")  # macOS builds of torch are CPU (MPS) builds: no CUDA on macOS
    tv: TorchVariants | None = self.db.torch_variants(version)
    if tv is None:
        return None
    if plat is not None and str(plat) in tv.pypi_by_platform:
        return tv.pypi_by_platform[str(plat)]
    if plat is None or str(plat) == "linux-x86_64":
        return tv.pypi
    return None  # not recorded for this platform: unknown
def torch_candidates(self: CandidateSource) -> list[Candidate]:
    out: list[Candidate] = []
    spec = self.target.torch
    for rel in reversed(self.db.releases("torch")):
        if spec is not None and not spec.contains(rel.version, prereleases=True):
            self.reject("torch", f"torch {rel.version}", "torch-target", f"torch {rel.version} is outside --torch {spec}")
            continue
        if not self._release_ok(rel):
            continue
        tv = self.db.torch_variants(rel.version)
        pypi = pypi_variant(self, rel.version)
        plat = self._platform or Platform("linux", "x86_64")
        builds: list[tuple[CudaVariant | None, str]] = [(pypi, "pypi")]
        if tv is not None and plat.os in ("linux", "windows"):
            rest = [v for v in tv.index if v != pypi]
            cuda = sorted((v for v in rest if v.is_cuda), key=lambda v: v.version or Version("0"), reverse=True)
            builds += [(v, "index") for v in cuda] + [(v, "index") for v in rest if not v.is_cuda]
        for variant, source in builds:
            label = None if source == "pypi" else variant.label if variant else None
            build = f"torch {rel.version}+{label}" if label else f"torch {rel.version}" + (
                f" ({variant.label})" if variant else "")
            if variant is None:
                if self.target.gpu is not None and self.target.cuda is None:
                    # A GPU machine needs a CUDA build; an unrecorded default-index build may be a
                    # CPU one (Windows' is), so the PyTorch index's CUDA builds are planned instead.
                    self.reject("torch", build, "cuda",
                                f"the CUDA variant of {build} on {plat} is not recorded (it may be a CPU build); "
                                f"a GPU target takes a CUDA build from the PyTorch index")
                    continue
                if self.target.driver is not None and self.target.cuda is None:
                    self.reject("torch", build, "driver",
                                f"the CUDA variant of {build} on {plat} is not recorded, so it cannot be "
                                f"checked against driver {self.target.driver}")
                    continue
                if self.target.cuda is not None:
                    self.reject("torch", build, "cuda",
                                f"the CUDA variant of {build} on {plat} is not recorded; the target wants "
                                f"{self.target.cuda.label}")
                    continue
            elif not self._variant_ok(build, "torch", variant, rel.version):
                continue
            out.append(_torch_candidate(self, rel, variant, source, label, pypi))
    return out or _custom_torch(self)


def _custom_torch(self: CandidateSource) -> list[Candidate]:
    """A torch the target pins that no index serves (an NGC ``2.1.0a0``, a nightly ``2.6.0.dev…``):
    the build installed on the machine.  The plan keeps it and never replaces it; its requirements are
    unknown (no metadata), kernel packages pair with it only through an ABI window that covers it."""
    spec = self.target.torch
    pins = [s for s in spec or () if s.operator in ("==", "===") and "*" not in s.version]
    if len(pins) != 1 or len(list(spec or ())) != 1:
        return []
    version = Version(pins[0].version)
    if not (version.is_prerelease or version.is_devrelease) or self.db.release("torch", version) is not None:
        return []
    variant = self.target.cuda.label if self.target.cuda is not None else None
    self.reject("torch", f"torch {version}", "custom",
                f"torch {version} is a custom build no index serves: kernel packages need a build made for it")
    return [Candidate("torch", version, None, "installed", variant=variant,
                      why="a custom torch build (no index serves it): kept as installed, never replaced")]
def _torch_candidate(self: CandidateSource, rel: Release, variant: CudaVariant | None, source: str, label: str | None,
                     pypi: CudaVariant | None) -> Candidate:
    plat = self._platform or Platform("linux", "x86_64")
    name = f"torch {rel.version}+{label}" if label else f"torch {rel.version}"
    # Requires-Dist was read from the default-index wheel: what does not hold for this build is skipped.
    skip = [n for n in self.known() if Model.foreign_requirement(n, variant, pypi)]
    abi = self.db.torch_abi(rel.version, plat, "pypi" if source == "pypi" else "pytorch")
    return Candidate(
        name="torch", version=rel.version, label=label, source=source,
        variant=variant.label if variant else None, cxx11abi=abi,
        index=self.locations.index_url(variant.label) if source == "index" and variant else None,
        lazy_deps=functools.partial(self._deps, rel, skip=skip, parent=name),
        why=("the default-index build" + (f" ({variant.label})" if variant else "")) if source == "pypi"
        else f"the {label} build from the PyTorch index",
    )
