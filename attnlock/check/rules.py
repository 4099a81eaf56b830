"""The rules of ``attnlock check``: findings about an install set, judged against the database.

Every compatibility fact comes from :mod:`attnlock.database` (derived
Requires-Dist, wheel files and xformers build info; curated torch variants,
flash-attn wheels and known-bad combinations): no rule keeps a table.  The
rules that need no database look only at the file itself (constraints-file
hazards, unscoped indexes, local-version labels such as ``+cu121`` or
flash-attn's ``torch2.4cxx11abiFALSE``).  A rule that depends on the
environment runs once per :class:`~attnlock.check.context.Env`; findings are
deduplicated by the caller.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.check.context import Env, InstallSet, has_wheel
from attnlock.check.document import Entry, IndexDecl
from attnlock.check.findings import Edit, Finding
from attnlock.errors import UsageError
from attnlock.model import CudaVariant, Platform, Target, canonical

if TYPE_CHECKING:
    from attnlock.database import Database, Release
    from attnlock.database.store import FileInfo, FlashAttnWheel, KnownBad, MetadataRecord

_VARIANT_LABEL = re.compile(r"^(cu\d{2,3}|cpu|rocm\d+(?:\.\d+){0,2}|xpu)$")
#: flash-attn's local label: ``cu123torch2.4cxx11abiFALSE`` (Dao-AILab releases) or ``cu128torch2.11``
#: (third-party prebuilt wheels, no ABI part); packaging lowercases it.
_FA_LABEL = re.compile(r"(cu\d+)?torch(\d+)\.(\d+)(?:cxx11abi(true|false))?")
#: ``-cp310-cp310-linux_x86_64.whl``: the cp tag and platform tag of a wheel file name.
_WHEEL_TAGS = re.compile(r"-(cp\d+)-[^-]+-([A-Za-z0-9_.]+)\.whl$")
_TORCH = "torch"


# ------------------------------------------------------------------ helpers


def render(req: Requirement, *, specifier: str | None = None, extras: Iterable[str] | None = None,
           url: str | None = None, keep_url: bool = True, original: str | None = None) -> str:
    """Requirement text with some parts replaced; the marker is kept (verbatim from ``original`` if given)."""
    name = req.name
    ex = sorted(req.extras) if extras is None else sorted(extras)
    text = name + (f"[{','.join(ex)}]" if ex else "")
    tail = ""
    if req.marker is not None:
        tail = (_marker_tail(original) if original else None) or f"; {req.marker}"
    the_url = url if url is not None else (req.url if keep_url else None)
    if the_url:
        return f"{text} @ {the_url}" + ((" " + tail.lstrip()) if tail else "")
    return text + (specifier if specifier is not None else str(req.specifier)) + tail


def _marker_tail(original: str) -> str | None:
    """``" ; sys_platform == 'linux'"`` of a requirement as written (whitespace before ``;`` kept)."""
    idx = original.find(" ;") if "@" in original.split(";", 1)[0] else original.find(";")
    if idx < 0:
        return None
    while idx > 0 and original[idx - 1] in " \t":
        idx -= 1
    return original[idx:]


def edit_for(entry: Entry, new_text: str) -> Edit | None:
    """The in-place edit replacing ``entry``'s requirement with ``new_text`` (None when not safe)."""
    if entry.span is None or "\n" in new_text or "\r" in new_text:
        return None
    if entry.hashes:
        return None  # new version, old --hash lines: pip would refuse it; the hashes must be regenerated
    if not entry.quote:
        return Edit(entry.path, entry.span.start, entry.span.end, new_text)
    if entry.quote == "'" and "'" not in new_text:
        return Edit(entry.path, entry.span.start, entry.span.end, f"'{new_text}'")
    escaped = new_text.replace("\\", "\\\\").replace('"', '\\"')
    return Edit(entry.path, entry.span.start, entry.span.end, f'"{escaped}"')


def _finding(code: str, entry: Entry, message: str, packages: Iterable[str], fix: str | None,
             new_text: str | None = None) -> Finding:
    edit = edit_for(entry, new_text) if new_text is not None else None
    if fix and entry.hashes and new_text is not None:
        fix += " (then regenerate its --hash lines)"
    return Finding(code, entry.path, entry.line, entry.column, message, tuple(dict.fromkeys(packages)),
                   fix=fix, edit=edit)


def _label(version: Version | None) -> str | None:
    return version.local if version is not None else None


def _variant_of_label(label: str | None) -> CudaVariant | None:
    if not label or not _VARIANT_LABEL.match(label):
        return None
    try:
        return CudaVariant.parse(label)
    except ValueError:
        return None
    except Exception:  # UsageError from a label that looks like one but is not
        return None


def _index_variant(decl: IndexDecl) -> CudaVariant | None:
    tail = decl.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    return _variant_of_label(tail)


def _spec_text(spec: SpecifierSet) -> str:
    return str(spec) or "(any version)"


