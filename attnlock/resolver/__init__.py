"""The resolver: the newest builds of the wanted packages that work together on one target.

Built on resolvelib with pip's provider / candidate / requirement split:

* :mod:`~attnlock.resolver.candidates` – every installable *build* (torch 2.3.1 from the
  default index vs 2.3.1+cu118 from the PyTorch index, xformers' builds with the torch from
  their ``cpp_lib.json``, flash-attn's labelled GitHub wheels), filtered by the target;
* :mod:`~attnlock.resolver.requirement` – edges that can name a torch *build*;
* :mod:`~attnlock.resolver.provider` – the resolvelib provider;
* :mod:`~attnlock.resolver.explain` – why no plan exists and the nearest target that has one;
* :mod:`~attnlock.resolver.locations` – the port that says where non-default builds live.

``resolve(db, target, wanted) -> Plan`` is the entry point; resolvelib is imported on first use.
"""

from __future__ import annotations

from attnlock.resolver.locations import DatabaseLocations, Locations, MirrorLocations
from attnlock.resolver.resolve import resolve
from attnlock.resolver.wanted import Wanted, covered, parse_with

__all__ = ["DatabaseLocations", "Locations", "MirrorLocations", "Wanted", "covered", "parse_with", "resolve"]
