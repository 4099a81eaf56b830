"""Fix computations: turn a matched signature's captured groups and the database into concrete pins.

Each computation takes a :class:`~attnlock.diagnose.engine.Match` and returns the
diagnoses it supports.  They ask the database only through the
:class:`~attnlock.diagnose.port.CompatibilitySource` port and fall back to the
signature's own cause/fix templates (``data/curated/signatures.toml``) when the
database cannot answer, so a fix is never invented.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.diagnose import conflicts
from attnlock.diagnose.diagnosis import Diagnosis
from attnlock.diagnose.engine import Match
from attnlock.diagnose.plans import COMPANIONS, plan_fix
from attnlock.diagnose.port import CompatibilitySource, FlashAttnWheel, XformersBuild
from attnlock.diagnose.signatures import Signature
from attnlock.model import Target


def _version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version(text.strip())
    except InvalidVersion:
        return None


def _target_torch(target: Target | None, *, given_only: bool = False) -> Version | None:
    """The exact torch a target names (``--torch 2.3.1+cu121``), else None.

    With ``given_only``, a torch that detection filled in is ignored: when the log itself
    says which torch it ran with, only a flag or ``ATTNLOCK_TORCH`` may override that.
    """
    if target is None or target.torch is None:
        return None
    origin = target.origin("torch") or ""
    if given_only and not origin.startswith(("flag", "env:")):
        return None
    specs = list(target.torch)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return _version(specs[0].version)
    return None


def _pip(*args: str, index: str | None = None) -> str:
    cmd = "pip install " + " ".join(f'"{a}"' if any(c in a for c in "<>!~ ;") else a for a in args)
    return cmd + (f" --index-url {index}" if index else "")


# ---------------------------------------------------------------- xformers built for another torch

def _pick_build(builds: list[XformersBuild], want: Version, label: str | None) -> XformersBuild | None:
    """The build for ``want``: a torch with a local label (``+cu121``) came from the PyTorch index of
    that label, so that index's build first, then a default-index build compiled for the same label;
    a torch without a label came from the default index, so its build."""
    if label:
        ordered = [b for b in builds if b.variant == label]
        ordered += [b for b in builds if b.variant is None and b.torch.local == label]
    else:
        ordered = [b for b in builds if b.variant is None]
    return ordered[0] if ordered else None


def _mentions_companions(ctx: Match) -> bool:
    """Whether the log shows torchvision or torchaudio installed (they move with torch in a fix)."""
    return any(name in ctx.text for name in COMPANIONS)


def _xformers_window(ctx: Match, built: Version, want: Version, values: dict[str, str | None]) -> Diagnosis | None:
    """On the stable ABI the torch release is no cause: name the CUDA-major miss (or nothing) instead.

    The build is looked up in the compatibility model (the releases whose build info names
    ``built``); without a database behind the port, None and the exact-build reading stands.
    """
    from attnlock.compat import KernelBuild, model_for
    from attnlock.database.store import Database

    db = getattr(ctx.source, "db", None)
    if not isinstance(db, Database):
        return None
    model = model_for(db)
    versions = [rel.version for rel in db.releases("xformers") if not rel.version.is_prerelease
                and any(b.built_for == built for b in model.xformers_builds(rel))]
    if not versions:
        return None
    build = KernelBuild("xformers", max(versions), built, "pypi")
    window = model.window(build)
    if window is None or not window.stable:
        return None
    verdict = model.judge(build, want, want.local)
    if not verdict.ok and any("serves torch" in r for r in verdict.reasons):
        return None  # outside the window: the torch release is the cause after all
    python_note = (" The Python line of that message is not a cause: the wheel's extension binds no CPython "
                   "symbol (abi3)." if window.python == "abi3" else "")
    if verdict.ok:
        cause = (f"xformers {build.version} (built for torch {built}) serves torch {want.public} on "
                 f"{window.describe(built)}, yet its extension did not load: the install is broken or "
                 f"incomplete.{python_note}")
    else:
        cause = (f"xformers {build.version} is on {window.describe(built)}, so torch {want.public} is not the "
                 f"problem: {'; '.join(verdict.reasons)} — the CUDA runtime its extension links is missing from "
                 f"this environment, so none of its CUDA operators load.{python_note}")
    planned = plan_fix(ctx.source, ctx.target, {"xformers": SpecifierSet()}, torch=want)
    fixes: list[str] = []
    cmds: list[str] = []
    pins: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    if planned is not None and planned.plan.pin("xformers") is not None:
        fixes.append(f"install the xformers build for this torch's CUDA: {planned.words()}")
        cmds += planned.commands
        pins, indexes = planned.pins, planned.indexes
    if verdict.way_out:
        fixes.append(f"or keep this xformers and put {verdict.way_out}")
    fix = "; ".join(fixes) or "reinstall xformers for this torch's CUDA variant"
    return ctx.diagnosis(cause=cause, fix=fix, commands=cmds, values=values, pins=pins, indexes=indexes)


def xformers_built_for(ctx: Match) -> list[Diagnosis]:
    """``xFormers was built for: PyTorch A with CUDA n (you have B)`` → the xformers build for B, or torch A."""
    g = ctx.groups
    built, have = _version(g.get("built")), _version(g.get("have"))
    if built is None or have is None:
        return [ctx.diagnosis()]
    want = _target_torch(ctx.target, given_only=True) or have
    label = want.local
    cuda_origin = (ctx.target.origin("cuda") or "") if ctx.target else ""
    if label is None and ctx.target and ctx.target.cuda and cuda_origin.startswith(("flag", "env:")):
        label = ctx.target.cuda.label
    src = ctx.source
    values: dict[str, str | None] = {"built": str(built), "have": str(have), "want": str(want)}
    py_built, py_have = _version(g.get("py_built")), _version(g.get("py_have"))
    extra = ""
    if py_built and py_have and py_built.release[:2] != py_have.release[:2]:
        extra = f" It was also built for Python {py_built.major}.{py_built.minor} (you have {py_have.major}.{py_have.minor})."
    if built == have == want and py_built and py_have and py_built.release[:2] != py_have.release[:2]:
        # Same torch, other Python: the extension is compiled per Python version.
        cause = (f"xformers' extension matches torch {built} but was compiled for Python "
                 f"{py_built.major}.{py_built.minor}, and this is Python {py_have.major}.{py_have.minor}")
        build = _pick_build(src.xformers_builds_for_torch(want), want, label) if src else None
        if build is None:
            fix = (f"reinstall xformers from a wheel built for Python {py_have.major}.{py_have.minor} "
                   f"(cp{py_have.major}{py_have.minor}) and torch {want}, or build it against this interpreter "
                   "with `pip install --no-build-isolation xformers`")
            return [ctx.diagnosis(cause=cause, fix=fix, commands=[], values=values)]
        fix = (f"reinstall xformers=={build.xformers} for this Python (pip picks the "
               f"cp{py_have.major}{py_have.minor} wheel)" + (f" from {build.index_url}" if build.index_url else ""))
        reinstall = [_pip("--force-reinstall", "--no-deps", f"xformers=={build.xformers}", index=build.index_url)]
        return [ctx.diagnosis(cause=cause, fix=fix, commands=reinstall, values=values)]
    if built.public == want.public and built.local and built.local != want.local:
        idx = src.index_url(built.local) if src else None
        cause = (
            f"xformers' extension was built for torch {built}, and torch {want} is installed: the same release, "
            f"but the {want.local or 'default'} build instead of the {built.local} build"
            + (" (a CPU-only torch)." if want.local == "cpu" else ".")
            + extra
        )
        fix = f"install the {built.local} build of torch {built.public}" + (
            f" from {idx}" if idx else f" from the PyTorch index for {built.local}"
        ) + ", keeping xformers as it is"
        swap = [_pip("--force-reinstall", f"torch=={built}", index=idx)] if idx else []
        return [ctx.diagnosis(cause=cause, fix=fix, commands=swap, values=values)]
    window_dx = _xformers_window(ctx, built, want, values)
    if window_dx is not None:
        return [window_dx]
    if have.local == "cpu" and built.local != "cpu":
        extra = f" Torch {have} is a CPU-only build: xformers' CUDA operators need a CUDA build of torch." + extra
    cause = (
        f"xformers' C++/CUDA extension was compiled for torch {built}, but torch {have} is installed, "
        f"so none of its CUDA operators load (memory_efficient_attention then finds no operator).{extra}"
    )
    planned = plan_fix(src, ctx.target, {"xformers": SpecifierSet()}, torch=want,
                       companions=_mentions_companions(ctx))
    if planned is not None and planned.plan.pin("xformers") is not None:
        fix = (f"install the plan for torch {want}: {planned.words()} (the xformers build made for it), "
               f"or pin torch=={built} to keep this xformers")
        return [ctx.diagnosis(cause=cause, fix=fix, commands=list(planned.commands), values=values,
                              pins=planned.pins, indexes=planned.indexes)]
    fixes: list[str] = []
    cmds: list[str] = []
    build = _pick_build(src.xformers_builds_for_torch(want), want, label) if src else None
    if build is not None:
        where = f", from {build.index_url}" if build.index_url else ""
        fixes.append(f"install xformers=={build.xformers}, the build for torch {build.torch}{where}")
        cmds.append(_pip(f"xformers=={build.xformers}", index=build.index_url))
    elif src is not None:
        fixes.append(f"no xformers release in the database was built for torch {want}")
    idx_built = src.index_url(built.local) if (src and built.local) else None
    pin = f"torch=={built}"
    fixes.append(f"or pin {pin}" + (f" from {idx_built}" if idx_built else "") if fixes else f"pin {pin}")
    if idx_built or not built.local:
        cmds.append(_pip(pin, index=idx_built))
    if src is None:
        return [ctx.diagnosis(cause=cause, values=values)]
    return [ctx.diagnosis(cause=cause, fix="; ".join(fixes), commands=cmds, values=values)]


# ---------------------------------------------------------------- xformers: no operator found

_OP_HEADER = re.compile(r"^\W*`(?P<op>[^`]+)` is not supported because:\s*$")
_INPUT_LINE = re.compile(r"^\W*(?P<key>query|key|value|attn_bias|p)\s*:\s*(?P<val>.*)$")
_SHAPE = re.compile(r"shape=\((?P<dims>[\d, ]+)\)\s*\((?P<dtype>torch\.\w+)\)")


def _no_operator_block(ctx: Match) -> tuple[dict[str, str], list[tuple[str, list[tuple[str, int]]]]]:
    """The inputs and, per operator, its (reason line, line number) list after the header."""
    lines = ctx.after.split("\n")
    first = ctx.line_of(ctx.match.end())
    inputs: dict[str, str] = {}
    ops: list[tuple[str, list[tuple[str, int]]]] = []
    for offset, raw in enumerate(lines):
        lineno = first + offset
        if offset == 0 and not raw.strip():
            continue
        head = _OP_HEADER.match(raw)
        if head:
            ops.append((head.group("op"), []))
            continue
        if not ops:
            m = _INPUT_LINE.match(raw)
            if m:
                inputs[m.group("key")] = m.group("val").strip()
                continue
            if raw.strip() == "" or offset < 2:
                continue
            break
        if raw[:1] in (" ", "\t") and raw.strip():
            ops[-1][1].append((raw.strip(), lineno))
            continue
        break
    return inputs, ops


def xformers_no_operator(ctx: Match) -> list[Diagnosis]:
    """Tell input limits (CPU tensors, float32, head dim, bf16 before sm80) apart from a broken build."""
    inputs, ops = _no_operator_block(ctx)
    if not ops:
        return [ctx.diagnosis()]
    reasons = [s for s in ctx.signatures if s.scope == "xformers-operator-reason"]
    values: dict[str, str | None] = {}
    shape = _SHAPE.search(inputs.get("query", ""))
    if shape:
        dims = [d.strip() for d in shape.group("dims").split(",") if d.strip()]
        values.update(query_shape=f"({', '.join(dims)})", query_dtype=shape.group("dtype"),
                      head_dim=dims[-1] if dims else None)
    values["operators"] = ", ".join(op for op, _ in ops)

    Hit = tuple[Signature, "re.Match[str]"]

    def classify(line: str) -> tuple[str, Hit | None]:
        for sig in reasons:
            m = sig.pattern.search(line)
            if m:
                return sig.reason_class or "input", (sig, m)
        return "unknown", None

    def reason_diagnosis(hit: Hit, line: str, lineno: int) -> Diagnosis:
        sig, m = hit
        sub = Match(sig, m, line, ctx.target, ctx.source, ctx.signatures)
        return sub.diagnosis(values={**values, **m.groupdict(), "reason": line}, evidence=line, line=lineno)

    classified = [(op, [(line, n, *classify(line)) for line, n in rs]) for op, rs in ops]
    usable = [(op, rs) for op, rs in classified if not any(c == "build" for _, _, c, _ in rs)]
    if not usable:
        values["operator"] = ", ".join(op for op, _ in classified)
        # Every operator is missing from the build: that comes first.  A limit that every
        # operator also names (CPU tensors, say) would still stop a working build: name it too.
        out: list[Diagnosis] = []
        for _, rs in classified:
            for line, n, cls, hit in rs:
                if cls == "build" and hit is not None:
                    out.append(reason_diagnosis(hit, line, n))
                    break
            if out:
                break
        for _, rs in classified[:1]:
            for line, n, _cls, hit in rs:
                if hit is not None and hit[0].universal:
                    out.append(reason_diagnosis(hit, line, n))
        return out or [ctx.diagnosis(values=values)]
    # The operator closest to working: fewest reasons against it.
    op, rs = min(usable, key=lambda item: len(item[1]))
    values["operator"] = op
    unknown: list[str] = []
    out = []
    for line, n, _cls, hit in rs:
        if hit is None:
            unknown.append(line)
        else:
            out.append(reason_diagnosis(hit, line, n))
    if unknown or not out:
        out.append(ctx.diagnosis(
            cause=f"no xformers operator accepts these inputs; the closest, {op}, rejects them because: "
            + "; ".join(unknown or [line for line, *_ in rs]),
            values=values,
        ))
    return out


# ---------------------------------------------------------------- flash-attn

def _flash_attn_wheel(src: CompatibilitySource, target: Target | None, abi: bool | None) -> FlashAttnWheel | None:
    """The prebuilt flash-attn wheel for the target's torch minor, CUDA major, ABI and Python."""
    torch = _target_torch(target)
    if target is None or torch is None or target.python is None:
        return None
    platform = str(target.platform) if target.platform else "linux-x86_64"
    known_abi = src.torch_cxx11abi(torch, platform)
    if known_abi is not None:
        abi = known_abi  # the wheel must match torch's ABI, whatever the symbol suggested
    minor = f"{torch.major}.{torch.minor}"
    cuda = target.cuda.version if (target.cuda and target.cuda.is_cuda) else None
    label = torch.local or (None if cuda is not None else src.torch_default_variant(torch))
    if cuda is None and label and label.startswith("cu"):
        cuda = _version(f"{label[2:-1]}.{label[-1]}")
    py = target.python.cp_tag
    best: FlashAttnWheel | None = None
    for w in src.flash_attn_wheels():
        if w.torch_minor != minor or w.python != py or w.platform != platform:
            continue
        if abi is not None and w.cxx11abi != abi:
            continue
        wc = w.cuda.removeprefix("cu")
        if cuda is not None and not wc.startswith(str(cuda.major)):
            continue
        exact = cuda is not None and wc == f"{cuda.major}{cuda.minor}"
        if best is None or (exact and best.cuda.removeprefix("cu") != wc):
            best = w
            if exact:
                break
    return best


