"""The shipped error signatures are valid data: each example matches its pattern, each is cited."""

from __future__ import annotations

import pytest

from attnlock.diagnose.signatures import Signature, load_signatures, parse_signatures
from attnlock.errors import DataError

SIGNATURES = load_signatures()


def test_signatures_load() -> None:
    assert len(SIGNATURES) >= 5
    assert len({s.id for s in SIGNATURES}) == len(SIGNATURES)


@pytest.mark.parametrize("sig", SIGNATURES, ids=[s.id for s in SIGNATURES])
def test_example_matches_pattern(sig: Signature) -> None:
    assert sig.pattern.search(sig.example), sig.id
    assert sig.evidence in sig.source
    assert all(u.startswith("https://") for u in sig.source)
    assert sig.checked == "2026-11-21" or sig.checked > "2024-01-01"


BASE = '''
[[signature]]
id = "a"
pattern = 'boom (?P<x>\\d+)'
cause = "c {x}"
fix = "f"
packages = ["torch"]
evidence = "https://example.invalid/1"
source = ["https://example.invalid/1"]
checked = "2026-11-21"
example = "boom 3"
'''


def test_parse_accepts_a_minimal_record() -> None:
    (sig,) = parse_signatures(BASE)
    assert sig.id == "a" and sig.packages == ("torch",)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('example = "boom 3"', 'example = "bang"'), "does not match its example"),
        (("pattern = 'boom (?P<x>\\d+)'", "pattern = 'boom ('"), "does not compile"),
        (('checked = "2026-11-21"', ""), "missing checked"),
        (('source = ["https://example.invalid/1"]', 'source = ["ftp://x"]'), "https URLs"),
        (('example = "boom 3"', 'example = "boom 3"\nsuperseded_by = ["nope"]'), "unknown id"),
        (('id = "a"', 'id = "a"\nscope = "elsewhere"'), "unknown scope"),
    ],
)
def test_parse_rejects_bad_records(edit: tuple[str, str], message: str) -> None:
    old, new = edit
    assert old in BASE
    with pytest.raises(DataError, match=message):
        parse_signatures(BASE.replace(old, new))


def test_malformed_toml_names_the_file() -> None:
    with pytest.raises(DataError) as info:
        parse_signatures("[[signature]\n", path="x/signatures.toml")
    assert info.value.path == "x/signatures.toml"


def test_a_broken_signatures_file_is_a_data_error(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from attnlock.diagnose import diagnose

    bad = Path(str(tmp_path)) / "signatures.toml"
    bad.write_text(BASE.replace('example = "boom 3"', 'example = "bang"'))
    with pytest.raises(DataError, match="does not match its example"):
        diagnose("boom 3", signatures_path=bad)
    with pytest.raises(DataError, match="cannot read signatures"):
        load_signatures(Path(str(tmp_path)) / "absent.toml")
    good = Path(str(tmp_path)) / "good.toml"
    good.write_text(BASE)
    (d,) = diagnose("log: boom 7\n", signatures_path=good)
    assert (d.id, d.cause, d.line) == ("a", "c 7", 1)


# Fields the engine and the fix computations add to a signature's named groups.
COMPUTED = {"operator", "operators", "query_shape", "query_dtype", "head_dim", "reason", "mismatch", "pkg",
            "built", "have", "want", "package", "dependency"}


@pytest.mark.parametrize("sig", SIGNATURES, ids=[s.id for s in SIGNATURES])
def test_templates_name_only_known_fields(sig: Signature) -> None:
    import string

    known = set(sig.pattern.groupindex) | COMPUTED
    for template in (sig.cause, sig.fix, *sig.commands):
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        assert fields <= known, (sig.id, fields - known)


@pytest.mark.parametrize("sig", [s for s in SIGNATURES if not s.compute and not s.scope],
                         ids=[s.id for s in SIGNATURES if not s.compute and not s.scope])
def test_plain_signature_renders_completely_on_its_example(sig: Signature) -> None:
    from attnlock.diagnose.engine import run

    found = [d for d in run(sig.example, [sig], target=None, source=None) if d.id == sig.id]
    assert found, sig.id
    for d in found:
        assert "{" not in d.cause and "{" not in d.fix, (d.cause, d.fix)
