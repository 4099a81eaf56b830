"""flash-attn wheels labelled for another torch, CUDA or C++ ABI (AL102, AL201), judged against the model's wheel list."""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING, NamedTuple

from packaging.version import Version

from attnlock.check.context import Env, InstallSet
from attnlock.check.document import Entry
from attnlock.check.findings import Finding
from attnlock.errors import UsageError
from attnlock.model import Platform

if TYPE_CHECKING:
    from attnlock.database import Database
    from attnlock.database.store import (
        FlashAttnWheel,
    )
from attnlock.check.rules._base import (
    _FA_LABEL,
    _TORCH,
    _WHEEL_TAGS,
    _contains,
    _finding,
    _Pin,
    _spec_text,
    _variant_of_label,
    render,
)
from attnlock.check.rules.metadata import _candidate, _db_releases


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