def _wheel_fix(wheel: FlashAttnWheel) -> str:
    return (
        f"install the flash-attn {wheel.version} wheel for torch {wheel.torch_minor}, CUDA {wheel.cuda}, "
        f"cxx11abi{'TRUE' if wheel.cxx11abi else 'FALSE'}, {wheel.python}: {wheel.url}"
    )


def flash_attn_undefined_symbol(ctx: Match) -> list[Diagnosis]:
    """An undefined C++ symbol in flash_attn_2_cuda: torch version or C++ ABI mismatch → the exact wheel."""
    symbol = ctx.groups.get("symbol") or ""
    abi: bool | None = None
    if "__cxx11" in symbol:
        abi = False  # the extension wants the C++11-ABI std::string, which this torch does not export
        kind = ("C++ ABI: the extension was built with the C++11 ABI (cxx11abiTRUE) and this torch exports "
                "the old ABI, or it was built for another torch release")
    else:
        kind = "torch version: the extension was compiled against a different torch release than the one installed"
    wheel = _flash_attn_wheel(ctx.source, ctx.target, abi) if ctx.source else None
    values = {"mismatch": kind}
    if wheel is None:
        return [ctx.diagnosis(values=values)]
    return [ctx.diagnosis(fix=_wheel_fix(wheel), values=values,
                          commands=[f"pip install --no-deps --force-reinstall {wheel.url}"])]


