"""Emitter goldens (tests/golden/) and the rules every constraints file obeys (../shared/FACTS.md).

Regenerate the goldens after an intended change: ATTNLOCK_UPDATE_GOLDEN=1 pytest tests/test_emit_golden.py
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from attnlock.database.store import Database
from attnlock.emit import (
    regenerate_command,
    render_constraints,
    render_json,
    render_pip_args,
    render_uv,
)
from attnlock.model import Plan
from attnlock.resolver import parse_with, resolve
from tests.test_resolver_cases import DB, make_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GOLDEN = Path(__file__).parent / "golden"

PLANS = {
    "cu118-index": ({"torch": "2.3.1", "cuda": "cu118", "python": "3.11", "platform": "linux-x86_64",
                     "gpu": "sm_80", "driver": "535.104.05"}, "torch,torchvision,xformers,flash-attn", []),
    "pypi-default": ({"torch": "2.3.1", "python": "3.10", "platform": "linux-x86_64"}, "torch,xformers,triton", []),
    "sdist-flash-attn": ({"python": "3.13", "platform": "linux-x86_64"}, "torch,flash-attn", ["flash-attn"]),
}
EXT = {"constraints": "txt", "uv": "toml", "pip-args": "sh", "json": "json"}


def _plan(name: str) -> Plan:
    target, with_, allow = PLANS[name]
    return resolve(Database(DB), make_target(target), parse_with(with_), allow_build=allow)


def _render(name: str, fmt: str) -> str:
    plan = _plan(name)
    _, with_, allow = PLANS[name]
    command = regenerate_command(plan, fmt, output=f"{name}.{EXT[fmt]}", with_=with_.split(","), allow_build=allow)
    if fmt == "constraints":
        return render_constraints(plan, command=command)
    if fmt == "uv":
        return render_uv(plan, command=command)
    if fmt == "pip-args":
        return render_pip_args(plan)
    return render_json(plan)


@pytest.mark.parametrize("fmt", list(EXT))
@pytest.mark.parametrize("name", list(PLANS))
def test_golden(name: str, fmt: str) -> None:
    text = _render(name, fmt)
    path = GOLDEN / f"{name}.{EXT[fmt]}"
    if os.environ.get("ATTNLOCK_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(PLANS))
def test_constraints_obey_what_pip_and_uv_accept(name: str) -> None:
    text = _render(name, "constraints")
    plan = _plan(name)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    for ln in lines:
        assert not ln.startswith(("--index-url", "-i ", "-e", "--hash")) and "--hash" not in ln
        if ln.startswith("--extra-index-url"):
            assert "# RISK" not in ln and "dependency confusion" in text
            continue
        req = Requirement(ln)
        assert not req.extras, "extras in a constraints file break every pip install"
        assert req.url or str(req.specifier).startswith("=="), ln
    for pin in plan.pins:
        if pin.index:
            assert f"{pin.package}=={pin.version}" in lines and "+" in str(pin.version)
    assert "# Regenerate: attnlock generate " in text


def test_regenerate_command_round_trips_through_the_cli_parser() -> None:
    from attnlock.cli import build_parser

    plan = _plan("cu118-index")
    command = regenerate_command(plan, "constraints", output="c.txt", with_=["torch", "xformers"])
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.torch, args.cuda, args.python, args.platform, args.gpu, args.driver, args.output) == (
        "2.3.1", "cu118", "3.11", "linux-x86_64", "sm_80", "535.104.05", "c.txt")


def test_uv_fragment_routes_only_through_explicit_indexes() -> None:
    data = tomllib.loads(_render("cu118-index", "uv"))["tool"]["uv"]
    assert [i["explicit"] for i in data["index"]] == [True]
    assert set(data["sources"]) == {"torch", "torchvision", "xformers"}
    assert all(c.split(";")[0].strip().split("==")[-1] or "@" in c for c in data["constraint-dependencies"])
    assert "override-dependencies" not in data


def test_json_shape() -> None:
    data = json.loads(_render("cu118-index", "json"))
    assert set(data) >= {"target", "pins", "indexes", "urls", "excluded", "reasons"}
    assert data["target"] == {"torch": "2.3.1+cu118", "cuda": "11.8", "python": "3.11", "platform": "linux-x86_64",
                              "gpu": "sm_80", "driver": "535.104.05"}
    assert data["pins"]["torch"] == "==2.3.1+cu118"
    assert data["urls"]["flash-attn"].endswith("cxx11abiFALSE-cp311-cp311-linux_x86_64.whl")
    assert data["indexes"][0]["packages"] == ["torch", "torchvision", "xformers"]
