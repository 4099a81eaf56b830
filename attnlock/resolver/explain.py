"""Why no plan exists, and the nearest target that has one.

Built from two things: the filters that emptied a package (a candidate source's rejections:
GPU architecture, driver, CUDA variant, Python, platform) and resolvelib's
``ResolutionImpossible`` causes (which requirement, from which parent), followed by a search
that relaxes the target one field at a time and reports the first that resolves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from attnlock.errors import NoPlanError
from attnlock.model import Exclusion, PythonVersion, Target
from attnlock.resolver.candidates import Candidate, CandidateSource
from attnlock.resolver.run import Impossible, run
from attnlock.resolver.requirement import Req

if TYPE_CHECKING:
    from attnlock.resolver.resolve import _Session

# The most telling filter first: a GPU or driver that cannot run a build says more than a
# Python tag.
_FILTER_ORDER = ("gpu", "driver", "cuda", "known-bad", "not-served", "python", "platform", "sdist", "yanked", "pre-release", "torch-era",
                 "torch-pairing", "placeholder", "torch-target")


def explain_empty(session: _Session, name: str, source: CandidateSource,
                  roots: Sequence[Req] = (), *, search: bool = True) -> NoPlanError:
    """No build of ``name`` survives the target's filters: say which filter and what would work."""
    rejections = source.rejections.get(name, [])
    by_filter: dict[str, list[str]] = {}
    for r in rejections:
        by_filter.setdefault(r.filter, [])
        if r.message not in by_filter[r.filter]:
            by_filter[r.filter].append(r.message)
    message = f"no build of {name} fits the target"
    for f in _FILTER_ORDER:
        if f == "torch-target" and len(by_filter) > 1:
            continue
        if by_filter.get(f):
            msgs = by_filter[f]
            message = msgs[0] if len(msgs) == 1 else f"{msgs[0]}; {_others(len(msgs) - 1, f)}"
            if f == "torch-target" or (name == "torch" and f == "cuda"):
                message = _no_torch(session, f)
            break
    else:
        if not rejections and not source.known() & {name}:
            message = f"the database has no releases of {name}"
    return NoPlanError(message, hint=_nearest(session, list(roots) or [Req(name)], avoid=name) if search else None)


def _others(count: int, filter_: str) -> str:
    """``2 other builds fail the same way``: the count of further rejections, in words."""
    return f"{count} other build{'s' if count > 1 else ''} {'fail' if count > 1 else 'fails'} the same check"


def _no_torch(session: _Session, filter_: str) -> str:
    """No torch release matches the range, or none has the wanted variant: name the nearest releases."""
    from bisect import bisect_left

    t = session.target
    relaxed = session.source(replace(t, torch=None, cuda=None))
    versions = sorted({c.version for c in relaxed.candidates("torch")})
    spec = t.torch
    if filter_ == "cuda" and t.cuda is not None:
        inside = [v for v in versions if spec is None or spec.contains(v, prereleases=True)]
        facts = session.source().db
        have: list[str] = []
        unknown_index = False
        for v in reversed(inside):
            tv = facts.torch_variants(v)
            if tv is not None:
                have = sorted({x.label for x in ((tv.pypi,) if tv.pypi else ()) + tv.index})
                unknown_index = not tv.index_known
                break
        with_it = [v for v in versions if any(c.version == v for c in session.source(
            replace(t, torch=None)).candidates("torch"))]
        single = [s.version for s in spec or () if s.operator == "==" and "*" not in s.version]
        words = (f"torch {single[0]} has no {t.cuda.label} build" if len(single) == 1 and len(list(spec or ())) == 1
                 else f"no torch{' ' + str(spec) if spec else ''} release has a {t.cuda.label} build")
        if have and unknown_index:
            words += (f" that the database knows of (torch {inside[-1]}: {', '.join(have)} on the default index; "
                      "its PyTorch-index variants are not recorded)")
        elif have:
            words += f" (torch {inside[-1]} has {', '.join(have)})"
        if with_it:
            words += f"; {t.cuda.label} builds exist for torch {', '.join(str(v) for v in with_it[-3:][::-1])}"
        return words
    pinned = [s for s in spec or () if s.operator in ("==", "===") and "*" not in s.version]
    if pinned and versions:
        at = bisect_left(versions, Version(pinned[0].version))
        near = sorted(versions[max(0, at - 2):at + 2], reverse=True)
    else:
        near = versions[-3:][::-1]
    message = f"no torch release in the database matches --torch {spec}"
    if near:
        message += f"; the nearest are {', '.join(str(v) for v in near)}"
    return message


