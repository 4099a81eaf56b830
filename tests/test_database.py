"""The database loader, its query API, `db validate` on shipped and broken data, and the wheel."""

from __future__ import annotations

from attnlock.compat import Installed, model_for

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

from attnlock import database
from attnlock.cli import main
from attnlock.model import ComputeCapability, Platform, PythonVersion

ROOT = Path(__file__).resolve().parent.parent

CUDA_TOML = """
[[toolkit]]
version = "12.1"
linux_driver_min = "530.30.02"
windows_driver_min = "531.14"
linux_driver_min_compat = "525.60.13"
archs = ["sm_50", "sm_90"]
source = "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html"
checked = 2026-11-21

[[toolkit]]
version = "13.0"
linux_driver_min = "580.65.06"
windows_driver_min = "580.88"
linux_driver_min_compat = "580.65.06"
archs = ["sm_75", "sm_120"]
source = "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html"
checked = 2026-11-21
"""

GPUS_TOML = """
[[gpu]]
name = "Tesla T4"
aliases = ["T4"]
compute_capability = "7.5"
source = "https://developer.nvidia.com/cuda-gpus"
checked = 2026-11-21

[[gpu]]
name = "A100"
aliases = ["NVIDIA A100-SXM4-80GB"]
compute_capability = "8.0"
source = "https://developer.nvidia.com/cuda-gpus"
checked = 2026-11-21
"""

TORCH_TOML = """
[[variants]]
torch = ">=2.3.0,<2.4"
variants = ["cpu", "cu121"]
pypi = "cu121"
source = "https://github.com/pytorch/pytorch/blob/main/RELEASE.md"
checked = 2026-11-21
"""

FLASH_TOML = """
[[release]]
package = "flash-attn"
version = "2.6.3"
torch = ["2.3", "2.4"]
cuda = ["cu123"]
cxx11abi = [false, true]
python = ["cp310", "cp311"]
exclude = [{ torch = "2.4", python = "cp310" }]
url_template = "https://github.com/Dao-AILab/flash-attention/releases/download/v{version}/flash_attn-{version}+{cuda}torch{torch}cxx11abi{abi}-{python}-{python}-linux_x86_64.whl"
source = "https://github.com/Dao-AILab/flash-attention/blob/v2.6.3/.github/workflows/publish.yml"
checked = 2026-11-21
"""

KNOWN_BAD_TOML = """
[[combination]]
id = "unsloth-xformers-0.0.27-torch-2.3.1"
packages = { unsloth = "*", xformers = "==0.0.27", torch = "==2.3.1" }
reason = "dispatch failure"
error = "Multiple dispatch failed for 'torch._ops.aten.to.dtype_layout'"
fix = "pin xformers==0.0.26.post1 and torch==2.3.0"
evidence = "https://github.com/unslothai/unsloth/issues/0"
checked = 2026-11-21
"""


def _derived(package: str, releases: dict[str, object]) -> str:
    return json.dumps({"schema": 1, "package": package, "checked": "2026-11-21", "method": "test",
                       "releases": releases})


XFORMERS_JSON = _derived("xformers", {
    "0.0.27": {
        "yanked": False,
        "requires_python": ">=3.9",
        "files": {"xformers-0.0.27-cp310-cp310-manylinux2014_x86_64.whl": {"size": 1, "sha256": "ab"},
                  "xformers-0.0.27-cp311-cp311-win_amd64.whl": {"size": 1, "sha256": "cd"}},
        "metadata": [{"source": "xformers-0.0.27-cp310-cp310-manylinux2014_x86_64.whl",
                      "platforms": ["linux-x86_64", "windows-amd64"],
                      "requires_dist": ["numpy", "torch==2.3.1",
                                        "triton; platform_system == 'Linux' and extra == 'fast'"]}],
        "build_info": {"xformers-0.0.27-cp310-cp310-manylinux2014_x86_64.whl":
                       {"torch": "2.3.1+cu121", "cuda": "12.1", "python": "3.10.14"}},
    },
    "0.0.35": {
        "yanked": False,
        "requires_python": ">=3.9",
        "files": {"xformers-0.0.35-py39-none-manylinux_2_28_x86_64.whl": {"size": 1, "sha256": "ef"}},
        "metadata": [{"source": "xformers-0.0.35-py39-none-manylinux_2_28_x86_64.whl",
                      "platforms": ["linux-x86_64"], "requires_dist": ["torch>=2.10"]}],
    },
})


