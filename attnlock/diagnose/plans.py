"""The fix of a diagnosis as a resolver plan: the same question ``generate`` answers, for the target the log describes.

A computation says which packages must change (and what the log pins: the torch it ran with);
:func:`plan_fix` asks :func:`attnlock.resolver.resolve` for the plan on that target — companions
that move with torch included — and renders it as requirement lines and pip / uv commands.  The
lines are the plan's pins, so ``attnlock check`` passes them.  Without a database behind the port
(a test's fake) there is no plan, and the computation falls back to its own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.errors import AttnlockError
from attnlock.model import CudaVariant, Plan, Target

#: Packages that pair with one torch build: when the fix moves torch, they move with it.
COMPANIONS = ("torchvision", "torchaudio")


@dataclass(frozen=True)
class PlannedFix:
    """A plan rendered for a diagnosis: requirement lines, commands, and the plan itself."""

    plan: Plan
    pins: tuple[str, ...]
    commands: tuple[str, ...]
    indexes: tuple[str, ...] = ()  # the PyTorch indexes the pins come from

    def words(self) -> str:
        return ", ".join(self.pins)


def plan_fix(source: object, target: Target | None, want: Mapping[str, SpecifierSet], *,
             torch: Version | None = None, companions: bool = False) -> PlannedFix | None:
    """The plan for ``target`` (``torch`` fixes the torch release and CUDA variant) with ``want``."""
    from attnlock.database.store import Database
    from attnlock.resolver import resolve
    from attnlock.resolver.wanted import Wanted

    db = getattr(source, "db", None)
    if not isinstance(db, Database):
        return None
    t = target or Target()
    if torch is not None:
        cuda = t.cuda
        if torch.local:
            try:
                cuda = CudaVariant.parse(torch.local)
            except AttnlockError:
                cuda = t.cuda
        t = replace(t, torch=SpecifierSet(f"=={torch.public}"), cuda=cuda, torch_latest=False)
    wanted = [Wanted(n, spec) for n, spec in want.items()]
    if not any(w.name == "torch" for w in wanted):
        wanted.insert(0, Wanted("torch", SpecifierSet()))
    if companions:
        wanted += [Wanted(n, SpecifierSet()) for n in COMPANIONS if n not in want]
    try:
        plan = resolve(db, t, wanted, default_set=companions)
    except AttnlockError:
        return None
    return render(plan)


def render(plan: Plan) -> PlannedFix:
    """Requirement lines (``name==version``, ``name @ url``) and the pip and uv commands that install them.

    A build from a PyTorch index whose version carries no label (xformers 0.0.35 on cu130) has the same
    version as the default index's build, so it is installed in a command of its own with that index
    as the only one (``--no-deps``: its dependencies are in the first command).
    """
    pins: list[str] = []
    main: list[str] = []
    indexes: list[str] = []
    alone: list[tuple[str, str]] = []
    for p in plan.pins:
        if p.url:
            line = f"{p.package} @ {p.url}"
        elif p.version is not None:
            line = f"{p.package}=={p.version}"
        else:
            continue
        pins.append(line)
        if p.index and p.version is not None and not p.version.local:
            alone.append((line, p.index))
            continue
        main.append(line)
        if p.index and p.index not in indexes:
            indexes.append(p.index)
    extra = "".join(f" --extra-index-url {u}" for u in indexes)
    commands = [f"pip install {_quoted(main)}{extra}",
                f"uv pip install {_quoted(main)}{extra}" + (" --index-strategy unsafe-best-match" if indexes else "")]
    for line, index in alone:
        commands += [f"pip install --no-deps --index-url {index} {_quoted([line])}",
                     f"uv pip install --no-deps --index-url {index} {_quoted([line])}"]
    every = tuple(dict.fromkeys([*indexes, *(i for _, i in alone)]))
    return PlannedFix(plan, tuple(pins), tuple(commands), every)


def _quoted(lines: list[str]) -> str:
    return " ".join(f'"{x}"' if any(c in x for c in " <>;@") else x for x in lines)