def explain(session: _Session, roots: Sequence[Req], source: CandidateSource,
            causes: list[tuple[Req, Candidate | None]], applied: list[Exclusion], *,
            search: bool = True) -> NoPlanError:
    """Turn a failed resolution into one sentence of cause and a hint naming what would work
    (``search=False``: the cause only, without trying other targets)."""

    # 1. A wanted package with no build for the target at all.
    for root in sorted(roots, key=lambda r: r.name != "torch"):
        if not source.candidates(root.name, root.extras):
            if root.name == "torch":
                return explain_empty(session, root.name, source, roots, search=search)
            relaxed = session.source(replace(session.target, torch=None, cuda=None))
            if not relaxed.candidates(root.name, root.extras):
                return explain_empty(session, root.name, relaxed, roots, search=search)
            if any(r.filter in ("gpu", "driver") for r in source.rejections.get(root.name, [])):
                return explain_empty(session, root.name, source, roots, search=search)  # not for this GPU
    # 2. A package with no build for the target's torch.
    torch_roots = [r for r in roots if r.name == "torch"]
    for root in roots:
        if root.name == "torch":
            continue
        try:
            run(source, [*torch_roots, root])
        except Impossible as exc:
            return _no_build_for_torch(session, root, [*torch_roots, root], exc.causes, applied, search=search,
                                       source=source, everything=list(roots))
    # 3. The wanted packages conflict with each other.
    lines = _cause_lines(causes)
    message = "the wanted packages need different torch builds: " + "; ".join(lines) if lines else \
        "no combination of the wanted packages' builds works together"
    return NoPlanError(message, hint=_nearest(session, roots) if search else None)


def _not_served(source: CandidateSource | None, root: Req) -> str | None:
    """Why the default index cannot serve the asked releases of ``root`` (a placeholder release, or a
    release whose lockstep partner it no longer carries), when that is what ruled them out."""
    for r in source.rejections.get(root.name, []) if source is not None else []:
        if r.filter in ("not-served", "placeholder"):
            try:
                version = Version(r.build.rsplit(" ", 1)[-1])
            except InvalidVersion:
                continue
            if root.specifier.contains(version, prereleases=True):
                return r.message
    return None


