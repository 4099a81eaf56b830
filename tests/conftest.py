"""Test-wide settings: keep every test's writes under its temporary directories."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_OUTER: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """From the start, collection included: a test module that plans at import time
    (test_contract_one_model's PINNED) and module fixtures read, and so compile, the database."""
    _OUTER["XDG_CACHE_HOME"] = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="attnlock-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if "XDG_CACHE_HOME" not in _OUTER:
        return
    shutil.rmtree(os.environ["XDG_CACHE_HOME"], ignore_errors=True)
    outer = _OUTER.pop("XDG_CACHE_HOME")
    if outer is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = outer


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """attnlock's compiled database (and anything else that honours XDG_CACHE_HOME) writes under tmp."""
    cache: Path = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    yield