@pytest.fixture()
def fixture_db(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "curated").mkdir(parents=True)
    (root / "derived").mkdir()
    for name, text in [("cuda", CUDA_TOML), ("gpus", GPUS_TOML), ("torch", TORCH_TOML),
                       ("flash_attn", FLASH_TOML), ("known_bad", KNOWN_BAD_TOML)]:
        (root / "curated" / f"{name}.toml").write_text(text)
    (root / "derived" / "xformers.json").write_text(XFORMERS_JSON)
    return root


def test_fixture_database_is_valid(fixture_db: Path) -> None:
    assert database.load(fixture_db).validate() == []


def test_release_queries(fixture_db: Path) -> None:
    db = database.load(fixture_db)
    versions = [str(r.version) for r in db.releases("xformers")]
    assert versions == ["0.0.27", "0.0.35"]
    rel = db.release("xformers", "0.0.27")
    assert rel is not None
    linux, py310 = Platform.parse("linux-x86_64"), PythonVersion(3, 10)
    names = sorted(r.name for r in rel.requirements(linux, py310))
    assert names == ["numpy", "torch"]  # the extra-only triton is not a runtime requirement
    names = sorted(r.name for r in rel.requirements(linux, py310, extras=["fast"]))
    assert names == ["numpy", "torch", "triton"]
    assert str(rel.requirement_on("torch", linux, py310).specifier) == "==2.3.1"  # type: ignore[union-attr]
    assert rel.has_wheel_for(linux, py310)
    assert not rel.has_wheel_for(linux, PythonVersion(3, 12))
    assert rel.has_wheel_for(Platform.parse("windows-amd64"), PythonVersion(3, 11))
    assert not rel.has_wheel_for(Platform.parse("macos-arm64"), None)
    new = db.release("xformers", "0.0.35")
    assert new is not None and new.has_wheel_for(linux, PythonVersion(3, 13))  # py39-none: 3.9 and newer
    assert db.release("xformers", "0.0.27+cu121") is rel  # a local label names a build of the release
    assert rel.build_info["xformers-0.0.27-cp310-cp310-manylinux2014_x86_64.whl"]["torch"] == "2.3.1+cu121"


def test_curated_queries(fixture_db: Path) -> None:
    db = database.load(fixture_db)
    assert db.gpu("T4").compute_capability == ComputeCapability(7, 5)  # type: ignore[union-attr]
    assert db.gpu("NVIDIA A100-SXM4-80GB").compute_capability == ComputeCapability(8, 0)  # type: ignore[union-attr]
    assert db.gpu("NVIDIA A100 80GB PCIe").name == "A100"  # type: ignore[union-attr]
    assert db.gpu("sm_90").compute_capability == ComputeCapability(9, 0)  # type: ignore[union-attr]
    assert db.gpu("Quadro Nonexistent") is None
    assert db.cuda_max_for_driver(Version("535.104.05")) == Version("12.1")
    assert db.cuda_max_for_driver(Version("525.60.13")) is None
    assert db.cuda_max_for_driver(Version("525.60.13"), compat=True) == Version("12.1")
    assert db.cuda_max_for_driver(Version("580.95.05")) == Version("13.0")
    tv = db.torch_variants(Version("2.3.1+cu118"))
    assert tv is not None and tv.pypi is not None and tv.pypi.label == "cu121"
    assert [v.label for v in tv.index] == ["cpu", "cu121"]
    assert db.torch_variants(Version("2.5.0")) is None
    wheels = db.flash_attn_wheels("flash-attn", Version("2.6.3"))
    assert len(wheels) == 2 * 2 * 2 - 2  # torch × abi × python, minus the excluded (2.4, cp310) pair
    w = next(w for w in wheels if w.torch_minor == "2.3" and not w.cxx11abi and w.python == "cp310")
    assert w.url.endswith("/v2.6.3/flash_attn-2.6.3+cu123torch2.3cxx11abiFALSE-cp310-cp310-linux_x86_64.whl")
    (bad,) = model_for(db).known_bad()
    assert bad.judge({n: Installed(v) for n, v in ({"unsloth": Version("2024.8"), "xformers": Version("0.0.27"), "torch": Version("2.3.1")}).items()}) is not None
    assert not bad.judge({n: Installed(v) for n, v in ({"xformers": Version("0.0.27"), "torch": Version("2.3.1")}).items()}) is not None


