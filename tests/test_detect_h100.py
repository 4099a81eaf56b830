"""Detect's parsers on outputs captured on a real H100 host agree with each other and with detect's report there."""

from __future__ import annotations

import json
from pathlib import Path

from attnlock.detect.nvidia import (
    SMI_FIELDS,
    cuda_from_int,
    parse_gpu_information,
    parse_nvml_json,
    parse_proc_version,
    parse_smi_banner,
    parse_smi_csv,
)

HOST = Path(__file__).parent / "fixtures" / "detect" / "h100-host"


def read(name: str) -> str:
    return (HOST / name).read_text()


def test_every_source_names_the_same_driver_gpu_and_cuda() -> None:
    report = json.loads(read("detect-gpu-host.json"))
    driver = parse_proc_version(read("proc-version.txt"))
    banner_driver, banner_cuda = parse_smi_banner(read("smi-banner.txt"))
    (row,) = parse_smi_csv(read("smi-query.csv"), SMI_FIELDS)
    nvml = parse_nvml_json(read("nvml-child.json"))
    info = parse_gpu_information(read("gpu-information.txt"), "gpu-information.txt")

    assert driver == banner_driver == row["driver_version"] == nvml["driver"] == "580.159.04"
    assert banner_cuda == cuda_from_int(nvml["cuda_driver"]) == "13.0"
    assert row["name"] == nvml["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert row["compute_cap"] == "9.0" and nvml["gpus"][0]["compute_capability"] == [9, 0]
    assert "H100 80GB HBM3" in " ".join(info.values())

    # What detect reported on that host is what its sources say.
    assert report["driver"] == {"version": "580.159.04", "cuda_max": "13.0", "source": "/proc/driver/nvidia/version",
                                "cuda_max_source": "NVML nvmlSystemGetCudaDriverVersion_v2"}
    (gpu,) = report["gpus"]
    assert (gpu["name"], gpu["compute_capability"], gpu["memory_mib"]) == ("NVIDIA H100 80GB HBM3", "9.0", 81559)
    assert report["torch"]["version"] == "2.11.0+cu130" and report["torch"]["cuda"] == "13.0"
    assert report["torch"]["cxx11abi"] is True
    assert report["packages"]["triton"]["version"] == "3.6.0"
    assert report["packages"]["jax-cuda13-plugin"]["version"] == "0.11.2"


def test_the_database_knows_this_gpu_by_the_name_nvidia_smi_prints() -> None:
    from attnlock.database import load

    gpu = load().gpu("NVIDIA H100 80GB HBM3")
    assert gpu is not None and gpu.compute_capability.dotted == "9.0"