def build_needs_torch(ctx: Match) -> list[Diagnosis]:
    """A build under isolation that imports torch; for flash-attn, the prebuilt wheel when known."""
    pkg = conflicts._name(ctx.groups.get("pkg") or "flash-attn")
    values = {"pkg": pkg}
    wheel = _flash_attn_wheel(ctx.source, ctx.target, None) if (ctx.source and pkg == "flash-attn") else None
    if wheel is None:
        return [ctx.diagnosis(values=values, packages=[pkg, "torch"])]
    fix = _wheel_fix(wheel) + f"; or build it against the installed torch: `pip install {pkg} --no-build-isolation`"
    return [ctx.diagnosis(fix=fix, values=values, packages=[pkg, "torch"],
                          commands=[f"pip install --no-deps {wheel.url}"])]


def flash_attn_arch(ctx: Match) -> list[Diagnosis]:
    """"FlashAttention only supports Ampere GPUs or newer": an old GPU, or a build without this GPU's kernels."""
    gpu = ctx.target.gpu if ctx.target else None
    floor = ctx.source.flash_attn_min_capability() if ctx.source else None
    if gpu is None or floor is None:
        return [ctx.diagnosis()]
    need = f"{floor[0]}.{floor[1]}"
    if (gpu.major, gpu.minor) < floor:
        cause = f"flash-attn 2 kernels need compute capability {need} or newer and this GPU is {gpu} ({gpu.dotted})"
        fix = ("do not use flash-attn 2 on this GPU: choose SDPA (`attn_implementation=\"sdpa\"` in transformers) "
               "or xformers")
    else:
        cause = (f"this GPU is {gpu} ({gpu.dotted}), new enough for flash-attn 2 (compute capability {need}+), "
                 "but the installed flash-attn build has no kernels for it")
        fix = (f"install a flash-attn build compiled for {gpu} (a prebuilt wheel whose CUDA supports it, or "
               f"build with TORCH_CUDA_ARCH_LIST={gpu.dotted} and --no-build-isolation)")
    return [ctx.diagnosis(cause=cause, fix=fix)]


