"""Every detect parser against captured real outputs (tests/fixtures/detect/SOURCES.md says where each came from)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnlock.detect.nvidia import (
    SMI_FIELDS,
    cuda_from_int,
    parse_gpu_information,
    parse_memory_mib,
    parse_nvml_json,
    parse_proc_version,
    parse_smi_banner,
    parse_smi_csv,
)
from attnlock.detect.packages import parse_cpp_lib_json
from attnlock.detect.torchfiles import abi_from_cmake, abi_from_init, parse_version_py
from attnlock.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "detect"
NVIDIA = FIXTURES / "nvidia"
TORCH = FIXTURES / "torch"


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ /proc

@pytest.mark.parametrize(
    ("fixture", "version"),
    [
        ("proc-version-384.98-proprietary.txt", "384.98"),
        ("proc-version-565.57.01-open.txt", "565.57.01"),
        ("proc-version-jetson-35.3.1.txt", "35.3.1"),
    ],
)
def test_proc_driver_version(fixture: str, version: str) -> None:
    assert parse_proc_version(text(NVIDIA / fixture)) == version


@pytest.mark.parametrize("garbage", ["", "hello\n", "NVRM version: NVIDIA UNIX x86_64 Kernel Module\n"])
def test_proc_driver_version_garbage_names_the_file(garbage: str) -> None:
    with pytest.raises(InputError) as info:
        parse_proc_version(garbage)
    assert info.value.path == "/proc/driver/nvidia/version"


def test_proc_gpu_information() -> None:
    info = parse_gpu_information(text(NVIDIA / "proc-gpu-information-gtx650.txt"), "information")
    assert info["Model"] == "GeForce GTX 650"
    assert info["Bus Location"] == "0000:04:00.0"
    with pytest.raises(InputError):
        parse_gpu_information("IRQ: 44\n", "information")


# ------------------------------------------------------------------ nvidia-smi

def test_smi_csv_with_header_two_gpus() -> None:
    rows = parse_smi_csv(text(NVIDIA / "smi-query-570.86.15-titanv-rtx5880.csv"), None)
    assert [(r["index"], r["name"], r["compute_cap"], r["driver_version"]) for r in rows] == [
        ("0", "NVIDIA TITAN V", "7.0", "570.86.15"),
        ("1", "NVIDIA RTX 5880 Ada Generation", "8.9", "570.86.15"),
    ]


def test_smi_csv_header_line_is_skipped_when_fields_are_known() -> None:
    rows = parse_smi_csv(text(NVIDIA / "smi-query-570.133.07-compute_cap.csv"), ("compute_cap",))
    assert rows == [{"compute_cap": "8.9"}]


def test_smi_invalid_field_message_is_garbage_for_the_full_query() -> None:
    with pytest.raises(InputError) as info:
        parse_smi_csv(text(NVIDIA / "smi-query-470.256.02-compute_cap-invalid.txt"), SMI_FIELDS)
    assert info.value.line == 1
    assert "expected 6" in info.value.message


def test_smi_csv_not_available_cells_become_none() -> None:
    # Format documented by `nvidia-smi --help-query-gpu`; values from the TITAN V capture.
    rows = parse_smi_csv("0, NVIDIA TITAN V, 7.0, 570.86.15, [N/A], 00000000:01:00.0\n")
    assert rows[0]["memory.total"] is None and rows[0]["pci.bus_id"] == "00000000:01:00.0"


@pytest.mark.parametrize(
    ("fixture", "driver", "cuda"),
    [
        ("smi-banner-580.126.09-a100.txt", "580.126.09", "13.0"),
        ("smi-banner-450.191.01.txt", "450.191.01", "11.3"),
        # nvidia-smi 470 inside a snap talking to a 580 driver: the banner's Driver Version is the driver.
        ("smi-banner-470.256.02-driver-580.95.05.txt", "580.95.05", "13.0"),
    ],
)
def test_smi_banner(fixture: str, driver: str, cuda: str) -> None:
    assert parse_smi_banner(text(NVIDIA / fixture)) == (driver, cuda)


def test_smi_banner_garbage() -> None:
    assert parse_smi_banner("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.") == (None, None)


def test_memory_and_cuda_integers() -> None:
    assert parse_memory_mib("81559 MiB") == 81559
    assert parse_memory_mib("lots") is None
    assert cuda_from_int(13000) == "13.0" and cuda_from_int(12080) == "12.8"


def test_nvml_json_shapes() -> None:
    assert parse_nvml_json('{"error": "NVML library not loadable"}')["error"]
    with pytest.raises(InputError):
        parse_nvml_json("Segmentation fault")
    with pytest.raises(InputError):
        parse_nvml_json('{"gpus": "H200"}')


# ------------------------------------------------------------------ torch/version.py

@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ("2.13.0-cpu", {"__version__": "2.13.0+cpu", "cuda": None, "hip": None, "rocm": None, "xpu": None,
                        "git_version": "cf30153c4c131c8164ee7798e5022d810682e2cb", "debug": False}),
        ("2.3.1-pypi-cu121", {"__version__": "2.3.1+cu121", "cuda": "12.1", "hip": None,
                              "git_version": "d44533f9d073df13895333e70b66f81c513c1889", "debug": False}),
        ("2.11.0-pypi-cu130", {"__version__": "2.11.0+cu130", "cuda": "13.0", "hip": None, "rocm": None,
                               "xpu": None, "git_version": "70d99e998b4955e0049d13a98d77ae1b14db1f45",
                               "debug": False}),
        ("rocm-2.3.0.dev20240308", {"__version__": "2.3.0.dev20240308+rocm6.0", "cuda": None,
                                    "hip": "6.0.32830-d62f6a171",
                                    "git_version": "55e93013211e3d9a52e259aee5df4f6198a3cdcc", "debug": False}),
    ],
)
def test_version_py(build: str, expected: dict[str, object]) -> None:
    assert parse_version_py(text(TORCH / build / "version.py.txt")) == expected


@pytest.mark.parametrize(
    ("corrupt", "line"),
    [
        ("__version__ = '2.13.0+cpu\n", 1),  # truncated mid-write
        ("from typing import Optional\n\n__version__ = \x00'2.1'\n", None),
        ("cuda: Optional[str] = None\n", None),  # no __version__
        ("__version__ = get_version()\n", None),  # not a literal
        ("", None),
    ],
)
def test_corrupt_version_py(corrupt: str, line: int | None) -> None:
    with pytest.raises(InputError) as info:
        parse_version_py(corrupt, "site/torch/version.py")
    assert info.value.path == "site/torch/version.py"
    if line is not None:
        assert info.value.line == line


@given(st.text(max_size=300))
def test_version_py_never_raises_anything_else(body: str) -> None:
    try:
        parse_version_py(body)
    except InputError:
        pass


# ------------------------------------------------------------------ C++11 ABI

@pytest.mark.parametrize(
    ("build", "from_init", "from_cmake"),
    [
        ("2.13.0-cpu", True, None),  # __init__.py: `return True`; TorchConfig.cmake sets no flag
        ("2.11.0-pypi-cu130", True, None),
        ("2.3.1-pypi-cu121", None, False),  # __init__.py asks _C; cmake: -D_GLIBCXX_USE_CXX11_ABI=0
    ],
)
def test_cxx11_abi_signals(build: str, from_init: bool | None, from_cmake: bool | None) -> None:
    assert abi_from_init(text(TORCH / build / "__init__.py.txt")) is from_init
    assert abi_from_cmake(text(TORCH / build / "TorchConfig.cmake")) is from_cmake


# ------------------------------------------------------------------ xformers cpp_lib.json

@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("cpp_lib-xformers-0.0.35-py39-none-manylinux_2_28_x86_64.json",
         {"torch": "2.10.0+cu128", "cuda": "12.8", "hip": None, "python": "3.10.19"}),
        ("cpp_lib-xformers-0.0.27-cp311-cp311-manylinux2014_x86_64.json",
         {"torch": "2.3.1+cu121", "cuda": "12.1", "hip": None, "python": "3.11.9"}),
    ],
)
def test_cpp_lib_json(fixture: str, expected: dict[str, str | None]) -> None:
    assert parse_cpp_lib_json(text(FIXTURES / fixture)) == expected


@pytest.mark.parametrize("bad", ["", "{", "[]", '{"version": 3}', '{"version": {"cuda": 1208}}'])
def test_cpp_lib_json_bad(bad: str) -> None:
    with pytest.raises(InputError):
        parse_cpp_lib_json(bad, "xformers/cpp_lib.json")


@given(st.text(max_size=200))
def test_smi_and_proc_parsers_only_raise_input_errors(body: str) -> None:
    for parse in (lambda t: parse_smi_csv(t), lambda t: parse_proc_version(t), lambda t: parse_cpp_lib_json(t)):
        try:
            parse(body)
        except InputError:
            pass