BROKEN = [
    ("no-source", "curated/gpus.toml", "[[gpu]]\nname='T4'\ncompute_capability='7.5'\nchecked=2026-11-21\n",
     r"gpu\[0\].*no source"),
    ("bad-date", "curated/gpus.toml",
     "[[gpu]]\nname='T4'\ncompute_capability='7.5'\nsource='https://x'\nchecked='yesterday'\n", r"checked"),
    ("bad-toml", "curated/torch.toml", "[[variants]\n", r"does not parse as TOML"),
    ("overlap", "curated/torch.toml",
     "[[variants]]\ntorch='>=2.3,<2.5'\nvariants=['cpu']\nsource='https://x'\nchecked=2026-11-21\n"
     "[[variants]]\ntorch='>=2.4,<2.6'\nvariants=['cpu']\nsource='https://x'\nchecked=2026-11-21\n", r"overlap"),
    ("unsorted", "curated/torch.toml",
     "[[variants]]\ntorch='>=2.4,<2.5'\nvariants=['cpu']\nsource='https://x'\nchecked=2026-11-21\n"
     "[[variants]]\ntorch='>=2.3,<2.4'\nvariants=['cpu']\nsource='https://x'\nchecked=2026-11-21\n", r"not sorted"),
    ("unknown-cuda", "curated/torch.toml",
     "[[variants]]\ntorch='>=2.3,<2.4'\nvariants=['cu999']\nsource='https://x'\nchecked=2026-11-21\n",
     r"CUDA 99\.9, which cuda\.toml does not list"),
    ("bad-pattern", "curated/signatures.toml",
     "[[signature]]\nid='x'\npattern='xFormers (can.t'\nexample='x'\nevidence='https://x'\nchecked=2026-11-21\n",
     r"does not compile"),
    ("example-mismatch", "curated/signatures.toml",
     "[[signature]]\nid='x'\npattern='xFormers was built for'\nexample='something else'\n"
     "evidence='https://x'\nchecked=2026-11-21\n", r"does not match its own example"),
    ("bad-json", "derived/torch.json", "{", r"does not parse as JSON"),
    ("unsorted-versions", "derived/torch.json",
     _derived("torch", {"2.4.0": {"files": {}}, "2.3.1": {"files": {}}}), r"ascending"),
    ("host-named", "derived/torch.json",
     _derived("torch", {"2.3.1": {"files": {}, "url": "https://files." + "python" + "hosted" + ".org/x"}}),
     r"registry host"),
    ("bad-requirement", "derived/torch.json",
     _derived("torch", {"2.3.1": {"files": {"t.whl": {}}, "metadata": [
         {"source": "t.whl", "platforms": [], "requires_dist": ["triton >=>= 1"]}]}}), r"malformed requirement"),
    ("wrong-package", "derived/torch.json", _derived("xformers", {}), r"does not match the file name"),
    ("pypi-by-platform-no-provenance", "curated/torch.toml",
     "[[variants]]\ntorch='>=2.3,<2.4'\nvariants=['cpu']\npypi_by_platform={ 'windows-amd64'='cpu' }\n"
     "source='https://x'\nchecked=2026-11-21\n", r"needs pypi_by_platform_source"),
    ("pypi-by-platform-bad-label", "curated/torch.toml",
     "[[variants]]\ntorch='>=2.3,<2.4'\nvariants=['cpu']\npypi_by_platform={ 'windows-amd64'='gpu' }\n"
     "pypi_by_platform_source=['t.whl']\npypi_by_platform_checked=2026-12-04\nsource='https://x'\nchecked=2026-11-21\n",
     r"unknown variant label 'gpu'"),
    ("matrix-unknown-with-facts", "curated/flash_attn.toml",
     "[[release]]\npackage='flash-attn'\nversion='2.8.3.post2'\nmatrix='unknown'\ntorch=['2.9']\n"
     "source='https://x'\nchecked=2026-12-04\n", r"matrix = \"unknown\" lists no wheel facts"),
    ("known-bad-no-evidence", "curated/known_bad.toml",
     "[[combination]]\nid='x'\npackages={ torch='==2.3.1' }\nsource='https://x'\nchecked=2026-11-21\n",
     r"needs evidence"),
]