# ---------------------------------------------------------------- torch SDPA

_SDPA_REASON = re.compile(r"UserWarning: (?P<reason>.+?)\s*\(Triggered internally")


def sdpa_kernel_reason(ctx: Match) -> list[Diagnosis]:
    """"X kernel not used because:" — the reason is the next warning torch printed."""
    for m in _SDPA_REASON.finditer(ctx.after[:4096]):
        reason = m.group("reason").strip()
        if "kernel not used because" in reason:
            break  # the next kernel's header: this one printed no reason
        return [ctx.diagnosis(values={"reason": reason.rstrip(".")})]
    return [ctx.diagnosis(values={"reason": "torch printed no reason"})]


# ---------------------------------------------------------------- triton

def triton_for_torch(ctx: Match) -> list[Diagnosis]:
    """triton does not match torch: the triton release torch's own metadata requires."""
    torch = _target_torch(ctx.target)
    if ctx.source is None or torch is None:
        return [ctx.diagnosis()]
    planned = plan_fix(ctx.source, ctx.target, {"triton": SpecifierSet()}, torch=torch)
    if planned is not None and planned.plan.pin("triton") is not None:
        fix = (f"install the triton torch {torch.public} pairs with (its Requires-Dist, a wheel for this Python): "
               f"{planned.words()}")
        return [ctx.diagnosis(fix=fix, commands=list(planned.commands), pins=planned.pins, indexes=planned.indexes)]
    reqs = ctx.source.requirements("torch", Version(torch.public))
    triton = [r for r in reqs or [] if conflicts._name(r.name) == "triton"
              and (r.marker is None or "extra" not in str(r.marker))]
    if not triton:
        return [ctx.diagnosis()]
    spec = str(triton[0].specifier)
    fix = f"install triton{spec}, the release torch {torch.public} requires (from its Requires-Dist)"
    return [ctx.diagnosis(fix=fix, commands=[_pip(f"triton{spec}")])]


