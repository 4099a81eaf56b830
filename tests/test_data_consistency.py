"""Curated data (data/curated/*.toml) agrees with what refresh read from the index (data/derived/*.json).

Each test is a cross-check on the shipped files, so a refresh or a hand edit that makes the two
disagree fails here.  Known gaps are listed with their reason; a gap that closes (a record added,
a release published) fails too, so the list cannot go stale.  Research log of what these checks
found: data/curated/SOURCES-torch-cuda.md and SOURCES-kernels.md ("Cross-checks").
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from attnlock.database.store import Database, Release, _norm_gpu, target_environment
from attnlock.model import ComputeCapability, CudaVariant, Platform

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DATA = Path(__file__).resolve().parent.parent / "data"
LINUX = Platform("linux", "x86_64")

# torch releases with no [[variants]] record, and why.
#: torch releases without a [[variants]] record. (2.15.0 has one naming only its default-index builds:
#: its PyTorch-index variants are unknown, so the record has no `variants` key and check judges no
#: index build of it: TorchVariants.index_known.)
TORCH_VARIANT_GAPS: dict[Version, str] = {}

# [[index_builds]] releases that the package index does not have (their records' notes say so).
XFORMERS_NOT_ON_INDEX = {
    Version(v): "built by the tag's workflow for the PyTorch index only; not on the package index"
    for v in ("0.0.22.post1", "0.0.22.post2", "0.0.22.post3", "0.0.22.post4", "0.0.22.post5",
              "0.0.22.post6", "0.0.26", "0.0.32")
}


@pytest.fixture(scope="module")
def db() -> Database:
    return Database(DATA)


def _finals(db: Database, name: str, lo: str | None = None, hi: str | None = None) -> list[Release]:
    out = []
    for rel in db.releases(name):
        v = rel.version
        if v.is_prerelease or v.is_devrelease:
            continue
        if (lo is None or v >= Version(lo)) and (hi is None or v <= Version(hi)):
            out.append(rel)
    return out


def _linux_reqs(rel: Release) -> list[Requirement]:
    """Requires-Dist of the release's Linux x86_64 METADATA whose markers hold there (Python 3.12)."""
    rec = rel.metadata_for(LINUX)
    assert rec is not None and "linux-x86_64" in rec.platforms, f"{rel.package} {rel.version}: no Linux x86_64 METADATA"
    env = target_environment(LINUX, None)
    return [r for r in rec.parsed if r.marker is None or r.marker.evaluate({**env, "extra": ""})]


def _pinned_version(req: Requirement) -> Version | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return Version(specs[0].version)
    return None


def _cuda_of_torch_metadata(rel: Release) -> Version | None:
    """The CUDA major.minor the default Linux build of a torch release pins, from its METADATA."""
    found = set()
    for req in _linux_reqs(rel):
        name = canonicalize_name(req.name)
        if re.fullmatch(r"nvidia-cuda-runtime-cu\d+", name) or name == "cuda-toolkit":
            pin = _pinned_version(req)
            assert pin is not None, f"torch {rel.version}: {req} is not an exact pin"
            found.add(Version(f"{pin.major}.{pin.minor}"))
    assert len(found) <= 1, f"torch {rel.version}: several CUDA runtimes pinned: {found}"
    return found.pop() if found else None


# ------------------------------------------------------------------ torch


def test_torch_pypi_variant_agrees_with_wheel_metadata(db: Database) -> None:
    checked = 0
    for rel in _finals(db, "torch", "1.13.0", "2.15.0"):
        cuda = _cuda_of_torch_metadata(rel)
        assert cuda is not None, f"torch {rel.version}: its Linux METADATA pins no CUDA runtime"
        tv = db.torch_variants(rel.version)
        if tv is None:
            assert rel.version in TORCH_VARIANT_GAPS, f"torch {rel.version}: no [[variants]] record"
            continue
        assert tv.pypi is not None, (
            f"torch {rel.version}: torch.toml says pypi = unknown, but the wheel METADATA pins CUDA {cuda} "
            f"(source {rel.metadata_for(LINUX).source})")  # type: ignore[union-attr]
        assert tv.pypi.version == cuda, f"torch {rel.version}: torch.toml pypi = {tv.pypi.label}, METADATA pins CUDA {cuda}"
        checked += 1
    assert checked >= 25, checked