class _Pin:
    """What the active entries of one package say in one environment.

    A plain class, like the other records private to this module (NamedTuples): a dataclass
    costs about a millisecond to create at import, on the path every pre-commit run pays.
    """

    __slots__ = ("name", "entries", "exact", "spec", "override")

    def __init__(self, name: str, entries: list[Entry], exact: Version | None, spec: SpecifierSet,
                 override: bool) -> None:
        self.name = name
        self.entries = entries
        self.exact = exact
        self.spec = spec
        self.override = override

    @property
    def entry(self) -> Entry:
        for e in self.entries:
            if e.exact_version is not None:
                return e
        return self.entries[0]


def _pins(entries: Iterable[Entry]) -> dict[str, _Pin]:
    out: dict[str, _Pin] = {}
    for e in entries:
        name = e.name
        if name is None or e.requirement is None:
            continue
        pin = out.setdefault(name, _Pin(name, [], None, SpecifierSet(), False))
        pin.entries.append(e)
        if e.kind == "override":
            pin.override = True
        if e.exact_version is not None and pin.exact is None:
            pin.exact = e.exact_version
        if not e.requirement.url:
            pin.spec &= e.requirement.specifier
    return out


def _contains(spec: SpecifierSet, version: Version) -> bool:
    return spec.contains(version, prereleases=True)


# ------------------------------------------------------------------ rules that need no database


def file_rules(iset: InstallSet) -> list[Finding]:
    """Constraints-file hazards and unscoped indexes (the file alone decides)."""
    out: list[Finding] = []
    pip_file = iset.kind in ("requirements", "constraints")
    for e in iset.entries:
        req = e.requirement
        if req is None:
            continue
        if pip_file and e.kind == "constraint" and req.extras:
            new = render(req, extras=(), original=e.text)
            out.append(_finding(
                "AL401", e, f"constraint {e.text!r} has extras: pip fails every install that uses this file "
                "('Constraints cannot have extras'); uv ignores the extra", [e.name or req.name], new, new))
    if pip_file:
        for decl in iset.indexes:
            if decl.option == "--extra-index-url":
                out.append(Finding(
                    "AL303", decl.path, decl.line, decl.column,
                    f"--extra-index-url {decl.url} is unscoped: any package may come from either index "
                    "(dependency confusion; pip takes the highest version, uv the first index that has it)",
                    fix=f"pass --index-url {decl.url} on the command line for the packages it serves, or in "
                        f"pyproject.toml declare [[tool.uv.index]] url = \"{decl.url}\" with explicit = true "
                        "and route packages to it in [tool.uv.sources]"))
    if iset.kind == "pyproject":
        for decl in iset.indexes:
            if decl.option != "tool.uv.index" or decl.explicit or decl.default:
                continue
            name = decl.name or "NAME"
            served = ", ".join(f"{p} = {{ index = \"{name}\" }}" for p in decl.packages) or \
                f"<package> = {{ index = \"{name}\" }} for each package it serves"
            label = f"[[tool.uv.index]] {decl.name!r}" if decl.name else "[[tool.uv.index]]"
            out.append(Finding(
                "AL303", decl.path, decl.line, decl.column,
                f"{label} ({decl.url}) is not explicit: uv searches it before the default index, so any package "
                "may come from it (uv's first-index strategy; dependency confusion)",
                fix=f"add explicit = true to this [[tool.uv.index]] and route the packages it serves via "
                    f"[tool.uv.sources]: {served}"))
    return out


def index_rules(iset: InstallSet, target: Target, db: Database | None) -> list[Finding]:
    """Local-version builds (``+cu121``) against the indexes the set names."""
    if iset.kind in ("uv.lock", "pylock"):
        return []
    out: list[Finding] = []
    for e in iset.entries:
        version = e.exact_version
        label = _label(version)
        variant = _variant_of_label(label)
        if version is None or variant is None or (e.requirement is not None and e.requirement.url):
            continue
        name = e.name or ""
        serving = [d for d in iset.indexes
                   if d.option != "tool.uv.index" or not d.explicit or name in d.packages]
        if not serving:
            out.append(_finding(
                "AL301", e, f"{e.text!r} is a {label} build, which only the PyTorch index for {label} serves; "
                "this file names no index, so the default index is searched and the install fails",
                [name], _index_fix(iset, label, name, db)))
            continue
        labelled = [(d, _index_variant(d)) for d in serving]
        variants = {v.label for _, v in labelled if v is not None}
        if variants and variant.label not in variants:
            only = sorted(variants)
            new = render(e.requirement, specifier=f"=={version.public}+{only[0]}", original=e.text) if (
                len(only) == 1 and e.requirement is not None) else None
            out.append(_finding(
                "AL302", e, f"{name} is pinned to a {label} build but the configured index serves "
                f"{', '.join(only)} builds", [name],
                new or f"pin {name}=={version.public}+<{'|'.join(only)}> or use the {label} index", new))
    if target.cuda is not None:
        for e in iset.entries:
            label = _label(e.exact_version)
            variant = _variant_of_label(label)
            if variant is not None and variant != target.cuda and e.exact_version is not None and e.requirement:
                new = render(e.requirement, specifier=f"=={e.exact_version.public}+{target.cuda.label}", original=e.text)
                out.append(_finding("AL107", e, f"{e.name} is pinned to a {label} build; the target is "
                                    f"{target.cuda.label}", [e.name or ""], new, new))
    return out


