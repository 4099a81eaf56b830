"""Resolution: a Target and the wanted packages in, one Plan (or a NoPlanError that says why) out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.compat import KnownBad, model_for
from attnlock.compat.known_bad import Installed
from attnlock.database.store import Database
from attnlock.errors import NoPlanError, UsageError
from attnlock.model import Exclusion, Index, Pin, Plan, Target, canonical
from attnlock.resolver.candidates import Candidate, CandidateSource
from attnlock.resolver.facts import facts_for
from attnlock.resolver.locations import DatabaseLocations, Locations
from attnlock.resolver.requirement import Cut, Req
from attnlock.resolver.default_set import default_wanted
from attnlock.resolver.explain import explain
from attnlock.resolver.run import Impossible, Unsolvable, run
from attnlock.resolver.wanted import Wanted, covered, torch_target

_MAX_BRANCHES = 64  # resolutions one known-bad search may run


def resolve(
    db: Database,
    target: Target,
    wanted: Sequence[Wanted] | None = None,
    *,
    allow_build: Iterable[str] = (),
    locations: Locations | None = None,
    default_set: bool = False,
    allow_known_bad: Iterable[str] = (),
    avoid_known_bad: bool = True,
    reachable: frozenset[str] | None = None,
    sources: Iterable[str] = (),
) -> Plan:
    """The plan for ``target``: the newest builds of ``wanted`` (default: every covered package
    with a release for the target) that work together.  With ``default_set`` the given ``wanted``
    are treated like the default set: one without a release for the target is left out with a
    note instead of failing the plan.  Confirmed known-bad combinations are avoided, except the
    records named in ``allow_known_bad`` (or all of them without ``avoid_known_bad``: what an
    installer that reads only metadata would choose).  ``reachable`` limits PyTorch-index builds to
    the variants whose index an installer is configured with (``check``: the file's own index lines).  Raises :class:`NoPlanError` saying why
    none exists and what would work, :class:`UsageError` for unknown packages."""
    session = _Session(db, _normalise(target), locations or DatabaseLocations(db), frozenset(canonical(a) for a in allow_build))
    session.allow_known_bad = frozenset(allow_known_bad)
    session.avoid_known_bad = avoid_known_bad
    session.reachable = reachable
    session.community = frozenset(sources)
    return session.plan(wanted, optional=default_set)


def _normalise(target: Target) -> Target:
    from attnlock.model import CudaVariant

    spec, variant = torch_target(target)
    cuda = target.cuda
    if variant is not None and (cuda is None or cuda.label != variant):
        cuda = CudaVariant.parse(variant)
    return replace(target, torch=spec, cuda=cuda)


class _Session:
    """One resolve call: sources per (relaxed) target, and the known-bad exclusion loop."""

    def __init__(self, db: Database, target: Target, locations: Locations, allow_build: frozenset[str]) -> None:
        self.db = db
        self.target = target
        self.locations = locations
        self.allow_build = allow_build
        self.excluded: dict[str, list[Cut]] = {}
        self.allow_known_bad: frozenset[str] = frozenset()
        self.avoid_known_bad = True
        self.reachable: frozenset[str] | None = None  # PyTorch-index variants the installer can reach
        self.community: frozenset[str] = frozenset()  # community wheel sources opted into (--source)
        self.allow_pre: frozenset[str] = frozenset()
        self.user_pinned: frozenset[str] = frozenset()
        self._sources: dict[tuple[object, ...], CandidateSource] = {}

    def source(self, target: Target | None = None,
               excluded: dict[str, list[Cut]] | None = None) -> CandidateSource:
        ex = self.excluded if excluded is None else excluded
        key = (target or self.target, self.allow_pre, self.user_pinned, self.reachable, self.community,
               tuple(sorted((k, tuple(sorted(map(repr, v)))) for k, v in ex.items() if v)))
        found = self._sources.get(key)
        if found is None:
            base = self.source(target, {}) if ex else None
            found = self._sources[key] = _TargetSource(facts_for(self.db), target or self.target, self.locations,
                                                       self.allow_build, self.allow_pre, excluded=dict(ex),
                                                       base=base, user_pinned=self.user_pinned,
                                                       reachable=self.reachable, community=self.community)
        return found

    # -- entry ----------------------------------------------------------------

    def plan(self, wanted: Sequence[Wanted] | None, *, optional: bool = False) -> Plan:
        self.allow_pre = frozenset(w.name for w in wanted or () if any(s.prereleases for s in w.specifier))
        self.user_pinned = frozenset(w.name for w in wanted or () if any(s.operator in ("==", "===")
                                                                         for s in w.specifier))
        asked_torch = next((w.specifier for w in wanted or () if w.name == "torch" and str(w.specifier)), None)
        if asked_torch is not None and not optional:
            # A torch range asked for through --with narrows the target itself, so every candidate
            # source (and its arc consistency) sees only those torch releases, not just the root edge.
            self.target = replace(self.target, torch=(self.target.torch or SpecifierSet()) & asked_torch)
        self._check_variant()
        source = self.source()
        known = set(covered(self.db)) | set(source.known())
        if wanted is not None:
            unknown = [w.name for w in wanted if w.name not in known]
            if unknown:
                raise UsageError(
                    f"unknown package{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                    hint=f"--with takes packages the database covers: {', '.join(covered(self.db))}; "
                         f"planned only when named: {_on_request(self.db)}",
                )
            missing = [w.name for w in wanted if w.name not in source.known()]
            if missing and optional:
                wanted = [w for w in wanted if w.name in source.known()]
            elif missing:
                raise NoPlanError(f"the database has no releases of {', '.join(missing)}",
                                  hint="run `attnlock db refresh`, or leave it out of --with")
        notes: list[str] = []
        if wanted is None or optional:
            wanted, notes = default_wanted(self, source, wanted)
        roots = self._roots(wanted)
        try:
            src, result, applied = self._solve(roots)
        except Unsolvable as exc:
            raise explain(self, roots, exc.source, exc.causes, exc.applied) from None
        result, notes = self._drop_unpaired_triton(result, wanted, notes)
        return self._build_plan(src, result, wanted, notes, applied)

    def _drop_unpaired_triton(self, result: dict[str, Candidate], wanted: Sequence[Wanted],
                              notes: list[str]) -> tuple[dict[str, Candidate], list[str]]:
        """triton pairs with torch only through torch's own pin.  Where the torch wheel for the target
        (its METADATA for that platform) requires no triton — torch 2.10 scopes it to x86_64 — a
        triton chosen for other reasons is one torch never pinned: leave it out with a note, unless
        the user pinned triton."""
        torch, triton = result.get("torch"), result.get("triton")
        if torch is None or triton is None or "triton" in self.user_pinned:
            return result, notes
        if any(d.name == "triton" for d in torch.dependencies):
            return result, notes
        rel = facts_for(self.db).release("torch", torch.version)
        rec = rel.metadata_for(self.target.platform) if rel is not None else None
        plat = str(self.target.platform) if self.target.platform is not None else "linux-x86_64"
        if rec is None or plat not in rec.platforms:
            return result, notes  # no metadata from this platform's wheel: nothing to judge by
        kept = {n: c for n, c in result.items() if n != "triton"}
        users = sorted(c.describe() for c in kept.values() if any(d.name == "triton" for d in c.dependencies))
        if users:
            return result, notes  # another package needs it: keep the plan whole, the note says why
        py = f" / Python {self.target.python}" if self.target.python is not None else ""
        note = (f"triton: left out, {torch.describe()}'s wheel for {plat} requires no triton on {plat}{py} (its "
                f"Requires-Dist scopes triton by platform or Python), so no triton is paired with it")
        return kept, [*notes, note]

    def _check_variant(self) -> None:
        """A CUDA variant label no torch release was built with and no CUDA toolkit the database
        knows (``cu999``) is a typo, not a target: a usage error listing the variants torch has."""
        cuda = self.target.cuda
        if cuda is None:
            return
        facts = facts_for(self.db)
        toolkits = {tk.version for tk in facts.toolkits()}
        spec = self.target.torch
        per_torch: dict[str, list[str]] = {}
        every: set[str] = set()
        for rel in facts.releases("torch"):
            tv = facts.torch_variants(rel.version)
            if tv is None:
                continue
            labels = [v.label for v in ((tv.pypi,) if tv.pypi else ()) + tv.index]
            every.update(labels)
            if spec is None or spec.contains(rel.version, prereleases=True):
                per_torch[str(rel.version)] = labels
        if cuda.label in every or cuda.label == "cpu" or (
                cuda.is_cuda and cuda.version is not None and cuda.version in toolkits):
            return
        if per_torch:
            newest = sorted(per_torch, key=Version)[-1]
            have = sorted(set(per_torch[newest]))
            words = f"torch {newest} has {', '.join(have)}"
        else:
            words = f"torch releases have {', '.join(sorted(every))}"
        raise UsageError(f"unknown CUDA variant {cuda.label}: no torch release was built for it and the "
                         "database knows no such CUDA toolkit", hint=f"{words}; pass one of them to --cuda")

    def _solve(self, roots: list[Req]) -> tuple[CandidateSource, dict[str, Candidate], list[Exclusion]]:
        """Resolve, cutting confirmed known-bad combinations out of the search.

        A record cuts only the combination it names, so a plan that falls into one branches: in
        each branch one member of the combination (torch, xformers, unsloth …) is moved out of the
        record's range, and the search goes on.  The union of the branches is exactly every plan
        outside the combination; the best plan over the branches wins (:func:`_rank`).
        """
        frontier: list[tuple[dict[str, list[Cut]], list[Exclusion]]] = [({}, [])]
        seen: set[tuple[object, ...]] = set()
        best: tuple[tuple[object, ...], CandidateSource, dict[str, Candidate], list[Exclusion]] | None = None
        failed: Unsolvable | None = None
        order = [r.name for r in roots]
        runs = 0
        while frontier and runs < _MAX_BRANCHES:
            excluded, applied = frontier.pop(0)
            key = tuple(sorted((k, tuple(sorted(map(repr, v)))) for k, v in excluded.items()))
            if key in seen:
                continue
            seen.add(key)
            runs += 1
            self.excluded = excluded
            src = self.source()
            try:
                result = run(src, roots)
            except Impossible as exc:
                if failed is None or len(applied) < len(failed.applied):
                    failed = Unsolvable(src, exc.causes, applied)
                continue
            hit = self._known_bad_hit(result)
            if hit is None:
                rank = _rank(result, order)
                if best is None or rank > best[0]:
                    best = (rank, src, result, applied)
                continue
            for name in hit.members():
                cut = Cut(hit.packages[name], _cut_reason(hit, name), hit.labels.get(name),
                          hit.torch_variant if name == "torch" else ())
                branch = {k: list(v) for k, v in excluded.items()}
                branch.setdefault(name, []).append(cut)
                frontier.append((branch, [*applied, Exclusion(name, _member_words(hit, name), cut.reason,
                                                              hit.evidence or None)]))
        if best is not None:
            _rank_, src, result, applied = best
            self.excluded = {}
            return src, result, _distinct(applied)
        if failed is not None:
            raise failed
        raise NoPlanError(f"known-bad combinations keep matching; no plan found in {_MAX_BRANCHES} searches")

    def _roots(self, wanted: Sequence[Wanted]) -> list[Req]:
        roots = []
        for w in wanted:
            extras = w.extras
            if w.name == "jax" and not extras:
                major = self._cuda_major([x for x in wanted if x.name != "jax"])
                if major is not None and self._jax_plugin_has_wheels(major):
                    # jax's CUDA wheels come through its cudaNN extra; without it jax runs on the CPU.
                    extras = frozenset({f"cuda{major}"})
            roots.append(Req(w.name, w.specifier, extras=extras))
        return roots

    def _jax_plugin_has_wheels(self, major: int) -> bool:
        """Whether jax's CUDA plugin (``jax-cudaNN-plugin``) has a wheel for the target (Linux only so far)."""
        facts = facts_for(self.db)
        rels = facts.releases(f"jax-cuda{major}-plugin")
        if not rels:
            return True  # not in the database: the extra's own requirements decide
        return any(facts.wheel_ok(r, self.target.platform, self.target.python) for r in reversed(rels[-10:]))

    def _cuda_major(self, others: Sequence[Wanted]) -> int | None:
        """The CUDA major of the target's variant, else of the torch the other packages resolve to."""
        cuda = self.target.cuda
        if cuda is not None:
            return cuda.version.major if cuda.is_cuda and cuda.version is not None else None
        source = self.source()
        try:
            torch = run(source, self._roots([*others, Wanted("torch", SpecifierSet())])).get("torch")
        except Impossible:
            torch = next(iter(source.candidates("torch")), None)
        if torch is not None and torch.cuda_major is not None:
            return torch.cuda_major
        if self.target.gpu is not None or self.target.driver is not None:
            # A GPU (or a driver) means a CUDA machine even when no torch build says which CUDA:
            # jax's newest CUDA plugin with wheels for the target.
            majors = sorted((int(m.group(1)) for n in facts_for(self.db).packages()
                             if (m := re.fullmatch(r"jax-cuda(\d+)-plugin", n))), reverse=True)
            for major in majors:
                if self._jax_plugin_has_wheels(major):
                    return major
        return None

    def _known_bad_hit(self, result: dict[str, Candidate]) -> KnownBad | None:
        """The first confirmed record the chosen builds fall into for certain (unknowns do not cut)."""
        if not self.avoid_known_bad:
            return None
        hits = model_for(self.db).known_bad_hits(installed_of(result), gpu=self.target.gpu,
                                                 platform=self.target.platform, allow=self.allow_known_bad)
        return next((h.record for h in hits if h.definite and h.record.confirmed), None)

    # -- plan -----------------------------------------------------------------

    def _build_plan(self, source: CandidateSource, result: dict[str, Candidate], wanted: Sequence[Wanted],
                    notes: list[str], applied: list[Exclusion]) -> Plan:
        wanted_names = [w.name for w in wanted]
        self._wanted_names = tuple(wanted_names)
        order = {n: i for i, n in enumerate(covered(self.db))}
        names = sorted(result, key=lambda n: (order.get(n, len(order)), n))
        required_by: dict[str, list[str]] = {}
        for cand in result.values():
            for dep in cand.dependencies:
                if dep.name in result:
                    required_by.setdefault(dep.name, []).append(cand.describe())
        pins = []
        for name in names:
            cand = result[name]
            pins.append(Pin(
                package=name,
                specifier=SpecifierSet(f"=={cand.version}"),
                version=cand.full_version,
                index=cand.index,
                url=cand.url,
                reason=self._reason(source, cand, name in wanted_names, required_by.get(name, [])),
                build=cand.variant if cand.name != "flash-attn" else cand.label,
                sdist=cand.source == "sdist",
                requires_dist=cand.requires_dist,
                source=cand.community,
            ))
        indexes: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        for p in pins:
            if p.index:
                indexes.setdefault(p.index, []).append(p.package)
                labels[p.index] = p.build or "pytorch"
        excluded = list(applied)
        notes = list(notes)
        for hit in model_for(self.db).known_bad_hits(installed_of(result), gpu=self.target.gpu,
                                                     platform=self.target.platform):
            kb = hit.record
            if hit.definite:
                # Only a reported (unconfirmed) record or an --allow-known-bad one can be planned into.
                what = ("reported broken (unconfirmed)" if not kb.confirmed else
                        f"known bad, planned because --allow-known-bad {kb.id}" if kb.id in self.allow_known_bad
                        else "known bad")
                note = f"warning: this plan is {kb.words()}, {what}: {kb.reason}" + (
                    f" ({kb.evidence})" if kb.evidence else "")
            else:
                missing = " and ".join(hit.unknown)
                note = (f"warning: {kb.words()} is {'known bad' if kb.confirmed else 'reported broken'}"
                        f" ({kb.evidence or kb.id}); this plan falls inside it unless {missing} is outside it"
                        + ("; pass --gpu to plan for yours" if "the GPU" in hit.unknown else ""))
            if note not in notes:
                notes.append(note)
        for name in names:
            eol = model_for(self.db).end_of_life(name)
            if eol is not None:
                notes.append(f"{name} is no longer developed ({eol.last} is its last release): "
                             f"{eol.announced} ({eol.source.split()[0]})")
        for cand in result.values():
            if cand.source == "index" and cand.label is None and cand.name != "torch" and \
                    facts_for(self.db).release(cand.name, cand.version) is not None:
                # The PyTorch index carries this build under the same version as the default index's
                # build, so a merged search (pip's --extra-index-url) may take either.
                notes.append(f"warning: {cand.name} {cand.version} on the {cand.variant} index has the same version as "
                             f"the default index's build (made for another CUDA); pip may install either from "
                             f"a constraints file — use --format uv (an explicit index for {cand.name}) or "
                             f"pip install --index-url {cand.index} {cand.name}=={cand.version}")
        torch_cand = result.get("torch")
        if torch_cand is not None and self.target.gpu is not None and torch_cand.variant is not None:
            from attnlock.model import CudaVariant

            variant = CudaVariant.parse(torch_cand.variant)
            if variant.is_cuda and facts_for(self.db).torch_arch_list(torch_cand.version, variant) is None:
                notes.append(f"warning: the GPU architectures of {torch_cand.describe()} are not recorded, so whether it "
                             f"has kernels for {self.target.gpu}{f' ({self.target.gpu_name})' if self.target.gpu_name else ''}"
                             " is unknown (check with `attnlock verify` on the machine)")
        for w in self._window_notes(result):
            if w not in notes:
                notes.append(w)
        notes += _cuda_major_warnings(result)
        torch_pin = next((p for p in pins if p.package == "torch"), None)
        if torch_pin is not None and "the next torch" in torch_pin.reason:
            notes.append(f"torch held at {result['torch'].version}: torch "
                         + torch_pin.reason.split("(the next torch, ", 1)[1].split(")", 1)[0].replace(
                             ", has no build of", " has no build of", 1))
        torch = result.get("torch")
        if torch is not None and torch.source == "index" and any(n.startswith("nvidia-") for n in result):
            notes.append(f"warning: the CUDA library pins (nvidia-*) of {torch.describe()} from the PyTorch index "
                         "are not in the database; their coexistence with the nvidia-* pins above is unchecked")
        return Plan(
            target=self.target,
            pins=tuple(pins),
            indexes=tuple(Index(url, f"pytorch-{labels[url]}", tuple(pk)) for url, pk in indexes.items()),
            excluded=tuple(excluded),
            notes=tuple(notes),
        )

    def _window_notes(self, result: dict[str, Candidate]) -> list[str]:
        """Say where a planned kernel build serves the planned torch only on an ABI window's word: a torch
        newer than any release the window was checked against."""
        torch = result.get("torch")
        if torch is None:
            return []
        from attnlock.compat.builds import KernelBuild

        notes = []
        model = model_for(self.db)
        for name in ("xformers", "flash-attn"):
            cand = result.get(name)
            if cand is None or cand.built_for is None:
                continue
            build = KernelBuild(name, cand.version, cand.built_for, cand.source)
            verdict = model.judge(build, torch.version, torch.variant)
            if verdict.note:
                notes.append(verdict.note)
        return notes

    def _reason(self, source: CandidateSource, cand: Candidate, wanted: bool, required_by: list[str]) -> str:
        first = next(iter(source.candidates(cand.name, cand.extras)), None)
        newest = first is not None and first.key == cand.key
        head = cand.describe()
        if cand.name == "torch" and self.target.torch:
            choice = f"newest torch in {self.target.torch} that fits"
        elif newest:
            choice = "newest build for the target"
        elif cand.name == "torch":
            choice = "newest torch for which every wanted package has a build"
            held = self._held_back_by(source, cand)
            if held:
                choice += f" (the next torch, {held[0]}, has no build of {', '.join(held[1])})"
        else:
            choice = "newest build that fits the rest of the plan"
        who = "" if wanted else f"; required by {', '.join(sorted(set(required_by)))}" if required_by else ""
        return f"{head}: {choice}; {cand.why}{who}"


    def _held_back_by(self, source: CandidateSource, torch: Candidate) -> tuple[str, list[str]] | None:
        """Why a newer torch was not planned: the newest newer release and the wanted packages
        with no viable build for it (arc consistency on a source for that torch alone)."""
        newer = sorted({c.version for c in source.candidates("torch") if c.version > torch.version})
        wanted = [n for n in getattr(self, "_wanted_names", ()) if n != "torch"]
        for v in newer[:1]:
            one = self.source(replace(self.target, torch=SpecifierSet(f"=={v}")))
            missing = [n for n in wanted if n in one.known() and not one.viable(n)]
            if missing:
                return str(v), missing
        return None


class _TargetSource(CandidateSource):
    """The candidate source plus the target's torch range as a filter on torch."""

    def candidates(self, name: str, extras: frozenset[str] = frozenset()) -> list[Candidate]:
        found = super().candidates(name, extras)
        spec = self.target.torch
        if name != "torch" or spec is None:
            return found
        cache: dict[frozenset[str], list[Candidate]] = self.__dict__.setdefault("_torch_cache", {})
        if extras in cache:
            return cache[extras]
        kept = cache.setdefault(extras, [])
        for c in found:
            if spec.contains(c.version, prereleases=True):
                kept.append(c)
            else:
                self.reject("torch", c.describe(), "torch-target", f"{c.describe()} is outside --torch {spec}")
        return kept


def _on_request(db: Database) -> str:
    """The serving engines (vllm …) and the count of the other packages ``--with`` may name."""
    from attnlock.compat import model_for

    engines = [e.package for e in model_for(db).engines() if db.releases(e.package)]
    rest = len(set(facts_for(db).packages()) - set(covered(db)) - set(engines))
    return ", ".join(engines) + f" and {rest} more (attnlock db show NAME)"


def installed_of_plan(plan: Plan) -> dict[str, Installed]:
    """A plan's pins as the compatibility model judges sets."""
    out = {}
    for p in plan.pins:
        version = p.version or Version(str(p.specifier).lstrip("="))
        out[p.package] = Installed(Version(version.public), version.local or (p.build if p.package == "flash-attn" else None),
                                   p.build if p.package == "torch" else None)
    return out


def installed_of(result: dict[str, Candidate]) -> dict[str, Installed]:
    """The chosen builds as the compatibility model judges sets (versions, labels, torch's variant)."""
    return {n: Installed(c.version, c.label, c.variant) for n, c in result.items()}


def _rank(result: dict[str, Candidate], order: Sequence[str]) -> tuple[object, ...]:
    """Which of two plans is better: the newer torch, then each wanted package newer, in the order asked."""
    names = ["torch", *[n for n in order if n != "torch"]]
    return tuple(result[n].version if n in result else Version("0") for n in names)


def _member_words(kb: KnownBad, name: str) -> str:
    spec = str(kb.packages[name]) or "*"
    glob = kb.labels.get(name)
    return spec + (f" [{glob}]" if glob else "") + (
        f" [{'/'.join(kb.torch_variant)}]" if name == "torch" and kb.torch_variant else "")


def _cut_reason(kb: KnownBad, name: str) -> str:
    others = " + ".join(f"{n}{kb.packages[n] or ' (any)'}" for n in kb.members() if n != name)
    head = f"known bad with {others}" if others else "known bad"
    return f"{head}: {kb.reason} [{kb.id}]"


def _distinct(items: list[Exclusion]) -> list[Exclusion]:
    out: list[Exclusion] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _cuda_major_warnings(result: dict[str, Candidate]) -> list[str]:
    majors: dict[int, list[str]] = {}
    for name, cand in result.items():
        m = re.search(r"-cu(\d+)$", name) or re.search(r"-cuda(\d+)-", name)
        major = int(m.group(1)) if m else cand.cuda_major if name == "torch" else None
        if major is not None:
            majors.setdefault(major, []).append(cand.describe())
    if len(majors) > 1:
        parts = "; ".join(f"CUDA {k}: {', '.join(v)}" for k, v in sorted(majors.items()))
        return [f"warning: two CUDA majors side by side ({parts}); each loads its own libraries"]
    return []


def newest_version(candidates: Iterable[Candidate]) -> Version | None:
    """The newest version among ``candidates``."""
    return max((c.version for c in candidates), default=None)