def test_every_torch_release_has_exactly_one_variants_record(db: Database) -> None:
    records = db.curated_records("torch", "variants")
    releases = _finals(db, "torch", "1.13.0", "2.15.0")
    assert len(releases) >= 30
    for rel in releases:
        hits = [r["torch"] for r in records if SpecifierSet(r["torch"]).contains(rel.version)]
        if rel.version in TORCH_VARIANT_GAPS:
            assert hits == [], f"torch {rel.version} is covered now ({hits}): remove it from TORCH_VARIANT_GAPS"
        else:
            assert len(hits) == 1, f"torch {rel.version}: matched by {hits}"
    for gap in TORCH_VARIANT_GAPS:
        assert db.release("torch", gap) is not None, f"gap {gap} is not a torch release on the index"


def test_torch_triton_pins_point_to_triton_releases(db: Database) -> None:
    triton = [r.version for r in db.releases("triton")]
    pinned = 0
    for rel in _finals(db, "torch", "2.0.0", "2.15.0"):
        for req in _linux_reqs(rel):
            if canonicalize_name(req.name) not in ("triton", "pytorch-triton"):
                continue
            assert canonicalize_name(req.name) == "triton", f"torch {rel.version} requires {req}"
            assert any(req.specifier.contains(v) for v in triton), f"torch {rel.version}: {req} matches no triton release"
            pinned += 1
    assert pinned >= 20, pinned


@pytest.mark.parametrize("package", ["torchvision", "torchaudio"])
def test_companion_torch_pins_point_to_torch_releases(db: Database, package: str) -> None:
    torch = {r.version for r in db.releases("torch")}
    pins = 0
    for rel in db.releases(package):
        for rec in rel.metadata:
            for req in rec.parsed:
                if canonicalize_name(req.name) != "torch" or not req.specifier:
                    continue
                exact = _pinned_version(req)
                if exact is not None:
                    # torchvision 0.15.0's Linux wheel really pins torch (==2.0.0+cu117): a build of 2.0.0.
                    assert Version(exact.public) in torch, f"{package} {rel.version} ({rec.source}): {req}"
                else:
                    assert any(req.specifier.contains(v) for v in torch), f"{package} {rel.version}: {req}"
                pins += 1
    assert pins >= 20, pins


# ------------------------------------------------------------------ xformers


def test_xformers_index_builds_agree_with_metadata_and_build_info(db: Database) -> None:
    checked = 0
    for rec in db.curated_records("xformers", "index_builds"):
        xv = Version(rec["xformers"])
        rel = db.release("xformers", xv)
        if rel is None:
            assert xv in XFORMERS_NOT_ON_INDEX, f"xformers {xv} is not in data/derived/xformers.json"
            continue
        assert xv not in XFORMERS_NOT_ON_INDEX, f"xformers {xv} is on the index now: drop it from the list"
        torch = Version(rec["torch"])
        req = rel.requirement_on("torch", LINUX)
        assert req is not None, f"xformers {xv}: METADATA requires no torch"
        declared = SpecifierSet(rec.get("torch_requirement", f"=={torch}"))
        assert req.specifier == declared, f"xformers {xv}: METADATA {req.specifier}, curated {declared}"
        if xv <= Version("0.0.34"):
            assert _pinned_version(req) == torch, f"xformers {xv}: METADATA pins {req.specifier}, curated torch {torch}"
        else:
            assert req.specifier.contains(torch), f"xformers {xv}: curated torch {torch} outside {req.specifier}"
        infos = [b for f, b in rel.build_info.items() if isinstance(b, dict) and "x86_64" in f and b.get("torch")]
        assert infos, f"xformers {xv}: no build info from a Linux x86_64 wheel"
        pypi = CudaVariant.parse(rec["pypi"])
        toolkit = rec.get("cuda_toolkit_by_variant", {}).get(pypi.label)
        for info in infos:
            built = Version(info["torch"])
            assert Version(built.public) == torch, f"xformers {xv}: cpp_lib.json torch {built}, curated {torch}"
            assert built.local == pypi.label, f"xformers {xv}: index wheel built on torch {built}, curated pypi {pypi.label}"
            m = re.match(r"\d+\.\d+", toolkit) if isinstance(toolkit, str) else None
            expect = Version(m.group(0)) if m else pypi.version
            assert expect is not None
            assert Version(info["cuda"]) == Version(f"{expect.major}.{expect.minor}"), (
                f"xformers {xv}: cpp_lib.json CUDA {info['cuda']}, curated {pypi.label} / toolkit {toolkit}")
        checked += 1
    assert checked >= 25, checked


