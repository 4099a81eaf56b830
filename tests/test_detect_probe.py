"""Detection end to end over ports: a fake filesystem root, an environ dict, a runner replaying outputs — no patching.

Command outputs replayed here are the captured ones of tests/fixtures/detect
where one exists; outputs reconstructed from a documented format say so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from attnlock.commands.detect import render_text
from attnlock.detect import detect
from attnlock.detect.catalog import CatalogUnavailable
from attnlock.detect.nvidia import NVML_CHILD
from attnlock.detect.ports import CommandResult, Ports, subprocess_runner
from attnlock.detect.report import Environment
from attnlock.target import target_from_args

FIXTURES = Path(__file__).parent / "fixtures" / "detect"
NVIDIA = FIXTURES / "nvidia"
TORCH = FIXTURES / "torch"
SMI_QUERY = "--query-gpu=index,name,compute_cap,driver_version,memory.total,pci.bus_id"


class Replay:
    """A command runner answering from a table keyed by (program name, first argument)."""

    def __init__(self, answers: Mapping[tuple[str, str], CommandResult]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> CommandResult:
        self.calls.append(tuple(argv))
        if Path(argv[-1]).name == NVML_CHILD.name:
            key = ("nvml", "")
        else:
            key = (Path(argv[0]).name, argv[1] if len(argv) > 1 else "")
        if key not in self.answers:
            raise AssertionError(f"unexpected command {argv}")
        return self.answers[key]


class FakeCatalog:
    def __init__(self, gpus: Mapping[str, str] | None = None, cuda: Mapping[str, str] | None = None,
                 broken: bool = False) -> None:
        self.gpus, self.cuda, self.broken = dict(gpus or {}), dict(cuda or {}), broken
        self.asked: list[str] = []

    def gpu_capability(self, name: str) -> tuple[str, str] | None:
        self.asked.append(name)
        if self.broken:
            raise CatalogUnavailable("data/curated/gpus.toml: not written yet")
        return (self.gpus[name], "fake gpus.toml") if name in self.gpus else None

    def cuda_max_for_driver(self, driver: str, os_name: str) -> tuple[str, str] | None:
        self.asked.append(driver)
        if self.broken:
            raise CatalogUnavailable("data/curated/cuda.toml: not written yet")
        return (self.cuda[driver], "fake cuda.toml") if driver in self.cuda else None


def machine(tmp_path: Path, *, proc: str | None = None, smi: bool = False) -> tuple[Path, Path, Path]:
    """(root, site-packages, bin) of a fake machine; ``proc`` is a fixture for /proc/driver/nvidia/version."""
    root, site, bin_dir = tmp_path / "root", tmp_path / "site", tmp_path / "bin"
    for d in (root, site, bin_dir):
        d.mkdir()
    if proc is not None:
        target = root / "proc/driver/nvidia/version"
        target.parent.mkdir(parents=True)
        shutil.copy(NVIDIA / proc, target)
    if smi:
        exe = bin_dir / "nvidia-smi"
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return root, site, bin_dir


def install_torch(site: Path, build: str, dist_version: str) -> None:
    pkg = site / "torch"
    (pkg / "share/cmake/Torch").mkdir(parents=True)
    shutil.copy(TORCH / build / "version.py.txt", pkg / "version.py")
    if (TORCH / build / "__init__.py.txt").exists():
        shutil.copy(TORCH / build / "__init__.py.txt", pkg / "__init__.py")
        shutil.copy(TORCH / build / "TorchConfig.cmake", pkg / "share/cmake/Torch/TorchConfig.cmake")
    else:
        (pkg / "__init__.py").write_text("")
    info = site / f"torch-{dist_version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {dist_version}\n")


def install_dist(site: Path, name: str, version: str, *, metadata: str | None = "") -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    if metadata is not None:
        (info / "METADATA").write_text(metadata or f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


def run(tmp_path: Path, root: Path, site: Path, bin_dir: Path, runner: object = None, *,
        environ: Mapping[str, str] | None = None, catalog: FakeCatalog | None = None,
        timeout: float = 3.0, executable: str = sys.executable) -> Environment:
    env = {"PATH": str(bin_dir), **(environ or {})}
    ports = Ports(root=root, environ=env, run=runner or Replay({}), sys_path=(str(site),),  # type: ignore[arg-type]
                  executable=executable, timeout=timeout)
    return detect(ports, catalog=catalog or FakeCatalog(), sys_platform="linux", machine="x86_64")


def unknown_facts(env: Environment) -> dict[str, str]:
    return {u.fact: u.reason for u in env.unknown}


# ------------------------------------------------------------------ ordinary states

def test_cpu_only_machine_starts_no_process(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    runner = Replay({})
    env = run(tmp_path, root, site, bin_dir, runner)
    assert env.driver is None and env.gpus == () and env.torch is None
    assert runner.calls == []
    assert "no NVIDIA driver" in env.gpus_source
    doc = env.to_json()
    assert doc["torch"] is None and doc["driver"] is None and doc["gpus"] == []


def test_torch_231_from_pypi_reports_the_label_and_the_old_abi(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    install_torch(site, "2.3.1-pypi-cu121", "2.3.1")
    env = run(tmp_path, root, site, bin_dir)
    assert env.torch is not None
    assert (env.torch.version, env.torch.dist_version, env.torch.cuda) == ("2.3.1+cu121", "2.3.1", "12.1")
    assert env.torch.cxx11abi is False
    assert env.torch.cxx11abi_source is not None and env.torch.cxx11abi_source.endswith("TorchConfig.cmake")
    assert env.packages["torch"].version == "2.3.1"


def test_rocm_torch_without_abi_files(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    install_torch(site, "rocm-2.3.0.dev20240308", "2.3.0.dev20240308+rocm6.0")
    env = run(tmp_path, root, site, bin_dir)
    assert env.torch is not None and env.torch.hip == "6.0.32830-d62f6a171" and env.torch.cuda is None
    assert env.torch.cxx11abi is None
    assert "torch cxx11abi" in unknown_facts(env)


# ------------------------------------------------------------------ NVIDIA probe order

NVML_H200 = json.dumps({  # reconstructed: _nvml_child.py's shape with the H200 host's facts (shared/FACTS.md)
    "driver": "580.159.04", "cuda_driver": 13000,
    "gpus": [{"index": 0, "name": "NVIDIA H200", "compute_capability": [9, 0], "memory_mib": 143771,
              "pci_bus_id": "00000000:19:00.0"}],
})


def test_proc_then_nvml_answers_everything(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-565.57.01-open.txt", smi=True)
    runner = Replay({("nvml", ""): CommandResult(0, NVML_H200)})
    catalog = FakeCatalog()
    env = run(tmp_path, root, site, bin_dir, runner, catalog=catalog)
    assert env.driver is not None
    # /proc answered first for the driver; NVML gave the CUDA max and the GPUs.
    assert (env.driver.version, env.driver.source) == ("565.57.01", "/proc/driver/nvidia/version")
    assert (env.driver.cuda_max, env.driver.cuda_max_source) == ("13.0", "NVML nvmlSystemGetCudaDriverVersion_v2")
    assert [(g.name, g.compute_capability, g.memory_mib) for g in env.gpus] == [("NVIDIA H200", "9.0", 143771)]
    assert len(runner.calls) == 1 and catalog.asked == []
    assert env.unknown == ()


def test_nvml_missing_falls_back_to_smi_and_its_banner(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-384.98-proprietary.txt", smi=True)
    # Reconstructed in attnlock's column order from the captured TITAN V / RTX 5880 rows (570.86.15).
    csv = ("0, NVIDIA TITAN V, 7.0, 570.86.15, 12288 MiB, 00000000:01:00.0\n"
           "1, NVIDIA RTX 5880 Ada Generation, 8.9, 570.86.15, 49140 MiB, 00000000:02:00.0\n")
    runner = Replay({
        ("nvml", ""): CommandResult(0, '{"error": "NVML library not loadable (libnvidia-ml.so.1: cannot open)"}'),
        ("nvidia-smi", SMI_QUERY): CommandResult(0, csv),
        ("nvidia-smi", ""): CommandResult(0, (NVIDIA / "smi-banner-580.126.09-a100.txt").read_text()),
    })
    env = run(tmp_path, root, site, bin_dir, runner)
    assert env.driver is not None and env.driver.version == "384.98"  # /proc first
    assert env.driver.cuda_max == "13.0" and "banner" in (env.driver.cuda_max_source or "")
    assert [(g.ordinal, g.compute_capability, g.memory_mib) for g in env.gpus] == [(0, "7.0", 12288), (1, "8.9", 49140)]
    assert env.gpus_source == "nvidia-smi --query-gpu"
    assert "NVML library not loadable" in unknown_facts(env)["nvml"]


def test_old_smi_without_compute_cap_is_asked_again_and_the_database_fills_in(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, smi=True)
    invalid = (NVIDIA / "smi-query-470.256.02-compute_cap-invalid.txt").read_text()
    calls: list[tuple[str, ...]] = []

    def runner(argv: Sequence[str], timeout: float) -> CommandResult:
        calls.append(tuple(argv))
        if Path(argv[-1]).name == NVML_CHILD.name:
            return CommandResult(None, error="python timed out after 3 s")
        if len(argv) == 1:
            return CommandResult(0, (NVIDIA / "smi-banner-450.191.01.txt").read_text())
        if "compute_cap" in argv[1]:
            return CommandResult(2, invalid)  # captured: exit status 2, message on stdout
        return CommandResult(0, "0, Tesla T4, 470.256.02, 15360 MiB, 00000000:00:04.0\n")

    catalog = FakeCatalog(gpus={"Tesla T4": "7.5"})
    env = run(tmp_path, root, site, bin_dir, runner, catalog=catalog)
    assert calls[2] == ("%s" % (bin_dir / "nvidia-smi"),
                        "--query-gpu=index,name,driver_version,memory.total,pci.bus_id", "--format=csv,noheader")
    assert env.driver is not None and env.driver.version == "470.256.02"
    assert env.gpus[0].compute_capability == "7.5" and env.gpus[0].compute_capability_source == "fake gpus.toml"
    assert env.driver.cuda_max == "11.3"
    assert "timed out" in unknown_facts(env)["nvml"]


def test_garbage_csv_is_an_unknown_not_a_traceback(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-565.57.01-open.txt", smi=True)
    runner = Replay({
        ("nvml", ""): CommandResult(139, "", "Segmentation fault"),
        ("nvidia-smi", SMI_QUERY): CommandResult(0, "\x00\x01 garbage ;;; not csv\n"),
    })
    env = run(tmp_path, root, site, bin_dir, runner, catalog=FakeCatalog(cuda={"565.57.01": "12.7"}))
    facts = unknown_facts(env)
    assert "expected 6 comma-separated values" in facts["nvidia-smi"]
    assert "exit status 139" in facts["nvml"]
    assert env.driver is not None and env.driver.version == "565.57.01"
    assert (env.driver.cuda_max, env.driver.cuda_max_source) == ("12.7", "fake cuda.toml")
    assert "gpus" in facts  # a driver without a GPU list is reported, not hidden


def test_smi_that_cannot_talk_to_the_driver(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, smi=True)
    message = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
               "Make sure that the latest NVIDIA driver is installed and running.\n")
    runner = Replay({("nvml", ""): CommandResult(0, '{"error": "nvmlInit: Driver Not Loaded (9)"}'),
                     ("nvidia-smi", SMI_QUERY): CommandResult(9, message)})
    env = run(tmp_path, root, site, bin_dir, runner)
    assert env.driver is None and env.gpus == ()
    assert unknown_facts(env)["nvidia-smi"].startswith("exit status 9: NVIDIA-SMI has failed")


def test_hanging_nvidia_smi_and_nvml_are_cut_at_the_timeout(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-565.57.01-open.txt")
    for name in ("nvidia-smi", "python-hangs"):
        script = bin_dir / name
        script.write_text("#!/bin/sh\nexec sleep 30\n")
        script.chmod(0o755)
    start = time.monotonic()
    env = run(tmp_path, root, site, bin_dir, subprocess_runner, timeout=0.5,
              executable=str(bin_dir / "python-hangs"))
    elapsed = time.monotonic() - start
    facts = unknown_facts(env)
    assert "timed out after 0.5 s" in facts["nvml"]
    assert "timed out after 0.5 s" in facts["nvidia-smi"]
    assert elapsed < 5, elapsed
    assert env.driver is not None and env.driver.version == "565.57.01"


def test_hanging_nvidia_smi_without_a_driver_file_leaves_gpus_unknown_for_the_real_reason(tmp_path: Path) -> None:
    """No /proc file, NVML finds no library, nvidia-smi on PATH hangs: never "none … not on PATH"."""
    root, site, bin_dir = machine(tmp_path)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\nexec sleep 30\n")
    smi.chmod(0o755)
    child = bin_dir / "python-nvml-missing"  # what _nvml_child.py prints where libnvidia-ml is absent
    child.write_text("#!/bin/sh\necho '{\"error\": \"libnvidia-ml.so.1: cannot open shared object file\"}'\n")
    child.chmod(0o755)
    env = run(tmp_path, root, site, bin_dir, subprocess_runner, timeout=0.5, executable=str(child))
    facts = unknown_facts(env)
    assert facts["nvidia-smi"] == "nvidia-smi timed out after 0.5 s"
    assert env.gpus == ()
    assert "not on PATH" not in env.gpus_source and "timed out after 0.5 s" in env.gpus_source
    assert "timed out after 0.5 s" in facts["gpus"] and "timed out after 0.5 s" in facts["driver"]
    assert env.driver is not None and env.driver.version is None  # present or not: not established
    text = render_text(env)
    gpus_line = next(line for line in text.splitlines() if line.startswith("GPUs"))
    assert gpus_line.split()[1] == "unknown" and gpus_line.endswith("not established: nvidia-smi timed out after 0.5 s")
    assert "not on PATH" not in text
    # Planning treats it as "any GPU", not as "no GPU".
    target = target_from_args(argparse.Namespace(torch=None, cuda=None, python=None, platform=None, gpu=None,
                                                 driver=None), environ={}, detected=env)
    assert target.origin("gpu") is None and target.gpu is None


def test_no_driver_names_only_the_checks_made(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, smi=True)
    message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
    runner = Replay({("nvml", ""): CommandResult(0, '{"error": "nvmlInit: Driver Not Loaded (9)"}'),
                     ("nvidia-smi", SMI_QUERY): CommandResult(9, message)})
    env = run(tmp_path, root, site, bin_dir, runner)
    assert env.driver is None and env.gpus == ()
    assert env.gpus_source == ("no NVIDIA driver found (/proc/driver/nvidia/version absent; "
                               "NVML: nvmlInit: Driver Not Loaded (9); nvidia-smi: exit status 9: "
                               "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.)")
    other = tmp_path / "cpu-only"
    other.mkdir()
    cpu_only = run(other, *machine(other))
    assert cpu_only.gpus_source == "no NVIDIA driver found (/proc/driver/nvidia/version absent; nvidia-smi not on PATH)"


def test_unreadable_proc_file(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    (root / "proc/driver/nvidia/version").mkdir(parents=True)  # a directory: reading it fails
    runner = Replay({("nvml", ""): CommandResult(0, '{"error": "NVML library not loadable"}')})
    env = run(tmp_path, root, site, bin_dir, runner)
    assert "/proc/driver/nvidia/version" in unknown_facts(env)["driver"]
    assert env.driver is not None and env.driver.version is None


def test_proc_gpu_information_is_the_last_resort(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-384.98-proprietary.txt")
    info = root / "proc/driver/nvidia/gpus/0000:04:00.0/information"
    info.parent.mkdir(parents=True)
    shutil.copy(NVIDIA / "proc-gpu-information-gtx650.txt", info)
    runner = Replay({("nvml", ""): CommandResult(0, '{"error": "NVML library not loadable"}')})
    env = run(tmp_path, root, site, bin_dir, runner, catalog=FakeCatalog(broken=True))
    assert [(g.name, g.pci_bus_id, g.compute_capability) for g in env.gpus] == [("GeForce GTX 650", "0000:04:00.0", None)]
    assert "not written yet" in unknown_facts(env)["database"]


# ------------------------------------------------------------------ overrides

def test_environment_overrides_describe_another_machine_without_probing(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-384.98-proprietary.txt", smi=True)
    runner = Replay({})
    catalog = FakeCatalog(gpus={"H100": "9.0"})
    env = run(tmp_path, root, site, bin_dir, runner, catalog=catalog, environ={
        "ATTNLOCK_CUDA_DRIVER": "580.159.04", "ATTNLOCK_CUDA_MAX": "cu130", "ATTNLOCK_GPU": "H100, sm_80",
        "ATTNLOCK_PLATFORM": "windows-amd64", "ATTNLOCK_PYTHON": "3.12",
    })
    assert runner.calls == []
    assert env.driver is not None
    assert (env.driver.version, env.driver.source) == ("580.159.04", "env:ATTNLOCK_CUDA_DRIVER")
    assert (env.driver.cuda_max, env.driver.cuda_max_source) == ("13.0", "env:ATTNLOCK_CUDA_MAX")
    assert [(g.name, g.compute_capability) for g in env.gpus] == [("H100", "9.0"), (None, "8.0")]
    assert (env.platform, env.platform_source) == ("windows-amd64", "env:ATTNLOCK_PLATFORM")
    assert (env.python.version, env.python.source) == ("3.12", "env:ATTNLOCK_PYTHON")
    assert env.tags is None and "another machine" in env.tags_source


def test_override_none_and_malformed_values(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-384.98-proprietary.txt")
    env = run(tmp_path, root, site, bin_dir, Replay({}), environ={
        "ATTNLOCK_CUDA_DRIVER": "none", "ATTNLOCK_GPU": "none", "ATTNLOCK_PLATFORM": "solaris-sparc"})
    assert env.driver is None and env.gpus == () and env.gpus_source == "env:ATTNLOCK_GPU"
    assert "ignored: unknown platform" in unknown_facts(env)["ATTNLOCK_PLATFORM"]
    assert env.platform == "linux-x86_64"


# ------------------------------------------------------------------ installed packages

def test_kernels_and_cuda_wheels(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    install_dist(site, "xformers", "0.0.35")
    (site / "xformers").mkdir()
    shutil.copy(FIXTURES / "cpp_lib-xformers-0.0.35-py39-none-manylinux_2_28_x86_64.json",
                site / "xformers/cpp_lib.json")
    for name, version in [("flash_attn_3", "3.0.0b1"), ("flash_attn", "2.8.3"), ("nvidia_cudnn_cu12", "9.1.0.70"),
                          ("cuda_toolkit", "13.0.3"), ("jax_cuda13_plugin", "0.11.2"), ("requests", "2.32.3")]:
        install_dist(site, name, version)
    env = run(tmp_path, root, site, bin_dir)
    assert sorted(env.packages) == ["cuda-toolkit", "flash-attn", "flash-attn-3", "jax-cuda13-plugin",
                                    "nvidia-cudnn-cu12", "xformers"]
    xf = env.to_json()["packages"]["xformers"]
    assert xf["version"] == "0.0.35"
    assert xf["built_for"] == {"torch": "2.10.0+cu128", "cuda": "12.8", "hip": None, "python": "3.10.19"}


def test_broken_metadata_is_tolerated(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    install_dist(site, "triton", "3.6.0", metadata=None)  # half-installed: no METADATA
    install_dist(site, "jax", "0.11.2", metadata="Name: jax\n\n\x00\x00garbage")  # no Version header
    (site / "xformers").mkdir()
    (site / "xformers/cpp_lib.json").write_text("{not json")
    install_dist(site, "xformers", "0.0.35")
    env = run(tmp_path, root, site, bin_dir)
    facts = unknown_facts(env)
    assert env.packages["triton"].version == "3.6.0" and "folder name" in env.packages["triton"].source
    assert "METADATA" in facts["triton version"]
    assert env.packages["jax"].version == "0.11.2"
    assert env.packages["xformers"].built_for is None and "not JSON" in facts["xformers built_for"]


def test_corrupt_torch_version_py_falls_back_to_the_metadata_version(tmp_path: Path) -> None:
    """A download.pytorch.org wheel's METADATA keeps the label: version and variant survive, cuda does not."""
    root, site, bin_dir = machine(tmp_path)
    install_torch(site, "2.3.1-pypi-cu121", "2.3.1+cu121")
    (site / "torch/version.py").write_text("__version__ = '2.3")
    env = run(tmp_path, root, site, bin_dir)
    metadata = str(site / "torch-2.3.1+cu121.dist-info" / "METADATA")
    assert env.torch is not None
    assert (env.torch.version, env.torch.source) == ("2.3.1+cu121", metadata)
    assert env.torch.cuda is None and env.torch.cxx11abi is False  # cxx11abi from TorchConfig.cmake, as before
    assert env.torch.variant == "cu121" and env.torch.variant_source == f"local label of the version ({metadata})"
    facts = unknown_facts(env)
    assert "not valid Python" in facts["torch version"] and metadata in facts["torch version"]
    assert "not valid Python" in facts["torch cuda"]
    assert "torch variant" not in facts
    doc = env.to_json()["torch"]
    assert (doc["version"], doc["cuda"], doc["variant"], doc["source"]) == ("2.3.1+cu121", None, "cu121", metadata)
    # Planning gets the version and the CUDA variant from the label.
    target = target_from_args(argparse.Namespace(torch=None, cuda=None, python=None, platform=None, gpu=None,
                                                 driver=None), environ={}, detected=env)
    assert str(target.torch) == "==2.3.1+cu121" and str(target.cuda) == "cu121"