# ---------------------------------------------------------------- pip / uv conflicts

def _compatible_releases(src: CompatibilitySource, package: str, dep: str, wanted: SpecifierSet) -> list[Version]:
    """Releases of ``package`` whose requirement on ``dep`` admits something in ``wanted``, newest first."""
    exact = [s for s in wanted if s.operator in ("==", "===") and "*" not in s.version]
    pinned = _version(exact[0].version) if len(exact) == 1 else None
    if package == "xformers" and dep == "torch" and pinned is not None:
        builds = src.xformers_builds_for_torch(pinned)
        if builds:
            seen: list[Version] = []
            for b in builds:
                if b.xformers not in seen:
                    seen.append(b.xformers)
            return seen
    out: list[Version] = []
    for rel in reversed(src.releases(package)):
        reqs = src.requirements(package, rel)
        if reqs is None:
            continue
        on_dep = [r for r in reqs if conflicts._name(r.name) == dep and (r.marker is None or "extra" not in str(r.marker))]
        if not on_dep:
            continue
        if pinned is not None:
            if all(r.specifier.contains(pinned, prereleases=True) for r in on_dep):
                out.append(rel)
        elif all(str(r.specifier) == str(wanted) or not str(r.specifier) for r in on_dep):
            out.append(rel)
    return out