def test_xformers_index_build_python_tags_match_the_index_wheels(db: Database) -> None:
    """The package-index build is one job of the same matrix, so its Linux wheels carry the same tags."""
    checked = 0
    for rec in db.curated_records("xformers", "index_builds"):
        rel = db.release("xformers", rec["xformers"])
        if rel is None:
            continue
        tags = set()
        for f in rel.wheels():
            if f.filename.endswith("x86_64.whl") and "linux" in f.filename:
                for t in parse_wheel_filename(f.filename)[3]:
                    tags.add(t.interpreter if t.abi == t.interpreter else f"{t.interpreter}-{t.abi}")
        assert tags == set(rec["python"]), f"xformers {rel.version}: curated {rec['python']}, index {sorted(tags)}"
        checked += 1
    assert checked >= 25, checked


# ------------------------------------------------------------------ flash-attn


def test_flash_attn_releases_are_index_releases_or_retagged(db: Database) -> None:
    """A tag missing from the index was re-uploaded there as a later .postN of the same release."""
    index = [r.version for r in db.releases("flash-attn")]
    missing = 0
    for rec in db.curated_records("flash_attn", "release"):
        if canonicalize_name(str(rec.get("package", "flash-attn"))) != "flash-attn":
            continue
        v = Version(rec["version"])
        if v in index:
            continue
        later = [w for w in index if w.release == v.release and w > v and w.post is not None]
        assert later, f"flash-attn {v}: neither it nor a later .postN of {v.base_version} is on the index"
        missing += 1
    assert missing < len(db.curated_records("flash_attn", "release"))


def test_flash_attn_torch_minors_are_torch_releases(db: Database) -> None:
    minors = {f"{r.version.major}.{r.version.minor}" for r in db.releases("torch")}
    lowest = min(r.version for r in db.releases("torch"))
    checked = 0
    for rec in db.curated_records("flash_attn", "release"):
        for t in rec.get("torch", []):
            m = Version(str(t))
            if Version(f"{m.major}.{m.minor}") < Version(f"{lowest.major}.{lowest.minor}"):
                continue  # older than refresh.toml's torch range: nothing derived to check against
            assert f"{m.major}.{m.minor}" in minors, f"flash-attn {rec['version']}: torch {t} is no torch release"
            checked += 1
    assert checked >= 100, checked


def test_flash_attn_wheel_urls_are_wheel_names_of_their_release(db: Database) -> None:
    wheels = db.flash_attn_wheels("flash-attn")
    assert len(wheels) >= 1000, len(wheels)
    for w in wheels:
        name, version, _build, tags = parse_wheel_filename(w.filename)
        assert name == "flash-attn", w.url
        assert Version(version.public) == w.version, w.url
        assert version.local == w.local_label.lower(), (w.url, w.local_label)
        assert {t.interpreter for t in tags} == {w.python}, w.url
        assert w.platform == "linux-x86_64" and all(t.platform == "linux_x86_64" for t in tags), w.url
        assert f"/v{w.version}/" in w.url or f"/v{version.public}/" in w.url, w.url


# ------------------------------------------------------------------ cuda, gpus


def _toolkits(db: Database) -> set[Version]:
    return {Version(str(r["version"])) for r in db.curated_records("cuda", "toolkit")}