def test_corrupt_torch_version_py_with_an_unlabelled_metadata_version(tmp_path: Path) -> None:
    """PyPI's METADATA says 2.3.1 for a CUDA build: the version is known, the variant is not."""
    root, site, bin_dir = machine(tmp_path)
    install_torch(site, "2.3.1-pypi-cu121", "2.3.1")
    (site / "torch/version.py").write_bytes(b"\x00\xff garbage")
    env = run(tmp_path, root, site, bin_dir)
    assert env.torch is not None and env.torch.version == "2.3.1" and env.torch.source.endswith("METADATA")
    assert env.torch.cuda is None and env.torch.variant is None
    facts = unknown_facts(env)
    assert "torch cuda" in facts and "no build label in '2.3.1'" in facts["torch variant"]
    variant_line = next(line for line in render_text(env).splitlines() if line.strip().startswith("variant"))
    assert variant_line.split()[1] == "unknown"


def test_variant_from_label_or_version_py(tmp_path: Path) -> None:
    expected = {"2.13.0-cpu": ("cpu", "local label"), "2.11.0-pypi-cu130": ("cu130", "local label"),
                "rocm-2.3.0.dev20240308": ("rocm6.0", "local label")}
    for build, (variant, how) in expected.items():
        case = tmp_path / build
        case.mkdir()
        root, site, bin_dir = machine(case)
        install_torch(site, build, "0")
        env = run(case, root, site, bin_dir)
        assert env.torch is not None and env.torch.variant == variant, build
        assert (env.torch.variant_source or "").startswith(how)
    # A source build ("+git…" or no label) is described by version.py's cuda / hip fields.
    case = tmp_path / "source-build"
    case.mkdir()
    root, site, bin_dir = machine(case)
    install_torch(site, "2.11.0-pypi-cu130", "2.11.0")
    version_py = site / "torch/version.py"
    version_py.write_text(version_py.read_text().replace("'2.11.0+cu130'", "'2.11.0a0+git70d99e9'"))
    env = run(case, root, site, bin_dir)
    assert env.torch is not None and env.torch.variant == "cu130"
    assert env.torch.variant_source == f"{version_py} (cuda)"