def index_url(db: Database | None, label: str | None) -> str | None:
    """The PyTorch index URL of a variant label, from ``data/curated/torch.toml`` ``[index] url_template``."""
    if db is None or not label:
        return None
    table = db.curated_raw("torch").get("index")
    template = table.get("url_template") if isinstance(table, dict) else None
    return template.replace("{variant}", label) if isinstance(template, str) else None


def _index_fix(iset: InstallSet, label: str | None, name: str, db: Database | None) -> str:
    url = index_url(db, label)
    where = url or f"<the PyTorch index for {label}>"
    if iset.kind == "pyproject":
        return (f"[[tool.uv.index]] name = \"pytorch-{label}\" url = \"{where}\" explicit = true, and "
                f"[tool.uv.sources] {name} = {{ index = \"pytorch-{label}\" }}")
    return f"pip install --index-url {where} --extra-index-url <your default index> -r {iset.name}"


class _FaLabel(NamedTuple):
    """A flash-attn local label: ``cu{X}torch{Y.Z}`` with or without ``cxx11abi{TRUE|FALSE}``."""

    cuda: str | None  # "cu123", "cu12"; None when the label names no CUDA
    torch_minor: str  # "2.4"
    cxx11abi: bool | None  # None when the label does not say (third-party builds such as ``+cu128torch2.11``)


def parse_fa_label(local: str | None) -> _FaLabel | None:
    """Parse flash-attn's ``+cu123torch2.4cxx11abiFALSE`` or ``+cu128torch2.11`` label (case-insensitive)."""
    if not local:
        return None
    m = _FA_LABEL.fullmatch(local.lower())
    if not m:
        return None
    abi = m.group(4)
    return _FaLabel(m.group(1), f"{int(m.group(2))}.{int(m.group(3))}", None if abi is None else abi == "true")


def _minor(version: Version) -> str:
    return f"{version.major}.{version.minor}"


def flash_attn_label_rules(iset: InstallSet, env: Env, db: Database | None, entries: list[Entry],
                           pins: dict[str, _Pin]) -> list[Finding]:
    """A flash-attn build labelled for another torch (``+cu121torch2.4cxx11abiFALSE``, ``+cu128torch2.11``) or ABI.

    With torch pinned exactly, another minor (or C++ ABI, when the label names it) is AL102.  With torch
    absent or a range: a range that admits no release of the label's minor is AL102, one that admits
    other minors too is AL201 (the installer picks the newest torch, not the one the build needs).
    """
    out: list[Finding] = []
    torch = pins.get(_TORCH)
    for e in entries:
        if e.name != "flash-attn" or e.exact_version is None:
            continue
        label = parse_fa_label(e.exact_version.local)
        if label is None:
            continue
        shown = f"{e.exact_version.public}+{_written_label(e.text) or e.exact_version.local}"
        built_minor = label.torch_minor
        if torch is None or torch.exact is None:
            out += _fa_torch_floats(e, shown, built_minor, torch, db)
            continue
        have = torch.exact
        have_minor = _minor(have)
        if built_minor != have_minor:
            fix, new = _fa_fix(iset, e, db, have)
            out.append(_finding(
                "AL102", e, f"flash-attn {shown} is built for torch {built_minor}, torch is pinned to "
                f"{have}: the wheel installs and then fails to import (undefined symbol)",
                ["flash-attn", _TORCH], fix, new))
            continue
        if label.cxx11abi is not None and db is not None and env.platform.os == "linux":
            torch_abi = db.torch_abi(Version(have.public), env.platform, "pytorch" if have.local else "pypi")
            if torch_abi is not None and torch_abi != label.cxx11abi:
                fix, new = _fa_fix(iset, e, db, have)
                out.append(_finding(
                    "AL102", e, f"flash-attn {shown} is built with cxx11abi={label.cxx11abi}, torch {have} on "
                    f"{env.platform} uses cxx11abi={torch_abi}: the extension fails to load (undefined symbol)",
                    ["flash-attn", _TORCH], fix, new))
    return out