def _no_build_for_torch(session: _Session, root: Req, roots: list[Req],
                        causes: list[tuple[Req, Candidate | None]], applied: list[Exclusion], *,
                        search: bool = True, source: CandidateSource | None = None,
                        everything: list[Req] | None = None) -> NoPlanError:
    """``roots`` are torch and the package that has no build; the searches for what would work keep
    ``everything`` the user asked for (a hint must not quietly drop another wanted package)."""
    target = session.target
    wanted = everything or roots
    torch_words = _torch_words(session)
    name = root.name + (str(root.specifier) if root.specifier else "")
    shared = sorted({req.name for req, _ in causes} - {"torch", root.name})
    if shared and torch_words:
        message = (f"{name} and {torch_words} need different {', '.join(shared)}: "
                   + "; ".join(_cause_lines(causes)))
    elif (gone := _not_served(source, root)) is not None:
        message = gone
    elif torch_words and (blocked := _blocked_by(source, root)) is not None:
        message = f"no {name} release fits {torch_words}: {blocked}"
    elif not torch_words and (pinned := _engine_words(session, root.name, root.specifier)) is not None:
        message = pinned
    elif torch_words and source is not None and not _depends_on_torch(source, root):
        message = f"no {name} build fits the target beside {torch_words}" + (
            ": " + "; ".join(_cause_lines(causes)) if _cause_lines(causes) else "")
    elif torch_words and (pinned := _engine_words(session, root.name, root.specifier)) is not None:
        message = pinned
    elif torch_words:
        message = f"no {name} release was built for {torch_words}"
        gpu_misses = [r.message for r in (source.rejections.get(root.name, []) if source else [])
                      if r.filter == "gpu"]
        if gpu_misses and target.gpu is not None:
            message += f" that runs on {target.gpu} ({gpu_misses[0]})"
        offer = _community_offer(session, root.name)
        if offer is not None:
            message += (f"; a community source publishes one ({offer.describe()}, {offer.community}): plan it "
                        f"with --source community (README, \"Community wheel sources\": not the project's own build)")
    else:
        lines = _cause_lines(causes)
        message = f"no {name} build fits the target" + (": " + "; ".join(lines) if lines else "")
    bad = [e for e in applied if e.package == root.name]
    if bad and torch_words:
        message = f"no usable {name} release for {torch_words}: " + "; ".join(
            f"{e.package}{e.specifier} is {e.reason}" + (f" ({e.evidence})" if e.evidence else "") for e in bad)
    hint = None
    custom = next((c for c in session.source().candidates("torch") if c.source == "installed"), None)
    if custom is not None:
        # The machine's own torch build: never move it; the kernel is built against it instead.
        arch = target.gpu.dotted if target.gpu is not None else "<your GPU's compute capability, e.g. 9.0>"
        return NoPlanError(
            f"{message}; torch {custom.version} is a custom build (no index serves it), so no prebuilt "
            f"{root.name} wheel is made for it",
            hint=(f"build {root.name} against the installed torch: TORCH_CUDA_ARCH_LIST={arch} MAX_JOBS=4 "
                  f"pip install --no-build-isolation {root.name}; with uv, declare [tool.uv.extra-build-dependencies] "
                  f"{root.name} = [{{ requirement = \"torch\", match-runtime = true }}]"))
    if not search:
        return NoPlanError(message)
    if target.torch is not None or target.cuda is not None:
        found = _closest_torch(session, wanted)
        if found is not None and "torch" in found and root.name in found:
            t = found["torch"]
            verb = "works with it" if shared else "has one"
            message += f"; {t.describe()} {verb} ({found[root.name].describe()})"
            hint = f"use --torch {t.version}" + (f" --cuda {t.variant}" if t.variant else "")
            if session.source().known() and _is_engine(session, root.name):
                hint += (f" (a plan never replaces your torch by itself); or keep your torch and build {root.name} "
                         "from source against it (pip install --no-build-isolation)")
    return NoPlanError(message, hint=hint or _nearest(session, wanted, avoid=root.name))


def _is_engine(session: _Session, package: str) -> bool:
    from attnlock.compat import model_for

    return model_for(session.db).engine(package) is not None