@pytest.mark.parametrize(("case", "relpath", "text", "expect"), BROKEN, ids=[b[0] for b in BROKEN])
def test_validate_names_file_key_and_problem(fixture_db: Path, case: str, relpath: str, text: str,
                                             expect: str) -> None:
    (fixture_db / relpath).write_text(text)
    problems = database.Database(fixture_db).validate()
    assert problems, case
    rendered = "\n".join(str(p) for p in problems)
    assert re.search(expect, rendered), rendered
    assert all(p.file.startswith("data/") for p in problems)


def test_db_validate_cli_exit_codes(fixture_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "--data-dir", str(fixture_db), "validate"]) == 0
    (fixture_db / "curated" / "gpus.toml").write_text("[[gpu]]\nname='T4'\n")
    assert main(["db", "--data-dir", str(fixture_db), "validate", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["problems"] and out["problems"][0]["file"] == "data/curated/gpus.toml"


def test_db_show_cli(fixture_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "--data-dir", str(fixture_db), "show", "xformers", "0.0.27", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == "0.0.27"
    assert doc["wheels_by_platform"]["linux-x86_64"] == ["cp310"]
    assert doc["known_bad"][0]["id"] == "unsloth-xformers-0.0.27-torch-2.3.1"
    assert main(["db", "--data-dir", str(fixture_db), "show", "xformers"]) == 0
    text = capsys.readouterr().out
    assert "0.0.27" in text and "torch==2.3.1" in text and "built for torch 2.3.1+cu121" in text
    assert main(["db", "--data-dir", str(fixture_db), "show", "nosuchpackage"]) == 2
    assert "knows nothing about 'nosuchpackage'" in capsys.readouterr().err
    assert main(["db", "--data-dir", str(fixture_db), "show", "xformers", "9.9.9"]) == 2


# ------------------------------------------------------------------ the shipped data


def test_shipped_database_validates() -> None:
    db = database.load(ROOT / "data")
    problems = db.validate()
    assert problems == [], "\n".join(map(str, problems))
    for name in ("torch", "xformers", "triton", "torchvision", "torchaudio", "jax", "jaxlib", "unsloth"):
        assert db.releases(name), f"data/derived has no releases of {name}"
    for stem in ("cuda", "gpus", "torch", "kernels", "flash_attn", "xformers", "known_bad", "signatures"):
        assert stem in db.curated_files(), f"data/curated/{stem}.toml is missing"


def test_shipped_facts_that_were_checked_by_hand() -> None:
    """Facts established on real machines (shared FACTS.md) must hold in the shipped data."""
    db = database.load(ROOT / "data")
    x35 = db.release("xformers", "0.0.35")
    assert x35 is not None
    assert str(x35.requirement_on("torch").specifier) == ">=2.10"  # type: ignore[union-attr]
    assert any(str(info.get("torch")) == "2.10.0+cu128" for info in x35.build_info.values())
    x27 = db.release("xformers", "0.0.27")
    assert x27 is not None and str(x27.requirement_on("torch").specifier) == "==2.3.1"  # type: ignore[union-attr]
    x26 = db.release("xformers", "0.0.26.post1")
    assert x26 is not None and str(x26.requirement_on("torch").specifier) == "==2.3.0"  # type: ignore[union-attr]
    t211 = db.release("torch", "2.11.0")
    assert t211 is not None and t211.requirement_on("cuda-toolkit") is not None


def test_no_registry_host_in_repository() -> None:
    """The package index comes from configuration; no registry host is written anywhere."""
    # Spelled in pieces so that this file does not name what it forbids.
    pattern = re.compile("|".join(re.escape(h) for h in ("pypi" + ".org", "python" + "hosted" + ".org", "test" + ".pypi")))
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for rel in files:
        path = ROOT / rel
        try:
            text = path.read_text(encoding="utf-8", errors="ignore")
        except (IsADirectoryError, FileNotFoundError):
            continue
        if pattern.search(text):
            offenders.append(rel)
    assert offenders == []


@pytest.mark.slow
def test_wheel_ships_data_and_loads_it(tmp_path: Path) -> None:
    """The built wheel carries data/ as attnlock/data, and an installed copy loads it."""
    pytest.importorskip("hatchling")
    out = tmp_path / "dist"
    env = dict(os.environ)
    env.pop("ATTNLOCK_DATA_DIR", None)
    scratch = tmp_path / "tmp"  # the build's temporary files: the compiled entries' directory is removed
    scratch.mkdir()
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, env={**env, "TMPDIR": str(scratch)}, timeout=300)
    assert [p.name for p in scratch.iterdir() if p.name.startswith("attnlock-compiled-")] == []
    (wheel,) = out.glob("attnlock-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    assert "attnlock/data/SCHEMA.md" in names
    assert any(n.startswith("attnlock/data/derived/") and n.endswith(".json") for n in names)
    assert "attnlock/data/curated/cuda.toml" in names
    # The compiled database ships too: one entry per data file.
    shipped = {n for n in names if n.startswith("attnlock/data/.compiled/")}
    assert len(shipped) == len([n for n in names if re.fullmatch(r"attnlock/data/(derived|curated)/[^/]+\.(json|toml)", n)])
    # Extracting gave every file a new mtime (as installing does): the shipped entries are used after
    # one check of the sources' content (parsing is made impossible here), then from the user's cache.
    code = ("import attnlock.database as d, attnlock.database.store as s, sys\n"
            "def refuse(raw): raise AssertionError('parsed a source: the shipped entry was not used')\n"
            "s.parse_derived = s.parse_toml = refuse\n"
            "db = d.load(); assert str(db.root).startswith(sys.argv[1]), db.root\n"
            "n = len(db.releases('torch')); [db.releases(p) for p in db.packages()]\n"
            "[db.curated_raw(c) for c in db.curated_files()]\n"
            "import importlib; importlib.reload(s); assert d.Database(db.root).validate() == []; print(n)")
    cache = tmp_path / "xdg"
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site")], capture_output=True, text=True,
                         env={**env, "PYTHONPATH": str(tmp_path / "site"), "XDG_CACHE_HOME": str(cache)},
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout) > 20
    assert len(list((cache / "attnlock" / "db").glob("*/*.m"))) == len(shipped)  # re-stamped into the cache


def test_known_bad_unless_excuses_the_combination() -> None:
    """xformers 0.0.35 + flash-attn-4 breaks `import xformers.ops` unless flash-attn 2 is installed too."""
    db = database.load(ROOT / "data")
    (kb,) = [k for k in model_for(db).known_bad() if k.id == "xformers-flash-attn-4-namespace"]
    broken = {"xformers": Version("0.0.35"), "flash-attn-4": Version("4.0.0b36")}
    assert kb.judge({n: Installed(v) for n, v in broken.items()}) is not None
    assert not kb.judge({n: Installed(v) for n, v in ({**broken, "flash-attn": Version("2.8.3")}).items()}) is not None
    assert kb.excused({**broken, "flash-attn": Version("2.8.3")})
