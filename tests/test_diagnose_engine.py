"""The matching engine: ordering, superseding, de-duplication, robustness on arbitrary text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from attnlock.diagnose import Diagnosis, diagnose
from attnlock.diagnose.conflicts import parse_pip, parse_uv
from attnlock.diagnose.engine import normalize, render

LOGS = Path(__file__).parent / "fixtures" / "logs"
FRAGMENTS = [p.read_text(encoding="utf-8") for p in sorted(LOGS.glob("*.log"))]


def _log(name: str) -> str:
    return (LOGS / name).read_text(encoding="utf-8")


def test_root_cause_comes_first() -> None:
    text = _log("xformers-no-operator-broken-build.log") + "\n" + _log("xformers-built-for-cu121-vs-cpu.log")
    ids = [d.id for d in diagnose(text)]
    assert ids == ["xformers-built-for-other-torch", "xformers-built-without-cuda"]


def test_symptom_is_dropped_when_its_cause_matched() -> None:
    both = _log("torch-not-compiled-with-flash.log") + _log("torch-use-flash-attention-not-enabled.log")
    assert [d.id for d in diagnose(both)] == ["torch-flash-attention-not-built"]
    assert [d.id for d in diagnose(_log("torch-not-compiled-with-flash.log"))] == [
        "torch-not-compiled-with-flash-attention"]


def test_repeated_warning_is_reported_once_at_its_first_line() -> None:
    warning = _log("torch-not-compiled-with-flash.log")
    (d,) = diagnose("start\n" + warning * 5)
    assert d.line == 2


def test_evidence_and_line_point_into_the_log() -> None:
    text = _log("flash-attn-undefined-symbol-cxx11.log")
    (d,) = diagnose(text)
    assert d.line is not None
    assert text.splitlines()[d.line - 1].startswith("ImportError:")
    assert d.evidence.startswith("ImportError:") and "undefined symbol" in d.evidence


def test_to_json_has_the_contract_fields() -> None:
    (d,) = diagnose(_log("triton-key-missing.log"))
    doc = d.to_json()
    assert list(doc)[:6] == ["id", "cause", "packages", "fix", "commands", "evidence"]
    assert isinstance(d, Diagnosis)


def test_render_never_raises_on_braces() -> None:
    assert render("a {x} {missing} {", {"x": "1"}) == "a {x} {missing} {"
    assert render("a {x} b", {"x": "{y}"}) == "a {y} b"
    assert render("{0} {x!r:>3}", {"x": "v"}) in ("{0} {x!r:>3}",)


def test_normalize_strips_colour_and_collector_prefixes() -> None:
    assert normalize("\x1b[31mError\x1b[0m\r\n") == "Error\n"
    assert normalize("[rank1]: RuntimeError: x") == "RuntimeError: x"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=200)), max_size=6))
def test_any_mix_of_logs_and_noise_is_diagnosed_without_error(parts: list[str]) -> None:
    for d in diagnose("\n".join(parts)):
        assert d.id and d.cause and d.fix and d.evidence
        assert d.line is not None and d.line >= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_conflict_parsers_never_raise(text: str) -> None:
    parse_pip(text)
    parse_uv(text)


def test_pathological_log_stays_fast() -> None:
    # Many partial matches of the multi-line patterns; a backtracking blow-up would hang here.
    chunk = ("Getting requirements to build wheel ... error\n" + "x" * 200 + "\n"
             + "No operator found for `memory_efficient_attention_forward` with inputs:\n"
             + "`op` is not supported because:\n    " + "y" * 300 + "\n"
             + "xFormers was built for:\n" + " " * 500 + "\n"
             + "No module named 'torch'\n   [end of output]\n")
    import time

    start = time.perf_counter()
    diagnose(chunk * 2000)
    assert time.perf_counter() - start < 30