def _engine_words(session: _Session, package: str, wanted: SpecifierSet | None = None) -> str | None:
    """For a package that pins torch exactly (vllm): which of its releases pin the torch releases
    nearest the target's, and the build their wheels were compiled against where that is the miss."""
    from attnlock.compat import model_for
    from attnlock.compat.engines import DEFAULT_INDEX

    model = model_for(session.db)
    if model.engine(package) is None:
        return None
    t = session.target
    asked = [r.version for r in session.db.releases(package) if wanted and wanted.contains(r.version, prereleases=True)]
    lines = [ln for ln in model.engine_pin_lines(package) if ln.torch is not None and (
        not wanted or any(ln.first <= v <= ln.last for v in asked))]
    if not lines:
        return None
    allowed = [ln for ln in lines if ln.torch is not None and (t.torch is None or t.torch.contains(ln.torch, prereleases=True))]
    torch_words = _torch_words(session) or "the target's torch"
    if allowed and (t.cuda is not None or t.torch is None):
        parts = []
        for ln in allowed[-2:]:
            built = (f"the default-index build of torch {ln.torch}" + _default_variant(session, ln.torch)
                     if ln.build == DEFAULT_INDEX and ln.torch is not None else f"torch {ln.torch}+{ln.build}")
            verb = "its wheel is" if ln.first == ln.last else "their wheels are"
            parts.append(ln.words() + (f", and {verb} compiled against {built}" if ln.build else ""))
        return (f"no {package}{wanted or ''} release fits {torch_words}: {'; '.join(parts)} ({package} pins torch "
                f"exactly and its wheels are built for one torch build)")
    anchor = t.torch
    if anchor is not None:
        below = [ln for ln in lines if ln.torch is not None and not anchor.contains(ln.torch, prereleases=True)
                 and all(ln.torch < Version(s.version.split("+")[0]) for s in anchor if s.operator in ("==", "<=", "<"))]
        above = [ln for ln in lines if ln not in below and ln not in allowed]
        near = below[-2:] + above[:2]
    else:
        near = lines[-3:]
    name = package + (str(wanted) if wanted else "")
    return (f"no {name} release pins {torch_words.split('+')[0].split(' (')[0]}: {package} pins torch exactly"
            + (" (" + "; ".join(ln.words() for ln in near) + ")" if near else ""))


def _default_variant(session: _Session, torch: Version) -> str:
    tv = session.source().db.torch_variants(torch)
    return f" ({tv.pypi.label})" if tv is not None and tv.pypi is not None else ""


def _depends_on_torch(source: CandidateSource, root: Req) -> bool:
    """Whether builds of ``root`` pair with a torch (xformers, unsloth) or stand apart from it (jax)."""
    rels = source.db.releases(root.name)
    cands = source.candidates(root.name, root.extras)[:20]
    return root.name in ("flash-attn", "xformers", "torchvision", "torchaudio") or any(
        d.name == "torch" for c in cands for d in c.dependencies) or (not cands and bool(rels) and any(
            "torch" in t for r in rels[-5:] for rec in r.metadata[:1] for t in rec.requires_dist))


def _blocked_by(source: CandidateSource | None, root: Req) -> str | None:
    """For a package whose releases exist for the target but none can be installed with it: the
    newest release's first requirement that no build meets (unsloth → xformers), in words."""
    if source is None or root.name == "torch":
        return None
    cands = [c for c in source.candidates(root.name, root.extras) if root.satisfied_by(c)]
    if not cands:
        return None
    newest = cands[0]
    for dep in newest.dependencies:
        if dep.name == "torch":
            continue
        if not any(dep.satisfied_by(c) for c in source.viable(dep.name, dep.extras)):
            return (f"{newest.describe()} needs {dep.describe()}, and no {dep.name} build fits the target "
                    f"(the older {root.name} releases fail the same way or admit no torch here)")
    return None


def _closest_torch(session: _Session, roots: list[Req]) -> dict[str, Candidate] | None:
    """The plan for the torch release closest to the target's (newer first on a tie), any CUDA variant."""
    from packaging.specifiers import SpecifierSet


    target = session.target
    # The target's own CUDA variant first: a CPU target is better served by another CPU torch
    # than by a ROCm build.
    tries = [replace(target, torch=None)] if target.cuda is not None else []
    for relaxed_target in [*tries, replace(target, torch=None, cuda=None)]:
        relaxed = session.source(relaxed_target)
        versions = sorted({c.version for c in relaxed.candidates("torch")})
        if not versions:
            continue
        spec = target.torch
        inside = [i for i, v in enumerate(versions) if spec is None or spec.contains(v, prereleases=True)]
        anchor = inside[-1] if inside else len(versions) - 1
        order = sorted(range(len(versions)), key=lambda i: (abs(i - anchor), -i))
        others = [r for r in roots if r.name != "torch"]
        for i in order[:6]:
            # A source per torch release: builds for other torches are never made, so a package
            # with hundreds of releases (unsloth) is pruned before resolvelib backtracks through it.
            one = session.source(replace(relaxed_target, torch=SpecifierSet(f"=={versions[i]}")))
            try:
                return run(one, [Req("torch", SpecifierSet(f"=={versions[i]}")), *others])
            except Impossible:
                continue
    return None