def _fa_torch_floats(e: Entry, shown: str, built_minor: str, torch: _Pin | None,
                     db: Database | None) -> list[Finding]:
    """flash-attn labelled for one torch minor while torch is absent or a range."""
    releases = [r.version for r in _db_releases(db, _TORCH) if _candidate(r)]
    of_minor = [v for v in releases if _minor(v) == built_minor] or [Version(f"{built_minor}.0")]
    others = [v for v in releases if _minor(v) != built_minor]
    best = f"torch=={of_minor[-1]}"
    if torch is None:
        return [_finding(
            "AL201", e, f"flash-attn {shown} is built for torch {built_minor} but torch is not "
            "pinned: the installer keeps or installs any torch and the extension fails to load",
            ["flash-attn", _TORCH], f"add {best} (the torch minor this build was compiled for)")]
    spec = torch.spec
    if not any(_contains(spec, v) for v in of_minor):
        return [_finding(
            "AL102", e, f"flash-attn {shown} is built for torch {built_minor}, torch is limited to "
            f"{_spec_text(spec)}, which admits no torch {built_minor}: the extension fails to import",
            ["flash-attn", _TORCH], f"pin {best}, or a flash-attn build labelled for the torch you install")]
    if db is not None and others and not any(_contains(spec, v) for v in others):
        return []  # the range admits only the build's minor
    newest = max((v for v in releases if _contains(spec, v)), default=None)
    also = f" (newest allowed: {newest})" if newest is not None and _minor(newest) != built_minor else ""
    return [_finding(
        "AL201", e, f"flash-attn {shown} is built for torch {built_minor} but torch is only limited to "
        f"{_spec_text(spec)}{also}: the installer may pick another torch and the extension fails to load",
        ["flash-attn", _TORCH], f"pin {best} (the torch minor this build was compiled for)")]


def _written_label(text: str) -> str | None:
    """The local label as the file spells it (packaging lowercases ``cxx11abiFALSE``)."""
    m = re.search(r"(?:\+|%2[Bb])([A-Za-z0-9.]*torch\d+\.\d+[A-Za-z0-9]*)", text)
    return m.group(1) if m else None


def _url_wheel_tags(entry: Entry) -> tuple[str | None, str | None]:
    """The cp tag and platform (``linux-x86_64``) named by a wheel URL requirement, when it has them."""
    req = entry.requirement
    if req is None or not req.url:
        return None, None
    name = req.url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    m = _WHEEL_TAGS.search(name)
    if not m:
        return None, None
    tag = m.group(2).lower()
    platform = None
    if "linux" in tag:
        platform = next((f"linux-{arch}" for arch in ("x86_64", "aarch64") if tag.endswith(arch)), None)
    return m.group(1), platform


def _fa_wheels(iset: InstallSet, e: Entry, db: Database | None, torch: Version) -> list[FlashAttnWheel]:
    """The curated flash-attn wheels of ``e``'s release that fit the pinned torch.

    Same torch minor, same CUDA major as torch's build, torch's C++ ABI, and a Python and platform the
    set is judged in (narrowed to the cp tag and platform of ``e``'s wheel URL when it names them).
    """
    if db is None or e.exact_version is None:
        return []
    variant = _variant_of_label(torch.local)
    if variant is None:
        known = db.torch_variants(Version(torch.public))
        variant = known.pypi if known is not None else None
    if variant is None or not variant.is_cuda or variant.version is None:
        return []
    envs = [env for env in iset.envs if iset.is_active(e, env)] or list(iset.envs)
    url_python, url_platform = _url_wheel_tags(e)
    pythons = {env.python.cp_tag for env in envs}
    platforms = {str(env.platform) for env in envs}
    if url_python is not None:  # the line's own wheel names the file's Python
        pythons = {url_python}
    if url_platform is not None:
        platforms = {url_platform}
    out = []
    minor = _minor(torch)
    abis: dict[str, bool | None] = {}
    for w in _fa_release_wheels(db, e.exact_version.public):
        if w.torch_minor != minor or w.python not in pythons or w.platform not in platforms:
            continue
        if w.platform not in abis:
            try:
                plat = Platform.parse(w.platform)
            except UsageError:  # a platform spelling the model does not know: ABI unknown
                abis[w.platform] = None
            else:
                abis[w.platform] = db.torch_abi(Version(torch.public), plat, "pytorch" if torch.local else "pypi")
        abi = abis[w.platform]
        if abi is not None and w.cxx11abi != abi:
            continue
        m = re.fullmatch(r"cu(\d+)", w.cuda)
        if not m or not m.group(1).startswith(str(variant.version.major)):
            continue
        out.append(w)
    # Per (Python, platform, ABI): the newest CUDA label of the major.
    best: dict[tuple[str, str, bool], FlashAttnWheel] = {}
    for w in sorted(out, key=lambda w: int(w.cuda[2:])):
        best[(w.python, w.platform, w.cxx11abi)] = w
    return sorted(best.values(), key=lambda w: (int(w.python[2:]) if w.python[2:].isdigit() else 0, w.platform))


_FA_WHEELS: weakref.WeakKeyDictionary[Database, dict[str, tuple[FlashAttnWheel, ...]]] = weakref.WeakKeyDictionary()


def _fa_release_wheels(db: Database, version: str) -> tuple[FlashAttnWheel, ...]:
    """``db.flash_attn_wheels`` of one flash-attn release (the expanded matrix), memoised per database."""
    cache = _FA_WHEELS.get(db)
    if cache is None:
        cache = _FA_WHEELS[db] = {}
    found = cache.get(version)
    if found is None:
        found = cache[version] = tuple(db.flash_attn_wheels("flash-attn", Version(version)))
    return found