def test_cuda_toml_covers_every_named_cuda(db: Database) -> None:
    toolkits = _toolkits(db)
    named: dict[Version, str] = {}
    for rec in db.curated_records("torch", "variants"):
        for label in [*rec.get("variants", []), rec.get("pypi")]:
            if isinstance(label, str) and label != "unknown":
                cv = CudaVariant.parse(label)
                if cv.is_cuda and cv.version is not None:
                    named[cv.version] = f"torch.toml {rec['torch']} {label}"
    for rec in db.curated_records("xformers", "index_builds"):
        for label in [*rec.get("variants", []), rec.get("pypi")]:
            if isinstance(label, str) and label != "unknown":
                cv = CudaVariant.parse(label)
                if cv.is_cuda and cv.version is not None:
                    named[cv.version] = f"xformers.toml {rec['xformers']} {label}"
    for rel in db.releases("xformers"):
        for f, info in rel.build_info.items():
            if isinstance(info, dict) and info.get("cuda"):
                named[Version(str(info["cuda"]))] = f"xformers {rel.version} {f}"
    lowest = min(r.version for r in db.releases("torch"))
    for w in db.flash_attn_wheels("flash-attn"):
        # Labels of a CUDA major only (cu12) name no toolkit; wheels for torch older than refresh.toml's
        # range (flash-attn 2.0.0-2.0.5's cu113 builds for torch 1.11/1.12) have nothing to pair with.
        m = Version(w.torch_minor)
        if re.fullmatch(r"cu\d{3}", w.cuda) and (m.major, m.minor) >= (lowest.major, lowest.minor):
            cv = CudaVariant.parse(w.cuda)
            assert cv.version is not None
            named[cv.version] = f"flash-attn {w.filename}"
    assert len(named) >= 10
    for cuda, where in named.items():
        assert Version(f"{cuda.major}.{cuda.minor}") in toolkits, f"CUDA {cuda} ({where}) is not in cuda.toml"


def test_gpu_names_unique_and_aliases_unambiguous(db: Database) -> None:
    records = db.curated_records("gpus", "gpu")
    assert len(records) >= 20
    names = [str(r["name"]) for r in records]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    claims: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        cc = rec.get("compute_capability")
        if not isinstance(cc, str) or cc == "unknown":
            continue
        dotted = ComputeCapability.parse(cc).dotted
        for text in [rec["name"], *rec.get("aliases", [])]:
            claims[_norm_gpu(str(text))].add(dotted)
    clashes = {k: v for k, v in claims.items() if len(v) > 1}
    assert not clashes, clashes


# ------------------------------------------------------------------ unsloth


def test_unsloth_extras_xformers_torch_agrees_with_xformers_metadata(db: Database) -> None:
    checked = 0
    for rec in db.curated_records("unsloth", "extra"):
        pin = rec.get("xformers_pin")
        try:
            xv = Version(str(pin))
        except InvalidVersion:
            continue  # prose ("... win32 only ..."): nothing exact to check
        rel = db.release("xformers", xv)
        assert rel is not None, f"unsloth extra {rec['extras'][0]}: xformers {xv} is not on the index"
        req = rel.requirement_on("torch", LINUX)
        assert req is not None and _pinned_version(req) == Version(str(rec["xformers_requires_torch"])), (
            f"unsloth extra {rec['extras'][0]}: curated {rec['xformers_requires_torch']}, METADATA {req}")
        named = str(rec.get("torch_in_name"))
        if re.fullmatch(r"\d+(\.\d+)+", named):
            assert rec["mismatch"] == (Version(named) != _pinned_version(req)), rec["extras"][0]
        checked += 1
    assert checked >= 10, checked


# ------------------------------------------------------------------ schema


def test_schema_md_documents_every_curated_key() -> None:
    """Every table and key used in data/curated/*.toml is named (in backticks) in data/SCHEMA.md."""
    schema = (DATA / "SCHEMA.md").read_text(encoding="utf-8")
    missing = []
    for path in sorted((DATA / "curated").glob("*.toml")):
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        for table, value in doc.items():
            records = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
            if path.stem == "refresh" and isinstance(value, dict):
                continue  # [packages] / [read] / ...: keys are package names
            if records and not (f"`[[{table}]]`" in schema or f"`[{table}]`" in schema):
                missing.append(f"{path.name}: table {table}")
            for rec in records:
                for key in rec:
                    if f"`{key}`" not in schema:
                        missing.append(f"{path.name} [{table}]: {key}")
    assert not missing, sorted(set(missing))