def _torch_words(session: _Session) -> str | None:
    t = session.target
    if t.torch is None and t.cuda is None:
        return None
    spec = str(t.torch) if t.torch is not None else ""
    if spec.startswith("==") and "," not in spec and "*" not in spec:
        words = f"torch {spec[2:]}"
        return words + (f"+{t.cuda.label}" if t.cuda else "")
    words = f"torch{spec}" if spec else "torch"
    return words + (f" ({t.cuda.label})" if t.cuda else "")


def _cause_lines(causes: list[tuple[Req, Candidate | None]]) -> list[str]:
    lines: list[str] = []
    for req, parent in causes:
        who = req.parent or (parent.describe() if parent is not None else None)
        line = f"{who} needs {req.describe()}" if who else f"you asked for {req.describe()}"
        if line not in lines:
            lines.append(line)
    return lines[:4]


def _nearest(session: _Session, roots: Sequence[Req], avoid: str | None = None) -> str | None:
    """Relax the target one field at a time (then drop a package); the first plan found, in words."""

    t = session.target
    trials: list[tuple[str, Target, Sequence[Req]]] = []
    py = t.python
    if py is not None and t.torch is not None:
        # The user's torch is what a plan keeps: another Python that serves it comes first, named.
        minors = sorted((m for m in range(8, 15) if m != py.minor), key=lambda m: (abs(m - py.minor), -m))
        trials.extend((f"with --python 3.{m}", replace(t, python=PythonVersion(3, m)), roots) for m in minors)
    if t.torch is not None:
        trials.append(("without the torch range", replace(t, torch=None), roots))
    if t.cuda is not None:
        trials.append((f"with another CUDA variant than {t.cuda.label}", replace(t, cuda=None), roots))
    if t.torch is not None and t.cuda is not None:
        trials.append(("with another torch and CUDA variant", replace(t, torch=None, cuda=None), roots))
    if t.driver is not None:
        trials.append((f"with a newer driver than {t.driver}", replace(t, driver=None), roots))
    if t.python is not None:
        trials.append((f"on another Python than {t.python}", replace(t, python=None), roots))
    if avoid is not None:
        relaxed = session.source(replace(t, torch=None, cuda=None))
        dropped = [r.name for r in roots if r.name == avoid or (
            r.name != "torch" and not relaxed.candidates(r.name, r.extras))]
        rest = [r for r in roots if r.name not in dropped]
        if not rest and avoid != "torch":
            rest = [Req("torch")]
        if rest:
            trials.append((f"without {', '.join(dropped)}", t, rest))
    for words, target, rs in trials:
        try:
            found = run(session.source(target), rs)
        except Impossible:
            continue
        picks = ", ".join(c.describe() for n, c in sorted(found.items()) if n in {r.name for r in rs} | {"torch"})
        return f"{words} a plan exists: {picks}"
    return None


def _community_offer(session: _Session, name: str) -> Candidate | None:
    """The newest community build of ``name`` for the target when the user has not opted into community
    sources (``--source community``): said in the error, never planned without the flag."""
    from attnlock.compat import model_for

    model = model_for(session.db)
    if session.community or not model.community_wheels(name):
        return None
    saved = session.community
    session.community = frozenset(model.community_sources())
    try:
        return next((c for c in session.source().viable(name) if c.community is not None), None)
    finally:
        session.community = saved