def _fa_fix(iset: InstallSet, e: Entry, db: Database | None, torch: Version) -> tuple[str, str | None]:
    """The flash-attn line(s) to write for ``torch``: one wheel URL, or one line per Python when several fit."""
    wheels = _fa_wheels(iset, e, db, torch)
    req = e.requirement
    minor = _minor(torch)
    if not wheels or req is None:
        return (f"no flash-attn {e.exact_version.public if e.exact_version else ''} wheel for torch {minor} is "
                "recorded for this Python/platform: pin a flash-attn release with a build for torch "
                f"{minor}, or build it from source against the pinned torch", None)
    if e.url_version is not None and not req.url:
        # The build comes from a [tool.uv.sources] URL: that is the line to change, not the dependency.
        if len(wheels) == 1:
            return f'[tool.uv.sources] {req.name} = {{ url = "{wheels[0].url}" }}', None
        items = ", ".join(f'{{ url = "{w.url}", marker = "python_version == \'{w.python[2]}.{w.python[3:]}\'" }}'
                          for w in wheels)
        return f"[tool.uv.sources] {req.name} = [{items}]", None
    if len(wheels) == 1:
        new = render(req, url=wheels[0].url, original=e.text)
        return new, new
    head = req.name + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
    several_platforms = len({w.platform for w in wheels}) > 1
    lines = []
    for w in wheels:
        conds = [f"python_version == '{w.python[2]}.{w.python[3:]}'"]
        if several_platforms:
            env = Platform.parse(w.platform).marker_environment()
            conds += [f"{k} == '{env[k]}'" for k in ("sys_platform", "platform_machine") if k in env]
        if req.marker is not None:
            conds.insert(0, f"({req.marker})")
        abi = f"  # cxx11abi={w.cxx11abi}" if len({x.cxx11abi for x in wheels}) > 1 else ""
        lines.append(f"{head} @ {w.url} ; {' and '.join(conds)}{abi}")
    tags = ", ".join(dict.fromkeys(w.python for w in wheels))
    return (f"the wheel depends on the Python ({tags}); write one line per Python (or keep the one line "
            "for the Python you install):\n    " + "\n    ".join(lines), None)


# ------------------------------------------------------------------ rules over the database


_REQS: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], tuple[Requirement, ...]]] = \
    weakref.WeakKeyDictionary()
_MEMO: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], object]] = weakref.WeakKeyDictionary()


def _memo(db: Database) -> dict[tuple[object, ...], object]:
    cache = _MEMO.get(db)
    if cache is None:
        cache = _MEMO[db] = {}
    return cache


def _reqs(db: Database, rel: Release, env: Env | None, extras: Iterable[str] = ()) -> tuple[Requirement, ...]:
    """``rel.requirements`` for ``env`` (None: any platform), memoised per database.

    The answer depends only on the metadata record read for the platform and on the marker
    variables its Requires-Dist mention, so environments that differ in nothing a marker reads
    share one evaluation (most Requires-Dist never name the Python).
    """
    cache = _REQS.get(db)
    if cache is None:
        cache = _REQS[db] = {}
    ex = frozenset(extras)
    key = (rel.package, rel.version, env, ex)
    found = cache.get(key)
    if found is not None:
        return found
    shared: tuple[object, ...] | None = None
    if env is not None:
        rec = rel.metadata_for(env.platform)
        if rec is not None:
            py_dep, plat_dep = _dependence(rec)
            shared = ("env", id(rec), env.python if py_dep else None, env.platform if plat_dep else None, ex)
            found = cache.get(shared)
    if found is None:
        found = rel.requirements(env.platform if env else None, env.python if env else None, ex)
        # Equal lists share one tuple, so callers may compare them by identity.
        # (The requirements are the metadata record's own parsed objects, so their ids identify them.)
        found = cache.setdefault(("=", rel.package, rel.version, tuple(id(r) for r in found)), found)
        if shared is not None:
            cache[shared] = found
    cache[key] = found
    return found


#: Words in a Requires-Dist marker that make it depend on the Python or on the platform (conservative:
#: ``platform_python_implementation`` counts for both).
_PY_WORDS = ("python", "implementation")
_PLATFORM_WORDS = ("platform", "sys_", "os_name")


_DEPENDENCE: dict[int, tuple[MetadataRecord, bool, bool]] = {}


def _dependence(rec: MetadataRecord) -> tuple[bool, bool]:
    """Whether any marker of ``rec``'s Requires-Dist reads the Python, the platform (memoised by identity)."""
    found = _DEPENDENCE.get(id(rec))
    if found is None or found[0] is not rec:
        texts = [t.split(";", 1)[1] for t in rec.requires_dist if ";" in t]
        py = any(w in t for t in texts for w in _PY_WORDS)
        plat = any(w in t for t in texts for w in _PLATFORM_WORDS)
        found = _DEPENDENCE[id(rec)] = (rec, py, plat)
    return found[1], found[2]


