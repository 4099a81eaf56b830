"""The diagnosis port over attnlock.database: a hermetic database in tmp_path, then the shipped one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from attnlock.database import load
from attnlock.diagnose import diagnose
from attnlock.diagnose.database_source import DatabaseSource, source_for

LOGS = Path(__file__).parent / "fixtures" / "logs"

TORCH_TOML = """
[index]
url_template = "https://download.pytorch.org/whl/{variant}"
source = "https://example.invalid/torch"
checked = "2026-11-21"

[[variants]]
torch = ">=2.4.0,<2.5"
variants = ["cu118", "cu121", "cu124"]
pypi = "cu121"
source = "https://example.invalid/variants"
checked = "2026-11-21"

[[abi]]
torch = ">=1.13.0,<2.7"
platform = "linux-x86_64"
index = "pypi"
cxx11abi = false
source = "https://example.invalid/abi"
checked = "2026-11-21"
"""

XFORMERS_TOML = """
[[index_builds]]
xformers = "0.0.26.post1"
torch = "2.3.0"
variants = ["cu118", "cu121"]
pypi = "cu121"
torch_requirement = "==2.3.0"
source = ["https://example.invalid/xformers/v0.0.26.post1"]
checked = "2026-11-21"

[[index_builds]]
xformers = "0.0.27"
torch = "2.3.1"
variants = ["cu118", "cu121"]
pypi = "cu121"
torch_requirement = "==2.3.1"
source = ["https://example.invalid/xformers/v0.0.27"]
checked = "2026-11-21"
"""

FLASH_TOML = """
[[release]]
package = "flash-attn"
version = "2.6.3"
torch = ["2.3", "2.4"]
cuda = ["cu118", "cu123"]
cxx11abi = [true, false]
python = ["cp310"]
platforms = ["linux-x86_64"]
url_template = "https://github.com/Dao-AILab/flash-attention/releases/download/v{version}/flash_attn-{version}+{cuda}torch{torch}cxx11abi{abi}-{python}-{python}-linux_x86_64.whl"
source = "https://example.invalid/flash"
checked = "2026-11-21"
"""


def _derived_xformers() -> dict[str, object]:
    def release(version: str, torch: str, wheel: str) -> dict[str, object]:
        return {
            "yanked": False,
            "requires_python": ">=3.9",
            "files": {wheel: {"size": 1, "sha256": "0" * 64}},
            "metadata": [{"source": wheel, "platforms": ["linux-x86_64"], "requires_python": ">=3.9",
                          "requires_dist": ["numpy", f"torch=={torch.split('+')[0]}"]}],
            "build_info": {wheel: {"torch": torch, "cuda": "12.1", "python": "3.10.14"}},
        }

    return {
        "schema": 1, "package": "xformers", "checked": "2026-11-21", "method": "test",
        "releases": {
            "0.0.26.post1": release("0.0.26.post1", "2.3.0+cu121", "xformers-0.0.26.post1-cp310-cp310-manylinux2014_x86_64.whl"),
            "0.0.27": release("0.0.27", "2.3.1+cu121", "xformers-0.0.27-cp310-cp310-manylinux2014_x86_64.whl"),
            "0.0.28.dev1": release("0.0.28.dev1", "2.3.1+cu121", "xformers-0.0.28.dev1-cp310-cp310-manylinux2014_x86_64.whl"),
        },
    }


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "curated").mkdir(parents=True)
    (root / "derived").mkdir()
    (root / "curated" / "torch.toml").write_text(TORCH_TOML)
    (root / "curated" / "xformers.toml").write_text(XFORMERS_TOML)
    (root / "curated" / "flash_attn.toml").write_text(FLASH_TOML)
    (root / "derived" / "xformers.json").write_text(json.dumps(_derived_xformers()))
    return root


def test_builds_merge_wheel_build_info_and_index_records(db_dir: Path) -> None:
    src = DatabaseSource(load(db_dir))
    builds = src.xformers_builds_for_torch(Version("2.3.1"))
    # Final releases first; the default-index build comes from the wheel's own build info.
    assert [(str(b.xformers), str(b.torch), b.variant) for b in builds][:3] == [
        ("0.0.27", "2.3.1+cu121", None), ("0.0.27", "2.3.1+cu118", "cu118"), ("0.0.27", "2.3.1+cu121", "cu121")]
    assert builds[0].source == "xformers-0.0.27-cp310-cp310-manylinux2014_x86_64.whl"
    assert builds[1].index_url == "https://download.pytorch.org/whl/cu118"
    assert str(builds[-1].xformers) == "0.0.28.dev1"
    assert src.requirements("xformers", Version("0.0.27")) is not None
    assert src.index_url("cu124") == "https://download.pytorch.org/whl/cu124"
    assert src.torch_cxx11abi(Version("2.3.1")) is False
    assert src.torch_cxx11abi(Version("2.9.0")) is None  # not recorded: unknown, not guessed
    assert src.flash_attn_min_capability() is None  # no [[requirement]] records: unknown


def test_shipped_flash_attn_floor_comes_from_data() -> None:
    assert DatabaseSource(load()).flash_attn_min_capability() == (8, 0)


def test_fix_from_hermetic_database(db_dir: Path) -> None:
    text = (LOGS / "pip-conflict-local-index.log").read_text()
    (d,) = diagnose(text, db=load(db_dir))
    assert "keep torch==2.3.0 and pin xformers==0.0.26.post1" in d.fix
    text = (LOGS / "flash-attn-undefined-symbol-cxx11.log").read_text()
    from attnlock.model import Platform, PythonVersion, Target
    from attnlock.model import parse_specifier

    target = Target(torch=parse_specifier("==2.4.0"), python=PythonVersion(3, 10), platform=Platform("linux", "x86_64"),
                    origins=(("torch", "flag"),))
    (d,) = diagnose(text, target=target, db=load(db_dir))
    assert d.fix.endswith("flash_attn-2.6.3+cu123torch2.4cxx11abiFALSE-cp310-cp310-linux_x86_64.whl")


def test_missing_database_files_mean_unknown(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    (root / "curated").mkdir(parents=True)
    src = DatabaseSource(load(root))
    assert src.xformers_builds_for_torch(Version("2.3.0")) == []
    assert src.index_url("cu121") is None
    assert src.flash_attn_wheels() == []
    (d,) = diagnose((LOGS / "xformers-built-for-2.2.0-vs-2.3.0.log").read_text(), db=load(root))
    assert "no xformers release in the database was built for torch 2.3.0+cu121" in d.fix
    assert "https://" not in d.fix  # no index URL without the database's template


def test_a_port_is_used_as_is() -> None:
    class Port:
        def xformers_builds_for_torch(self, torch: Version) -> list[object]:
            return []

    port = Port()
    assert source_for(port) is port


# The shipped database: the seed failures get the fixes the issue asks for.

def test_shipped_database_built_for_2_2_0_on_2_3_0() -> None:
    (d,) = diagnose((LOGS / "xformers-built-for-2.2.0-vs-2.3.0.log").read_text())
    # The fix is the resolver's plan for the torch the log names (one model with generate).
    assert d.fix.startswith("install the plan for torch 2.3.0+cu121: ")
    assert {"torch==2.3.0", "xformers==0.0.26.post1"} <= set(d.pins)
    assert any(c.startswith("pip install ") and "xformers==0.0.26.post1" in c for c in d.commands)


def test_shipped_database_seed_0_0_35_on_2_11() -> None:
    (d,) = diagnose((LOGS / "xformers-built-for-0.0.35-h200.log").read_text())
    # xformers 0.0.35 is on the stable ABI: torch 2.11 is no cause, the CUDA 12 runtime is.
    assert "torch 2.11.0 is not the problem" in d.cause and "links the CUDA 12 runtime" in d.cause
    assert "xformers==0.0.35" in d.pins and "https://download.pytorch.org/whl/cu130" in d.indexes
    assert "nvidia-cuda-runtime-cu12 on LD_LIBRARY_PATH" in d.fix


def test_shipped_database_unsloth_conflict_pins_both() -> None:
    (d,) = diagnose((LOGS / "pip-conflict-local-index.log").read_text())
    assert {"torch==2.3.0", "xformers==0.0.26.post1"} <= set(d.pins)  # the resolver's plan: both move
    assert any(c.startswith("pip install torch==2.3.0 xformers==0.0.26.post1") for c in d.commands)


def test_shipped_database_built_for_2_2_1_on_2_3_0() -> None:
    # The text of issue 6 (not a captured log): the fix comes from the build info, not from guessing.
    text = ("xFormers can't load C++/CUDA extensions. xFormers was built for:\n"
            "    PyTorch 2.2.1+cu121 with CUDA 1201 (you have 2.3.0+cu121)\n")
    (d,) = diagnose(text)
    assert d.fix.startswith("install the plan for torch 2.3.0+cu121: ") and "xformers==0.0.26.post1" in d.pins
    assert "or pin torch==2.2.1+cu121 to keep this xformers" in d.fix


def test_adapter_is_reused_for_the_same_database() -> None:
    db = load()
    assert source_for(db) is source_for(db)


def test_the_log_wins_over_a_detected_torch_but_not_over_a_flag() -> None:
    from attnlock.model import Target, parse_specifier

    text = (LOGS / "xformers-built-for-2.2.0-vs-2.3.0.log").read_text()
    detected = Target(torch=parse_specifier("==2.3.1+cu121"), origins=(("torch", "detected"),))
    (d,) = diagnose(text, target=detected)
    assert "the plan for torch 2.3.0+cu121" in d.fix  # the log's "you have 2.3.0+cu121"
    flagged = Target(torch=parse_specifier("==2.3.1+cu121"), origins=(("torch", "flag"),))
    (d,) = diagnose(text, target=flagged)
    assert "the plan for torch 2.3.1+cu121" in d.fix  # the user asked to move to 2.3.1