def _exact(spec: SpecifierSet) -> Version | None:
    pins = [s for s in spec if s.operator in ("==", "===") and "*" not in s.version]
    return _version(pins[0].version) if len(pins) == 1 else None


def _conflict_diagnoses(ctx: Match, conflict: conflicts.Conflict, *, installed: bool = False) -> list[Diagnosis]:
    """One diagnosis per requirement edge that contradicts what was requested or installed."""
    src = ctx.source
    requested = {r.name: r for r in conflict.requested}
    out: list[Diagnosis] = []
    for dep in conflict.dependencies:
        want_name = conflicts._name(dep.requirement.name)
        user = requested.get(want_name)
        if user is None:
            continue
        pinned = _exact(user.specifier)
        if pinned is not None and dep.requirement.specifier.contains(pinned, prereleases=True):
            continue  # this edge agrees with the request; pip lists it for context only
        pkg_req = requested.get(dep.package)
        who = f"{dep.package} {dep.version}" if dep.version else (
            f"{dep.package}{dep.specifier}" if dep.specifier else f"every {dep.package}")
        verb = "is installed" if installed else "was requested" + (" (as a constraint)" if user.constraint else "")
        cause = (f"{who} requires {dep.requirement.name}{dep.requirement.specifier}, but "
                 f"{want_name}{user.specifier} {verb}")
        fixes: list[str] = []
        cmds: list[str] = []
        pinned_torch = pinned if want_name == "torch" else None
        want = {want_name: SpecifierSet() if pinned_torch is not None else user.specifier,
                dep.package: pkg_req.specifier if pkg_req is not None else SpecifierSet()}
        planned = plan_fix(src, ctx.target, want, torch=pinned_torch) if src is not None else None
        if planned is not None and planned.plan.pin(dep.package) is not None:
            values = {"package": dep.package, "dependency": want_name}
            fix = (f"keep {want_name}{user.specifier} and install the plan that fits it: {planned.words()}; "
                   f"or pin {want_name}{dep.requirement.specifier}" + (f" to keep {dep.package}=={dep.version}"
                                                                       if dep.version else ""))
            out.append(ctx.diagnosis(cause=cause + ".", fix=fix, commands=list(planned.commands), values=values,
                                     packages=[dep.package, want_name], pins=planned.pins,
                                     indexes=planned.indexes))
            continue
        if src is not None:
            rels = _compatible_releases(src, dep.package, want_name, user.specifier)
            outside = ""
            if pkg_req is not None and str(pkg_req.specifier):
                inside = [r for r in rels if pkg_req.specifier.contains(r, prereleases=True)]
                if rels and not inside:
                    outside = f" (outside your {dep.package}{pkg_req.specifier}: relax that requirement)"
                rels = inside or rels
            if rels:
                choice = rels[0]
                fixes.append(f"keep {want_name}{user.specifier} and pin {dep.package}=={choice}, "
                             f"the newest release that accepts it{outside}")
                cmds.append(_pip(f"{want_name}{user.specifier}", f"{dep.package}=={choice}"))
            else:
                fixes.append(f"no {dep.package} release in the database accepts {want_name}{user.specifier}")
        dep_spec = dep.requirement.specifier
        keep = f" to keep {dep.package}=={dep.version}" if dep.version else ""
        alt = f"pin {want_name}{dep_spec}{keep}"
        fixes.append(("or " + alt) if fixes else alt)
        if str(dep_spec):
            cmds.append(_pip(f"{want_name}{dep_spec}", *([f"{dep.package}=={dep.version}"] if dep.version else [])))
        values = {"package": dep.package, "dependency": want_name}
        out.append(ctx.diagnosis(cause=cause + ".", fix="; ".join(fixes) if src is not None else None,
                                 commands=cmds, values=values, packages=[dep.package, want_name]))
    return out or [ctx.diagnosis()]


