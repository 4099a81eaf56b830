"""Ask NVML (through ctypes) for the driver, the newest CUDA it supports and each GPU; print JSON.

Run only as a child process (``python -I _nvml_child.py``) with a timeout, so a
wedged driver or a crash inside libnvidia-ml costs the parent a failed probe,
not a hang or a dead process.  Standard library only: it is started by file
path, outside the attnlock package.  Output: one JSON object, either
``{"driver": …, "cuda_driver": 13000, "gpus": [...]}`` or ``{"error": …}``.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

_LIBRARIES = ("nvml.dll",) if os.name == "nt" else ("libnvidia-ml.so.1", "libnvidia-ml.so")


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class _PciInfo(ctypes.Structure):  # nvmlPciInfo_t (nvml.h, v3 layout)
    _fields_ = [
        ("busIdLegacy", ctypes.c_char * 16),
        ("domain", ctypes.c_uint),
        ("bus", ctypes.c_uint),
        ("device", ctypes.c_uint),
        ("pciDeviceId", ctypes.c_uint),
        ("pciSubSystemId", ctypes.c_uint),
        ("busId", ctypes.c_char * 32),
    ]


def _load() -> Any:
    errors = []
    candidates = list(_LIBRARIES)
    if os.name == "nt":
        pf = os.environ.get("ProgramFiles", r"C:\Program Files")
        candidates.append(os.path.join(pf, "NVIDIA Corporation", "NVSMI", "nvml.dll"))
    for name in candidates:
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
    raise OSError("; ".join(errors))


def _query() -> dict[str, Any]:
    try:
        lib = _load()
    except OSError as exc:
        return {"error": f"NVML library not loadable ({exc})"}

    def err(code: int) -> str:
        try:
            fn = lib.nvmlErrorString
            fn.restype = ctypes.c_char_p
            return f"{fn(code).decode(errors='replace')} ({code})"
        except AttributeError:
            return f"NVML error {code}"

    init = getattr(lib, "nvmlInit_v2", None) or lib.nvmlInit
    rc = init()
    if rc != 0:
        return {"error": f"nvmlInit: {err(rc)}"}
    out: dict[str, Any] = {"gpus": []}
    try:
        buf = ctypes.create_string_buffer(96)
        rc = lib.nvmlSystemGetDriverVersion(buf, 96)
        out["driver"] = buf.value.decode(errors="replace") if rc == 0 else None
        if rc != 0:
            out["driver_error"] = err(rc)
        cuda = ctypes.c_int()
        fn = getattr(lib, "nvmlSystemGetCudaDriverVersion_v2", None) or getattr(
            lib, "nvmlSystemGetCudaDriverVersion", None)
        if fn is not None:
            rc = fn(ctypes.byref(cuda))
            out["cuda_driver"] = cuda.value if rc == 0 else None
            if rc != 0:
                out["cuda_driver_error"] = err(rc)
        count = ctypes.c_uint()
        rc = (getattr(lib, "nvmlDeviceGetCount_v2", None) or lib.nvmlDeviceGetCount)(ctypes.byref(count))
        if rc != 0:
            out["gpus_error"] = f"nvmlDeviceGetCount: {err(rc)}"
            return out
        get_handle = getattr(lib, "nvmlDeviceGetHandleByIndex_v2", None) or lib.nvmlDeviceGetHandleByIndex
        for index in range(count.value):
            gpu: dict[str, Any] = {"index": index}
            handle = ctypes.c_void_p()
            rc = get_handle(index, ctypes.byref(handle))
            if rc != 0:
                gpu["error"] = f"nvmlDeviceGetHandleByIndex: {err(rc)}"
                out["gpus"].append(gpu)
                continue
            name = ctypes.create_string_buffer(96)
            if lib.nvmlDeviceGetName(handle, name, 96) == 0:
                gpu["name"] = name.value.decode(errors="replace")
            major, minor = ctypes.c_int(), ctypes.c_int()
            rc = lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor))
            if rc == 0:
                gpu["compute_capability"] = [major.value, minor.value]
            else:
                gpu["compute_capability_error"] = err(rc)
            mem = _Memory()
            if lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem)) == 0:
                gpu["memory_mib"] = mem.total // (1024 * 1024)
            pci_fn = getattr(lib, "nvmlDeviceGetPciInfo_v3", None)
            if pci_fn is not None:
                pci = _PciInfo()
                if pci_fn(handle, ctypes.byref(pci)) == 0:
                    gpu["pci_bus_id"] = pci.busId.decode(errors="replace")
            out["gpus"].append(gpu)
    finally:
        lib.nvmlShutdown()
    return out


def main() -> int:
    try:
        result = _query()
    except (OSError, AttributeError, ValueError) as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