def _req_on(db: Database, rel: Release, name: str, env: Env | None) -> Requirement | None:
    for req in _reqs(db, rel, env):
        if canonical(req.name) == name:
            return req
    return None


def _db_releases(db: Database | None, name: str) -> tuple[Release, ...]:
    return db.releases(name) if db is not None else ()


class _Demand(NamedTuple):
    spec: SpecifierSet
    root: str  # the file's package whose requirements lead here
    via: str  # the package whose metadata says it ("" when root itself)
    entry: Entry


def _candidate(rel: Release) -> bool:
    """A release worth proposing in a fix: not yanked, not a pre-, dev- or local release."""
    return not rel.yanked and not rel.version.is_prerelease and not rel.version.is_devrelease and \
        rel.version.local is None


def _alternatives(db: Database, name: str, want: str, version: Version, env: Env) -> list[Release]:
    """Releases of ``name`` whose requirement on ``want`` admits ``version``, newest first."""
    out = []
    for rel in reversed(db.releases(name)):
        if not _candidate(rel):
            continue
        req = _req_on(db, rel, want, env)
        if req is not None and _contains(req.specifier, version):
            out.append(rel)
    return out


def dependency_rules(iset: InstallSet, env: Env, db: Database, pins: dict[str, _Pin]) -> list[Finding]:
    """Metadata conflicts: AL101, AL103, AL104 against the file's pins; AL105 on a shared dependency."""
    out: list[Finding] = []
    demands: dict[str, list[_Demand]] = {}
    for name, pin in pins.items():
        if pin.exact is None:
            continue
        rel = _release(db, name, pin.exact)
        if rel is None:
            continue
        extras = pin.entry.requirement.extras if pin.entry.requirement is not None else set()
        _collect(db, env, rel, extras, name, "", pin.entry, demands, pins, depth=0, out=out)
    for dep, items in demands.items():
        roots: dict[str, _Demand] = {}
        for d in items:
            roots.setdefault(d.root, d)
        if len(roots) < 2:
            continue
        known = db.releases(dep)
        ordered = sorted(roots.values(), key=lambda d: (d.entry.path, d.entry.line))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                if _compatible(a.spec, b.spec, known):
                    continue
                how_a = f" (through {a.via})" if a.via else ""
                how_b = f" (through {b.via})" if b.via else ""
                later = b if b.root != _TORCH else a
                out.append(_finding(
                    "AL105", later.entry,
                    f"{a.root} needs {dep}{_spec_text(a.spec)}{how_a} but {b.root} needs {dep}"
                    f"{_spec_text(b.spec)}{how_b}: no release of {dep} satisfies both",
                    [a.root, b.root, dep],
                    _shared_fix(db, env, later, a if later is b else b, dep)))
    return out


def _compatible(a: SpecifierSet, b: SpecifierSet, known: tuple[Release, ...]) -> bool:
    if known:
        return any(_contains(a, r.version) and _contains(b, r.version) for r in known)
    for x, y in ((a, b), (b, a)):
        for s in x:
            if s.operator in ("==", "===") and "*" not in s.version:
                try:
                    if not _contains(y, Version(s.version)):
                        return False
                except ValueError:
                    return True
    return True


def _shared_fix(db: Database, env: Env, move: _Demand, keep: _Demand, dep: str) -> str:
    pin_entry = move.entry
    name = pin_entry.name or move.root
    for rel in reversed(db.releases(name)):
        if not _candidate(rel):
            continue
        spec = _demand_on(db, env, rel, pin_entry, dep)
        if spec is not None and _compatible(spec, keep.spec, db.releases(dep)):
            return f"{name}=={rel.version}"
    return f"choose {name} and {keep.root} releases whose {dep} requirements overlap"


def _demand_on(db: Database, env: Env, rel: Release, entry: Entry, dep: str, depth: int = 0) -> SpecifierSet | None:
    extras = entry.requirement.extras if entry.requirement is not None else set()
    for req in _reqs(db, rel, env, extras):
        if canonical(req.name) == dep:
            return req.specifier
        if depth < 2:
            sub = _single(db, canonical(req.name), req.specifier)
            if sub is not None:
                found = _demand_on(db, env, sub, Entry(entry.path, entry.line, entry.column, str(req), req),
                                   dep, depth + 1)
                if found is not None:
                    return found
    return None


def _single(db: Database, name: str, spec: SpecifierSet) -> Release | None:
    """The one release ``spec`` admits (an exact pin in metadata), else None (memoised per database)."""
    cache = _memo(db)
    key = ("single", name, str(spec))
    found = cache.get(key)
    if found is None:
        matching = [r for r in db.releases(name) if _contains(spec, r.version)]
        found = cache[key] = (matching[0] if len(matching) == 1 else None,)
    return found[0]  # type: ignore[index, no-any-return]


def _release(db: Database, name: str, version: Version) -> Release | None:
    """``db.release`` memoised per database (it scans the release list)."""
    cache = _memo(db)
    key = ("release", name, version)
    found = cache.get(key)
    if found is None:
        found = cache[key] = (db.release(name, version),)
    return found[0]  # type: ignore[index, no-any-return]


