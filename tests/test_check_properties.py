"""Property tests of ``attnlock check``: random and garbled input never raises, every finding is placed, --fix keeps lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnlock.check import check_paths
from attnlock.check.fix import fix_files
from attnlock.check.source import PIP_LINE_BREAKS
from attnlock.check.toml_locate import TomlLocator
from attnlock.database import load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DB = load(Path(__file__).parent / "fixtures" / "check" / "data")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NAMES = st.sampled_from(["torch", "xformers", "triton", "torchvision", "flash-attn", "flash_attn", "jax[cuda12]",
                         "unsloth", "numpy", "Torch", "x", "torch[opt]"])
VERSIONS = st.sampled_from(["2.3.0", "2.3.1", "2.5.1", "0.0.27", "0.0.26.post1", "0.18.0", "2.3.1+cu121",
                            "2.3.1+cu118", "2.6.3+cu123torch2.4cxx11abiFALSE", "0.4.31", "9.9", "1!2", "2.*"])
OPS = st.sampled_from(["==", ">=", "<", "~=", "!=", "===", "", "=", "=>"])
MARKERS = st.sampled_from(["", " ; sys_platform == 'win32'", "; python_version >= '3.13'",
                           ' ; platform_machine == "x86_64"', "; extra == 'gpu'", "; bogus"])
LINE_ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])

REQUIREMENT = st.builds(lambda n, o, v, m: f"{n}{o}{v}{m}", NAMES, OPS, VERSIONS, MARKERS)
OPTION = st.sampled_from([
    "--index-url https://download.pytorch.org/whl/cu121", "--extra-index-url https://download.pytorch.org/whl/cu118",
    "-f ./wheels", "--pre", "-r other.txt", "-c constraints.txt", "-r requirements.txt", "-e ./local",
    "--hash=sha256:00", "--frobnicate", "-i", "-r", "flash-attn @ https://github.com/Dao-AILab/flash-attention/"
    "releases/download/v2.6.3/flash_attn-2.6.3+cu123torch2.4cxx11abiFALSE-cp310-cp310-linux_x86_64.whl",
    "./dist/x-1.0.tar.gz", "https://example.invalid/y-1.0-py3-none-any.whl",
])
JUNK = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
LINE = st.one_of(REQUIREMENT, REQUIREMENT.map(lambda r: r + "  # why"), REQUIREMENT.map(lambda r: r + " \\"),
                 OPTION, JUNK, st.just(""), st.just("# comment"), st.just("   "))


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _assert_placed(report: object, root: Path) -> None:
    for f in report.findings:  # type: ignore[attr-defined]
        assert f.path, f
        assert Path(f.path).resolve().parent == root.resolve(), f
        assert f.line >= 1 and f.column >= 1, f
        path = Path(f.path)
        if path.is_file():
            size = len(path.read_bytes().decode("utf-8", "replace").splitlines()) + 1  # pip's lines
            assert f.line <= size, (f, size)
        assert f.message and f.code.startswith("AL")


@SETTINGS
@given(lines=st.lists(LINE, max_size=12), ending=LINE_ENDINGS, final=st.booleans())
def test_random_requirements_never_raise(tmp_path_factory: pytest.TempPathFactory, lines: list[str], ending: str,
                                         final: bool) -> None:
    root = tmp_path_factory.mktemp("req")
    text = ending.join(lines) + (ending if final else "")
    (root / "requirements.txt").write_bytes(text.encode("utf-8", "surrogatepass"))
    (root / "other.txt").write_text("torch==2.3.0\n-r requirements.txt\n")
    (root / "constraints.txt").write_text("xformers[x]==0.0.27\n")
    report = check_paths([str(root / "requirements.txt")], db=DB)
    _assert_placed(report, root)


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    root = tmp_path_factory.mktemp("bytes")
    for name in ("requirements.txt", "pyproject.toml", "uv.lock", "pylock.toml"):
        (root / name).write_bytes(data)
    report = check_paths([str(root / n) for n in ("requirements.txt", "pyproject.toml", "uv.lock", "pylock.toml")],
                         db=DB)
    _assert_placed(report, root)


# -------------------------------------------------------------- TOML

def _toml_string(value: str, literal: bool) -> str:
    if literal and "'" not in value and "\n" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


TOML_VALUE = st.recursive(
    st.one_of(st.integers(-5, 5), st.booleans(), REQUIREMENT, JUNK.filter(lambda s: "\x7f" not in s)),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


def _render_value(value: object, literal: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value, literal)
    assert isinstance(value, list)
    return "[" + ", ".join(_render_value(v, literal) for v in value) + "]"


@SETTINGS
@given(
    deps=st.lists(TOML_VALUE, max_size=4),
    extras=st.dictionaries(st.sampled_from(["gpu", "dev", "a.b", "x y"]), TOML_VALUE, max_size=2),
    literal=st.booleans(),
    packages=st.lists(st.tuples(st.sampled_from(["torch", "xformers", "triton", "torchvision"]),
                                st.sampled_from(["2.3.0", "2.3.1", "0.0.27", "0.18.0", "bad version", ""])),
                      max_size=4),
    mangle=st.integers(0, 400),
    cut=st.booleans(),
)
def test_random_toml_never_raises(tmp_path_factory: pytest.TempPathFactory, deps: list[object],
                                  extras: dict[str, object], literal: bool, packages: list[tuple[str, str]],
                                  mangle: int, cut: bool) -> None:
    root = tmp_path_factory.mktemp("toml")
    pyproject = "[project]\nname = 'x'\ndependencies = " + _render_value(deps, literal) + "\n"
    pyproject += "[project.optional-dependencies]\n" + "".join(
        f"{_toml_string(k, False)} = {_render_value(v, literal)}\n" for k, v in extras.items())
    lock = "version = 1\n" + "".join(
        f"\n[[package]]\nname = \"{n}\"\nversion = \"{v}\"\n" for n, v in packages)
    pylock = 'lock-version = "1.0"\n' + "".join(
        f"\n[[packages]]\nname = \"{n}\"\nversion = \"{v}\"\n" for n, v in packages)
    files = {"pyproject.toml": pyproject, "uv.lock": lock, "pylock.toml": pylock}
    if cut:  # garble: drop everything after an arbitrary point
        files = {k: v[: mangle % (len(v) + 1)] for k, v in files.items()}
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    report = check_paths([str(root / n) for n in files], db=DB)
    _assert_placed(report, root)
    # Every string the locator finds in valid TOML spans exactly the token tomllib decodes.
    try:
        data = tomllib.loads(pyproject)
    except tomllib.TOMLDecodeError:
        return
    located = TomlLocator(pyproject)
    dependencies = data["project"]["dependencies"]
    for i, value in enumerate(dependencies):
        if isinstance(value, str):
            span = located.string(("project", "dependencies", i))
            assert span is not None
            assert tomllib.loads("v = " + pyproject[span.start:span.end])["v"] == value


# -------------------------------------------------------------- --fix

FIXABLE = st.sampled_from([
    "xformers==0.0.27", "triton==2.3.0", "torchvision==0.18.0", "torch[opt]==2.3.1",
    "xformers==0.0.27 ; sys_platform == 'linux'", "triton==2.3.0  # pinned",
])


@SETTINGS
@given(lines=st.lists(st.one_of(FIXABLE, LINE), min_size=1, max_size=10), ending=LINE_ENDINGS, final=st.booleans(),
       torch=st.sampled_from(["torch==2.3.1", "torch==2.3.0"]))
def test_fix_never_loses_a_line(tmp_path_factory: pytest.TempPathFactory, lines: list[str], ending: str,
                                final: bool, torch: str) -> None:
    root = tmp_path_factory.mktemp("fix")
    for name in ("requirements.txt", "constraints.txt"):
        path = root / name
        text = ending.join([torch, *lines]) + (ending if final else "")
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        before = path.read_bytes()
        report = check_paths([str(path)], db=DB)
        fix_files(report.findings, report.documents)
        after = path.read_bytes()
        # pip's lines: str.splitlines() (form feed, NEL, U+2028 ... end a line too)
        old = before.decode("utf-8", "surrogatepass").splitlines(keepends=True)
        new = after.decode("utf-8", "surrogatepass").splitlines(keepends=True)
        assert len(new) == len(old)
        edited = {f.line for f in report.findings if f.edit is not None and Path(f.path) == path}
        for number, (a, b) in enumerate(zip(old, new), start=1):
            # line endings never change; only lines with an applied edit change at all
            assert a[len(a.rstrip(PIP_LINE_BREAKS)):] == b[len(b.rstrip(PIP_LINE_BREAKS)):]
            if a != b:
                assert number in edited, (number, a, b)
