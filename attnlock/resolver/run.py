"""One resolvelib run over a candidate source, and the two ways a resolution ends without a plan."""

from __future__ import annotations

from collections.abc import Sequence

from attnlock.model import Exclusion
from attnlock.resolver.candidates import Candidate, CandidateSource
from attnlock.resolver.requirement import Req

MAX_ROUNDS = 5000


class Unsolvable(Exception):
    """No plan for these roots on this source, after the known-bad search (what explain reads)."""

    def __init__(self, source: CandidateSource, causes: list[tuple[Req, Candidate | None]],
                 applied: list[Exclusion]) -> None:
        super().__init__("no plan")
        self.source = source
        self.causes = causes
        self.applied = applied


class Impossible(Exception):
    """One resolvelib run found no resolution: the requirements that conflicted."""

    def __init__(self, causes: list[tuple[Req, Candidate | None]]) -> None:
        super().__init__("resolution impossible")
        self.causes = causes


def run(source: CandidateSource, roots: Sequence[Req]) -> dict[str, Candidate]:
    """One resolvelib run; the mapping of chosen candidates, or :class:`Impossible` with causes."""
    from resolvelib import (
        BaseReporter,
        ResolutionImpossible,
        ResolutionTooDeep,
        Resolver,
    )

    from attnlock.resolver.provider import Provider

    resolver: Resolver = Resolver(Provider(source), BaseReporter())  # type: ignore[type-arg]
    try:
        result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as exc:
        raise Impossible([(c.requirement, c.parent) for c in exc.causes]) from None
    except ResolutionTooDeep:
        raise Impossible([]) from None
    return dict(result.mapping)