def _has_wheel(db: Database, rel: Release, env: Env) -> bool:
    return has_wheel(db, rel, env)


def _known_bad(db: Database) -> tuple[KnownBad, ...]:
    cache = _memo(db)
    found = cache.get(("known_bad",))
    if found is None:
        found = cache[("known_bad",)] = db.known_bad()
    return found  # type: ignore[return-value]


def _collect(db: Database, env: Env, rel: Release, extras: Iterable[str], root: str, via: str, entry: Entry,
             demands: dict[str, list[_Demand]], pins: dict[str, _Pin], *, depth: int, out: list[Finding]) -> None:
    for req in _reqs(db, rel, env, extras):
        dep = canonical(req.name)
        if dep == root:
            continue
        pin = pins.get(dep)
        if pin is not None:
            if depth == 0 and not pin.override:
                _check_pinned(db, env, root, rel, req, pin, entry, out)
            continue
        demands.setdefault(dep, []).append(_Demand(req.specifier, root, via, entry))
        if depth < 2:
            sub = _single(db, dep, req.specifier)
            if sub is not None:
                _collect(db, env, sub, req.extras, root, f"{via + ' -> ' if via else ''}{dep} {sub.version}",
                         entry, demands, pins, depth=depth + 1, out=out)


def _check_pinned(db: Database, env: Env, root: str, rel: Release, req: Requirement, pin: _Pin, root_entry: Entry,
                  out: list[Finding]) -> None:
    dep = pin.name
    spec = req.specifier
    if pin.exact is not None:
        if _contains(spec, pin.exact):
            return
        have = str(pin.exact)
    else:
        known = db.releases(dep)
        if not known or any(_contains(spec, r.version) and _contains(pin.spec, r.version) for r in known):
            return
        have = _spec_text(pin.spec)
    pinned_how = "pinned to" if pin.exact is not None else "limited to"
    build = _build_note(rel, env)
    if root == _TORCH:
        code = "AL103" if dep == "triton" else "AL101"
        target_entry = pin.entry
        line = render(target_entry.requirement, specifier=str(spec), original=target_entry.text) if (
            target_entry.requirement) else f"{dep}{spec}"
        out.append(_finding(
            code, target_entry, f"torch {rel.version} requires {dep}{spec}; {dep} is {pinned_how} {have}",
            [dep, _TORCH], line, line if pin.exact is not None else None))
        return
    code = "AL104" if root in ("torchvision", "torchaudio") and dep == _TORCH else "AL101"
    fix: str
    new: str | None = None
    if pin.exact is not None:
        alts = _alternatives(db, root, dep, pin.exact, env)
        if alts and root_entry.requirement is not None and not root_entry.requirement.url:
            new = render(root_entry.requirement, specifier=f"=={alts[0].version}", original=root_entry.text)
            fix = new
        else:
            fix = f"{dep}{spec}"
    else:
        fix = f"{dep}{spec}"
    out.append(_finding(
        code, root_entry, f"{root} {rel.version} requires {dep}{spec}{build}; {dep} is {pinned_how} {have}",
        [root, dep], fix, new))


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


def known_bad_rules(db: Database, pins: dict[str, _Pin], target: Target) -> list[Finding]:
    """Combinations the curated database records as broken."""
    out: list[Finding] = []
    versions = {n: p.exact for n, p in pins.items() if p.exact is not None}
    for kb in _known_bad(db):
        if not kb.matches(versions, target.gpu):
            continue
        involved = [pins[n] for n in kb.packages if n in pins]
        if not involved:
            continue
        at = max(involved, key=lambda p: (p.entry.path, p.entry.line)).entry
        message = kb.reason or kb.id
        if kb.error:
            message += f" (fails with: {kb.error.strip().splitlines()[0]})"
        out.append(_finding("AL106", at, f"known-bad combination {kb.id}: {message}", list(kb.packages),
                            kb.fix or None))
    return out


def target_rules(iset: InstallSet, target: Target, db: Database | None) -> list[Finding]:
    """torch pins against the target's ``--torch`` (AL108) and ``--driver`` (AL109)."""
    out: list[Finding] = []
    for e in iset.entries:
        version = e.exact_version
        if e.name != _TORCH or version is None:
            continue
        if target.torch is not None and not _contains(target.torch, version):
            out.append(_finding("AL108", e, f"torch is pinned to {version}; the target asks for torch{target.torch}",
                                [_TORCH], f"a torch release in {target.torch}"))
        if target.driver is None or db is None:
            continue
        variant = _variant_of_label(version.local)
        if variant is None and not version.local:
            known = db.torch_variants(Version(version.public))
            variant = known.pypi if known is not None else None
        if variant is None or not variant.is_cuda or variant.version is None:
            continue
        platform = target.platform or (iset.envs[0].platform if iset.envs else None)
        os_name = platform.os if platform is not None else "linux"
        newest = db.cuda_max_for_driver(target.driver, os_name, compat=True)
        if newest is None or newest >= variant.version:
            continue
        out.append(_finding(
            "AL109", e, f"torch {version} is a CUDA {variant.version} build; driver {target.driver} runs CUDA up "
            f"to {newest} (with minor-version compatibility): torch.cuda.is_available() is False",
            [_TORCH], f"a torch build for CUDA {newest} or older, or a driver that supports CUDA {variant.version}"))
    return out


