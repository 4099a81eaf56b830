"""The resolvelib provider: identifies, orders and matches build candidates.

Modelled on pip's resolvelib provider: requirements and candidates are separate types
(:class:`~attnlock.resolver.requirement.Req`, :class:`~attnlock.resolver.candidates.Candidate`),
the provider only answers resolvelib's questions, and the candidate source does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from resolvelib import AbstractProvider

from attnlock.resolver.candidates import Candidate, CandidateSource
from attnlock.resolver.requirement import Req

# Decide torch first: every kernel package's edges point at a torch build, so pinning torch
# early turns the rest into cheap filtering; then the packages with build-specific edges.
_ORDER = {"torch": 0, "xformers": 1, "flash-attn": 1, "torchvision": 2, "torchaudio": 2, "triton": 3}


class Provider(AbstractProvider):  # type: ignore[type-arg]
    """Answers resolvelib over a :class:`CandidateSource`."""

    def __init__(self, source: CandidateSource) -> None:
        self.source = source

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.name

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> tuple[int, int, str]:
        caused = any(c.requirement.name == identifier for c in backtrack_causes)
        return (0 if caused else 1, _ORDER.get(identifier, 5), identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Iterable[Candidate]:
        reqs = list(requirements[identifier])
        bad = {c.key for c in incompatibilities[identifier]}
        extras = frozenset().union(*(r.extras for r in reqs)) if reqs else frozenset()
        return [
            c for c in self.source.viable(identifier, extras)
            if c.key not in bad and all(r.satisfied_by(c) for r in reqs)
        ]

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        return requirement.satisfied_by(candidate)

    def get_dependencies(self, candidate: Candidate) -> Iterable[Req]:
        return candidate.dependencies
