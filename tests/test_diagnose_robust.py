"""Signatures match on content, not layout; several failures come out root cause first.

Every corpus log is replayed under the layouts users paste in (CRLF, colour codes,
hyperlinks, collector prefixes, quotes, Windows paths, lost line breaks) and must give
the same diagnosis as the plain log.  The order of a multi-failure log follows the
``explains`` key of signatures.toml.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pytest

from attnlock.diagnose.engine import normalize, run
from attnlock.diagnose.signatures import load_signatures, parse_signatures, required_literals
from attnlock.errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).parent / "fixtures" / "logs" / "corpus"
LOGS = [c for c in tomllib.loads((CORPUS / "MANIFEST.toml").read_text(encoding="utf-8"))["log"]
        if not c.get("unrecognised")]


def _each_line(prefix: str = "", suffix: str = "") -> Callable[[str], str]:
    return lambda text: "\n".join(prefix + line + suffix for line in text.split("\n"))


def _windows_paths(text: str) -> str:
    return re.sub(r"(?<![\w.:/])/((?:usr|home|opt|root|tmp|data|mnt)/[^\s'\"()]*)",
                  lambda m: "C:\\" + m.group(1).replace("/", "\\"), text)


LAYOUTS: dict[str, Callable[[str], str]] = {
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "cr-only": lambda t: t.replace("\n", "\r"),
    "ansi-colours": _each_line("\x1b[1;31m", "\x1b[0m"),
    "osc-hyperlinks": _each_line("\x1b]8;;file:///tmp/x\x1b\\", "\x1b]8;;\x1b\\"),
    "iso-timestamps": _each_line("2024-05-01T12:00:00.123Z "),
    "github-actions": _each_line("2024-05-01T12:00:00.1234567Z ##[error]"),
    "stderr-tag": _each_line("[stderr] "),
    "python-logging": _each_line("2024-08-23 14:56:10,043 [WARNING] (app.main) "),
    "quoted-reply": _each_line("> "),
    "windows-paths": _windows_paths,
}


@lru_cache(maxsize=None)
def _diagnose(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((d.id, d.packages) for d in run(text, load_signatures(), target=None, source=None))


def _hit(case: dict[str, object], got: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    want = set(case["packages"])  # type: ignore[arg-type]
    return any(i == case["signature"] and want <= set(p) for i, p in got)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_log_is_recognised_in_every_layout(layout: str) -> None:
    change = LAYOUTS[layout]
    missed = []
    for case in LOGS:
        text = (CORPUS / str(case["file"])).read_text(encoding="utf-8", errors="replace")
        if _hit(case, _diagnose(text)) and not _hit(case, _diagnose(change(text))):
            missed.append(case["file"])
    assert not missed


# Lost line breaks: the whole log pasted as one line.  Signatures read content, so these
# still match; a signature that needs the layout would be listed here with why (none does:
# pip's conflict block and xformers' operator table are split again before they are read).
NEED_LINES: dict[str, str] = {}


def test_logs_with_their_line_breaks_lost() -> None:
    missed = []
    for case in LOGS:
        if case["signature"] in NEED_LINES:
            continue
        text = (CORPUS / str(case["file"])).read_text(encoding="utf-8", errors="replace")
        flat = " ".join(text.split("\n"))
        if _hit(case, _diagnose(text)) and not _hit(case, _diagnose(flat)):
            missed.append(case["file"])
    assert not missed


def test_normalize_removes_prefixes_escapes_and_links() -> None:
    text = ("\x1b]0;title\x07\x1b[32m2024-05-01T12:00:00Z ##[error]boom\x1b[0m\r\n"
            "[stderr] C:\\Users\\me\\venv\\Lib\\site-packages\\x.py\r\n"
            "[flash_attn_2_cuda.so](http://flash_attn_2_cuda.so/): undefined symbol: _Z1\n")
    assert normalize(text) == ("boom\nC:/Users/me/venv/Lib/site-packages/x.py\n"
                               "flash_attn_2_cuda.so: undefined symbol: _Z1\n")


# ------------------------------------------------------------------ precedence

def _ids(*names: str) -> list[str]:
    text = "\n".join((CORPUS / n).read_text(encoding="utf-8") for n in names)
    return [i for i, _ in _diagnose(text)]


def test_cpu_torch_comes_before_the_messages_it_explains() -> None:
    # In the log the xformers and bitsandbytes messages come first; the CPU torch explains them.
    ids = _ids("xformers-built-for-pia-30.log", "bnb-cpu-only-bnb-176.log", "torch-cpu-detectron2-460.log")
    assert ids.index("torch-not-compiled-with-cuda") < ids.index("xformers-built-for-other-torch")
    assert ids.index("torch-not-compiled-with-cuda") < ids.index("bitsandbytes-cpu-only")


def test_the_install_that_replaced_torch_comes_first() -> None:
    ids = _ids("torch-cpu-chatglm-webui-7.log", "pip-replaces-torch-xformers-1146.log")
    assert ids[0] == "pip-replaces-torch"
    assert "torch-not-compiled-with-cuda" in ids


def test_bnb_override_explains_the_missing_binary() -> None:
    ids = _ids("bnb-binary-missing-bnb-1190.log", "bnb-cuda-override-bnb-760.log")
    assert ids.index("bitsandbytes-cuda-version-override") < ids.index("bitsandbytes-binary-missing")


def test_every_explains_edge_names_a_signature() -> None:
    sigs = load_signatures()
    ids = {s.id for s in sigs}
    edges = [(s.id, e) for s in sigs for e in s.explains]
    assert edges
    assert all(e in ids and e != s for s, e in edges)


RECORD = """
[[signature]]
id = "{id}"
pattern = "{pattern}"
cause = "c"
fix = "f"
packages = ["torch"]
explains = {explains}
evidence = "https://example.org/1"
example = "{pattern}"
source = "https://example.org/1"
checked = "2026-12-04"
"""


@pytest.mark.parametrize("explains, message", [('["nope"]', "unknown id"), ('["a"]', "names itself")])
def test_explains_is_validated(explains: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_signatures(RECORD.format(id="a", pattern="boom", explains=explains))


# ------------------------------------------------------------------ prefilter

def test_every_signature_has_a_prefilter_that_keeps_its_example() -> None:
    for sig in load_signatures():
        assert sig.needles, f"{sig.id}: no required literal (the reader would keep every line)"
        assert sig.may_match(normalize(sig.example)), sig.id


@pytest.mark.parametrize("pattern, needles", [
    (r"abc(?:def|ghij)klmn", ("klmn",)),
    (r"(?:alpha beta|gamma delta)x?", ("alpha beta", "gamma delta")),
    (r"(?:optional text)?abc", None),
    (r"foo\d+barbaz", ("barbaz",)),
    (r"(?i)case insensitive", None),
])
def test_required_literals(pattern: str, needles: tuple[str, ...] | None) -> None:
    assert required_literals(re.compile(pattern)) == needles


# ------------------------------------------------------------------ variants without a corpus log

def test_xformers_built_with_cuda_none() -> None:
    got = _diagnose("WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions. xFormers was built for:\n"
                    "    PyTorch 2.4.0+cpu with CUDA None (you have 2.4.0+cu121)\n")
    assert got and got[0][0] == "xformers-built-for-other-torch"


def test_pip_conflict_block_with_its_line_breaks_lost() -> None:
    from attnlock.diagnose.conflicts import parse_pip

    conflict = parse_pip(" The user requested torch==2.1.0 torchvision 0.16.0 depends on torch==2.1.0 "
                         "xformers 0.0.26.post1 depends on torch==2.3.0 To fix this you could try to:")
    assert [r.name for r in conflict.requested] == ["torch"]
    assert [(d.package, str(d.version)) for d in conflict.dependencies] == [
        ("torchvision", "0.16.0"), ("xformers", "0.0.26.post1")]