def pip_conflict(ctx: Match) -> list[Diagnosis]:
    """pip ``ResolutionImpossible``: the pins involved and the pins that resolve them."""
    return _conflict_diagnoses(ctx, conflicts.parse_pip(ctx.after))


def pip_installed_conflict(ctx: Match) -> list[Diagnosis]:
    """pip's post-install warning "X requires Y, but you have Z which is incompatible"."""
    g = ctx.groups
    req = conflicts._requirement(g.get("req") or "")
    have = _version(g.get("have"))
    if req is None or have is None:
        return [ctx.diagnosis()]
    dep = conflicts._name(req.name)
    conflict = conflicts.Conflict(
        (conflicts.Requested(dep, SpecifierSet(f"=={have}")),),
        (conflicts.Dependency(conflicts._name(g.get("pkg") or ""), _version(g.get("ver")), None, req),),
    )
    return _conflict_diagnoses(ctx, conflict, installed=True)


def uv_conflict(ctx: Match) -> list[Diagnosis]:
    """uv ``No solution found``: the pins involved and the pins that resolve them."""
    rest = ctx.after
    # The explanation ends at the first blank line or uv's ``hint:`` paragraph.
    end = re.search(r"\n\s*\n|\n\s*hint:", rest)
    return _conflict_diagnoses(ctx, conflicts.parse_uv(rest[: end.start()] if end else rest))


COMPUTATIONS: dict[str, Callable[[Match], list[Diagnosis]]] = {
    "xformers-built-for": xformers_built_for,
    "xformers-no-operator": xformers_no_operator,
    "flash-attn-undefined-symbol": flash_attn_undefined_symbol,
    "build-needs-torch": build_needs_torch,
    "flash-attn-arch": flash_attn_arch,
    "triton-for-torch": triton_for_torch,
    "sdpa-kernel-reason": sdpa_kernel_reason,
    "pip-installed-conflict": pip_installed_conflict,
    "pip-conflict": pip_conflict,
    "uv-conflict": uv_conflict,
}