def test_first_torch_on_the_path_wins(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    install_torch(site, "2.13.0-cpu", "2.13.0+cpu")
    first = tmp_path / "first"
    first.mkdir()
    install_torch(first, "2.11.0-pypi-cu130", "2.11.0")
    ports = Ports(root=root, environ={"PATH": str(bin_dir)}, run=Replay({}), sys_path=(str(first), str(site)))
    env = detect(ports, catalog=FakeCatalog(), sys_platform="linux", machine="x86_64")
    assert env.torch is not None and env.torch.version == "2.11.0+cu130"
    assert env.packages["torch"].version == "2.11.0"


# ------------------------------------------------------------------ the JSON contract

def test_json_has_every_field_of_the_cli_contract(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-565.57.01-open.txt", smi=True)
    install_torch(site, "2.13.0-cpu", "2.13.0+cpu")
    install_dist(site, "xformers", "0.0.35")
    (site / "xformers").mkdir()
    shutil.copy(FIXTURES / "cpp_lib-xformers-0.0.35-py39-none-manylinux_2_28_x86_64.json",
                site / "xformers/cpp_lib.json")
    doc = run(tmp_path, root, site, bin_dir, Replay({("nvml", ""): CommandResult(0, NVML_H200)})).to_json()
    assert set(doc["python"]) >= {"version", "implementation"}
    assert doc["python"]["implementation"] == sys.implementation.name
    assert doc["platform"] == "linux-x86_64"
    assert {k: doc["torch"][k] for k in ("version", "cuda", "cxx11abi")} == {
        "version": "2.13.0+cpu", "cuda": None, "cxx11abi": True}
    assert doc["torch"]["source"].endswith(os.path.join("torch", "version.py"))
    assert {k: doc["driver"][k] for k in ("version", "cuda_max")} == {"version": "565.57.01", "cuda_max": "13.0"}
    assert doc["driver"]["source"] == "/proc/driver/nvidia/version"
    assert doc["gpus"] == [{"index": 0, "name": "NVIDIA H200", "compute_capability": "9.0", "memory_mib": 143771,
                            "pci_bus_id": "00000000:19:00.0", "source": "NVML",
                            "compute_capability_source": "NVML nvmlDeviceGetCudaComputeCapability"}]
    assert doc["packages"]["xformers"]["built_for"]["torch"] == "2.10.0+cu128"
    json.dumps(doc)  # serialisable


# ------------------------------------------------------------------ the real NVML child

def test_the_nvml_child_always_answers_json(tmp_path: Path) -> None:
    """Run the real child on this machine: GPUs where NVML loads, else an error object — never a traceback."""
    result = subprocess_runner([sys.executable, "-I", str(NVML_CHILD)], 30)
    assert result.ok, result
    data = json.loads(result.stdout)
    if "error" in data:
        assert isinstance(data["error"], str) and data["error"]
    else:
        assert isinstance(data["driver"], str) and isinstance(data["gpus"], list)
        for gpu in data["gpus"]:
            assert isinstance(gpu.get("name"), str)
            assert len(gpu.get("compute_capability", [])) == 2


def test_nvml_json_with_wrong_types_is_survived(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path, proc="proc-version-565.57.01-open.txt")
    odd = json.dumps({"driver": 5, "cuda_driver": "13.0",
                      "gpus": [{"index": "zero", "name": 3, "compute_capability": [9], "memory_mib": "lots"}]})
    env = run(tmp_path, root, site, bin_dir, Replay({("nvml", ""): CommandResult(0, odd)}))
    assert [(g.ordinal, g.name, g.compute_capability, g.memory_mib) for g in env.gpus] == [(0, None, None, None)]
    assert env.driver is not None and env.driver.version == "565.57.01" and env.driver.cuda_max is None
    assert {"cuda_max", "gpu 0 compute capability"} <= set(unknown_facts(env))


def test_empty_override_variables_count_as_unset(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    env = run(tmp_path, root, site, bin_dir, Replay({}),
              environ={"ATTNLOCK_CUDA_DRIVER": "", "ATTNLOCK_GPU": "", "ATTNLOCK_CUDA_MAX": ""})
    assert env.driver is None and env.gpus == () and "no NVIDIA driver" in env.gpus_source
    assert env.unknown == ()


def test_shipped_database_fills_capability_and_cuda_max(tmp_path: Path) -> None:
    root, site, bin_dir = machine(tmp_path)
    ports = Ports(root=root, environ={"PATH": str(bin_dir), "ATTNLOCK_GPU": "Tesla T4",
                                      "ATTNLOCK_CUDA_DRIVER": "580.159.04"}, run=Replay({}), sys_path=(str(site),))
    env = detect(ports, sys_platform="linux", machine="x86_64")  # default catalog: attnlock.database
    assert env.gpus[0].compute_capability == "7.5"
    assert (env.gpus[0].compute_capability_source or "").startswith("data/curated/gpus.toml")
    assert env.driver is not None and env.driver.cuda_max is not None
    assert (env.driver.cuda_max_source or "").startswith("data/curated/cuda.toml")