def release_rules(iset: InstallSet, db: Database) -> list[Finding]:
    """Pins the database does not know (AL202) and pins without a wheel for the target (AL203)."""
    out: list[Finding] = []
    for e in iset.entries:
        version = e.exact_version
        name = e.name
        if version is None or name is None or (e.requirement is not None and e.requirement.url):
            continue
        known = db.releases(name)
        if not known:
            continue
        rel = _release(db, name, version)
        if rel is None:
            if version.local and any(r.version == Version(version.public) for r in known):
                continue
            out.append(_finding("AL202", e, f"{name} {version} is not a release the database knows "
                                f"(checked {db.checked(name) or 'unknown'}); newest known: {known[-1].version}",
                                [name], f"check the version, or refresh the database (attnlock db refresh)"))
            continue
        if version.local:
            variants = db.torch_variants(Version(version.public)) if name == _TORCH else None
            pypi = variants.pypi.label if variants is not None and variants.pypi is not None else None
            if version.local != pypi:
                continue  # a build of another index: its files are not in the derived data
        if not rel.wheels():
            continue
        if e.requirement is not None and e.requirement.marker is None and e.extra_marker is None:
            active = list(iset.envs)
        else:
            active = [env for env in iset.envs if iset.is_active(e, env)]
        if not active or any(_has_wheel(db, rel, env) for env in active):
            continue
        where = ", ".join(str(env) for env in active[:3]) + (f" and {len(active) - 3} more" if len(active) > 3 else "")
        later = [r for r in known if r.version > rel.version and _candidate(r)
                 and all(_has_wheel(db, r, env) for env in active)]
        fix = f"{name}=={later[0].version} is the first later release with a wheel there" if later else (
            f"choose a Python and platform {name} {version} has wheels for")
        out.append(_finding("AL203", e, f"{name} {version} has no wheel for {where}", [name], fix))
    return out


def torch_floats_rules(iset: InstallSet, db: Database) -> list[Finding]:
    """A package pinned whose metadata bounds torch while the set leaves torch unpinned."""
    if iset.kind in ("uv.lock", "pylock"):
        return []
    out: list[Finding] = []
    torch_entries = [e for e in iset.entries if e.name == _TORCH]
    if any(e.exact_version is not None for e in torch_entries):
        return []
    torch_spec = SpecifierSet()
    for e in torch_entries:
        if e.requirement is not None:
            torch_spec &= e.requirement.specifier
    for e in iset.entries:
        if e.name in (None, _TORCH) or e.exact_version is None or e.kind == "override":
            continue
        rel = _release(db, e.name, e.exact_version)
        if rel is None:
            continue
        req = _req_on(db, rel, _TORCH, None)
        if req is None or not any(s.operator in ("==", "===", "<", "<=", "~=") for s in req.specifier):
            continue
        exact = [s.version for s in req.specifier if s.operator == "==" and "*" not in s.version]
        fix = f"add torch=={exact[0]}" if exact else f"pin torch to one version in {req.specifier}"
        here = f" (the file says only torch{torch_spec})" if torch_entries and str(torch_spec) else ""
        out.append(_finding(
            "AL201", e, f"{e.name} {e.exact_version} requires torch{req.specifier} but torch is not pinned{here}: "
            "the installer will move torch to satisfy it", [e.name or "", _TORCH], fix))
    return out


def run(iset: InstallSet, target: Target, db: Database | None) -> list[Finding]:
    """Every rule over one install set; findings may repeat (the caller deduplicates).

    Environments in which the same entries are active share their pins; the rules that
    read metadata still run per environment (markers in Requires-Dist differ), with the
    evaluated metadata memoised per database.
    """
    out = file_rules(iset) + index_rules(iset, target, db) + target_rules(iset, target, db)
    if db is not None:
        out += release_rules(iset, db) + torch_floats_rules(iset, db)
    groups: dict[tuple[int, ...], tuple[list[Entry], list[Env]]] = {}
    for env in iset.envs:
        active = iset.active(env)
        groups.setdefault(tuple(id(e) for e in active), (active, []))[1].append(env)
    for active, envs in groups.values():
        pins = _pins(active)
        if not pins:
            continue
        if db is not None:
            out += known_bad_rules(db, pins, target)
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
                (id(_reqs(db, rel, env, _extras(p))), _build_torches(rel, env)) for p, rel in known)
            if signature in judged:
                continue
            judged.add(signature)
            out += dependency_rules(iset, env, db, pins)
            out += build_rules(iset, env, db, pins)
    return out


def _extras(pin: _Pin) -> frozenset[str]:
    req = pin.entry.requirement
    return frozenset(req.extras) if req is not None else frozenset()
