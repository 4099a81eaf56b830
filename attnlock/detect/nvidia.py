"""NVIDIA driver, newest CUDA it supports, and each GPU's name and compute capability — parsers and the probe.

Probe order (first answer wins per fact; see ``attnlock.detect`` for why):
environment overrides → ``/proc/driver/nvidia/version`` (``/sys/module/nvidia/version``)
→ NVML in a child process → ``nvidia-smi --query-gpu`` (then its banner for
the CUDA version) → ``/proc/driver/nvidia/gpus/*/information`` → the database.
Every parser takes text and raises :class:`attnlock.errors.InputError` naming
the source; the probe turns each failure into an :class:`Unknown`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from attnlock.detect.catalog import Catalog, CatalogUnavailable
from attnlock.detect.ports import Ports
from attnlock.detect.report import DriverFacts, GpuFacts, Unknown
from attnlock.errors import InputError, UsageError

#: The columns ``detect`` asks nvidia-smi for, in order.
SMI_FIELDS = ("index", "name", "compute_cap", "driver_version", "memory.total", "pci.bus_id")
NVML_CHILD = Path(__file__).with_name("_nvml_child.py")
_MISSING = {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]", "[insufficient permissions]"}

# "NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  …" (proprietary) and
# "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  …" (open modules).
# Patterns are compiled on first use (re caches them): a machine without a driver never pays.
_PROC_VERSION = r"(?m)^NVRM version:.*?Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)\s"
_BANNER_DRIVER = r"Driver Version:\s*(\d+(?:\.\d+)+)"
_BANNER_CUDA = r"CUDA Version:\s*(\d+\.\d+)"
_DRIVER = r"\d+(?:\.\d+){1,3}"
_CUDA = r"(?i)(?:cu(?:da)?)?\s*(\d{1,2})\.?(\d)"


# ------------------------------------------------------------------ parsers

def parse_proc_version(text: str, source: str = "/proc/driver/nvidia/version") -> str:
    """The driver version in ``/proc/driver/nvidia/version`` (proprietary or open kernel module)."""
    m = re.search(_PROC_VERSION, text)
    if not m:
        first = text.strip().splitlines()[0][:120] if text.strip() else "(empty)"
        raise InputError(f"no driver version in {first!r}", path=source)
    return m.group(1)


def parse_module_version(text: str, source: str = "/sys/module/nvidia/version") -> str:
    """``/sys/module/nvidia/version``: the version alone on one line."""
    value = text.strip()
    if not re.fullmatch(_DRIVER, value):
        raise InputError(f"not a driver version: {value[:60]!r}", path=source)
    return value


def parse_gpu_information(text: str, source: str) -> dict[str, str]:
    """``/proc/driver/nvidia/gpus/<bus>/information``: ``Key:   value`` lines (Model, Bus Location …)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    if "Model" not in out:
        raise InputError("no 'Model:' line", path=source)
    return out


def _cell(value: str) -> str | None:
    value = value.strip()
    return None if value.lower() in _MISSING else value


def _header_name(cell: str) -> str:
    return re.sub(r"\s*\[.*\]$", "", cell.strip())  # "memory.total [MiB]" -> "memory.total"


def parse_smi_csv(text: str, fields: tuple[str, ...] | None = SMI_FIELDS, *,
                  source: str = "nvidia-smi") -> list[dict[str, str | None]]:
    """Rows of ``nvidia-smi --query-gpu=… --format=csv[,noheader]``, keyed by field name.

    With ``fields=None`` the first line must be the header; with fields given, a
    header line naming them is skipped.  ``N/A``/``[Not Supported]`` become None.
    Any line with the wrong number of cells is garbage: :class:`InputError`.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if fields is None:
        if not lines:
            raise InputError("empty output, no header", path=source)
        fields = tuple(_header_name(c) for c in lines[0].split(","))
        lines = lines[1:]
    elif lines and tuple(_header_name(c) for c in lines[0].split(",")) == fields:
        lines = lines[1:]
    rows = []
    for number, line in enumerate(lines, 1):
        cells = line.split(",")
        if len(cells) != len(fields):
            raise InputError(
                f"expected {len(fields)} comma-separated values ({', '.join(fields)}), got {len(cells)}: {line[:120]!r}",
                path=source, line=number,
            )
        rows.append({name: _cell(value) for name, value in zip(fields, cells)})
    return rows


def parse_smi_banner(text: str) -> tuple[str | None, str | None]:
    """``(driver, cuda)`` from the header box of plain ``nvidia-smi`` (``CUDA Version: 13.0``)."""
    driver = re.search(_BANNER_DRIVER, text)
    cuda = re.search(_BANNER_CUDA, text)
    return (driver.group(1) if driver else None, cuda.group(1) if cuda else None)


def cuda_from_int(value: int) -> str:
    """NVML/CUDA integer versions: 13000 → ``13.0``, 12080 → ``12.8``, 1208 (xformers) handled by callers."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def parse_nvml_json(text: str, source: str = "NVML") -> dict[str, Any]:
    """The child's JSON (``_nvml_child.py``); structural checks only."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InputError(f"not JSON: {text.strip()[:120]!r}", path=source) from None
    if not isinstance(data, dict):
        raise InputError("not a JSON object", path=source)
    if "error" in data:
        return data
    gpus = data.get("gpus", [])
    if not isinstance(gpus, list) or not all(isinstance(g, dict) for g in gpus):
        raise InputError("'gpus' is not a list of objects", path=source)
    return data


def parse_memory_mib(value: str | None) -> int | None:
    """``81559 MiB`` / ``81559`` → 81559."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:MiB)?\s*", value)
    return int(m.group(1)) if m else None


def parse_cuda_max(text: str) -> str:
    """``13.0``, ``cu130``, ``12.8`` → ``X.Y``; :class:`UsageError` otherwise."""
    m = re.fullmatch(_CUDA, text.strip())
    if not m:
        raise UsageError(f"malformed CUDA version {text!r}", hint="write X.Y, e.g. 13.0")
    return f"{int(m.group(1))}.{m.group(2)}"


def parse_driver(text: str) -> str:
    """A driver version such as ``580.159.04``; :class:`UsageError` otherwise."""
    value = text.strip()
    if not re.fullmatch(_DRIVER, value):
        raise UsageError(f"malformed driver version {text!r}", hint="write it as nvidia-smi shows it, e.g. 535.104.05")
    return value


# ------------------------------------------------------------------ probe

class _Gpu:
    """A GPU being assembled from several sources (the database may add its capability last)."""

    __slots__ = ("index", "name", "cc", "memory_mib", "pci_bus_id", "source", "cc_source")

    def __init__(self, index: int, name: str | None, cc: str | None, memory_mib: int | None,
                 pci_bus_id: str | None, source: str, cc_source: str | None) -> None:
        self.index, self.name, self.cc, self.memory_mib = index, name, cc, memory_mib
        self.pci_bus_id, self.source, self.cc_source = pci_bus_id, source, cc_source

    def freeze(self) -> GpuFacts:
        return GpuFacts(self.index, self.name, self.cc, self.memory_mib, self.pci_bus_id, self.source, self.cc_source)


class NvidiaFacts(NamedTuple):
    """The probe's answer: driver (None when no driver is present), GPUs, and what stayed unknown."""

    driver: DriverFacts | None
    gpus: tuple[GpuFacts, ...]
    gpus_source: str
    unknown: list[Unknown]


def gpus_from_override(text: str, source: str) -> list[_Gpu]:
    """``ATTNLOCK_GPU``: ``none`` or a comma list of ``sm_XY``/``X.Y`` or GPU names (capability looked up later)."""
    from attnlock.model import ComputeCapability

    if text.strip().lower() == "none":
        return []
    out = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        if not item:
            continue
        cc: str | None = None
        if re.fullmatch(r"(?i)(sm_?|compute_)?\d{1,2}\.?\d[af]?", item) and not re.fullmatch(r"\d{3,4}", item):
            cc = ComputeCapability.parse(item).dotted
        out.append(_Gpu(index, None if cc else item, cc, None, None, source, source if cc else None))
    return out


def _nvml_gpu(raw: dict[str, Any], position: int) -> _Gpu:
    """One GPU of the NVML child's JSON; a value of the wrong type counts as absent."""

    def text(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) and value else None

    index = raw.get("index")
    cc = raw.get("compute_capability")
    cc_text = (f"{cc[0]}.{cc[1]}" if isinstance(cc, list) and len(cc) == 2
               and all(isinstance(v, int) and 0 <= v < 100 for v in cc) else None)
    memory = raw.get("memory_mib")
    return _Gpu(index if isinstance(index, int) else position, text("name"), cc_text,
                memory if isinstance(memory, int) else None, text("pci_bus_id"), "NVML",
                "NVML nvmlDeviceGetCudaComputeCapability" if cc_text else None)


class _Probe:
    def __init__(self, ports: Ports, catalog: Catalog | None, os_name: str) -> None:
        self.ports = ports
        self.catalog = catalog
        self.os_name = os_name
        self.unknown: list[Unknown] = []
        self.driver: str | None = None
        self.driver_source: str | None = None
        self.driver_none = False  # ATTNLOCK_CUDA_DRIVER=none
        self.cuda_max: str | None = None
        self.cuda_source: str | None = None
        self.gpus: list[_Gpu] | None = None
        self.gpus_source: str | None = None
        self.evidence: list[str] = []  # why we believe a driver is present
        # Probes that answered "no driver here" (absent file, not on PATH, "Driver Not Loaded"),
        # and probes that could not answer at all (timed out, crashed, garbage): the latter make
        # the driver and GPUs unknown instead of "none".
        self.no_driver: list[str] = []
        self.inconclusive: list[str] = []

    # -- sources, in order

    def env(self) -> None:
        environ = self.ports.environ
        # An empty variable counts as unset (as in attnlock.target); "none" means "no driver/GPU".
        raw = environ.get("ATTNLOCK_CUDA_DRIVER") or None
        if raw is not None:
            if raw.strip().lower() == "none":
                self.driver_none = True
                self.driver_source = "env:ATTNLOCK_CUDA_DRIVER"
            else:
                try:
                    self.driver = parse_driver(raw)
                    self.driver_source = "env:ATTNLOCK_CUDA_DRIVER"
                except UsageError as exc:
                    self.unknown.append(Unknown("ATTNLOCK_CUDA_DRIVER", f"ignored: {exc.message}"))
        raw = environ.get("ATTNLOCK_CUDA_MAX") or None
        if raw is not None:
            try:
                self.cuda_max = parse_cuda_max(raw)
                self.cuda_source = "env:ATTNLOCK_CUDA_MAX"
            except UsageError as exc:
                self.unknown.append(Unknown("ATTNLOCK_CUDA_MAX", f"ignored: {exc.message}"))
        raw = environ.get("ATTNLOCK_GPU") or None
        if raw is not None:
            try:
                self.gpus = gpus_from_override(raw, "env:ATTNLOCK_GPU")
                self.gpus_source = "env:ATTNLOCK_GPU"
            except UsageError as exc:
                self.unknown.append(Unknown("ATTNLOCK_GPU", f"ignored: {exc.message}"))

    def needs(self) -> bool:
        if self.driver_none:
            return self.gpus is None
        return self.driver is None or self.cuda_max is None or self.gpus is None

    def proc(self) -> None:
        for path, parse in (("/proc/driver/nvidia/version", parse_proc_version),
                            ("/sys/module/nvidia/version", parse_module_version)):
            try:
                text = self.ports.read_text(path)
            except FileNotFoundError:
                if path.startswith("/proc/"):
                    self.no_driver.append(f"{path} absent")
                continue
            except OSError as exc:
                self.evidence.append(path)
                self.unknown.append(Unknown("driver", f"{path}: {exc.strerror or exc}"))
                continue
            self.evidence.append(path)
            try:
                version = parse(text, path)
            except InputError as exc:
                self.unknown.append(Unknown("driver", exc.render()))
                continue
            if self.driver is None:
                self.driver, self.driver_source = version, path
            return

    def nvml(self) -> None:
        argv = [self.ports.executable, "-I", str(NVML_CHILD)]
        result = self.ports.run(argv, self.ports.timeout)
        if result.error is not None or result.returncode != 0:
            # The child always prints JSON and exits 0 unless it hung, crashed or never started.
            why = result.error or f"exit status {result.returncode}: {(result.stderr or result.stdout).strip()[-200:]}"
            self.unknown.append(Unknown("nvml", why))
            self.inconclusive.append(f"NVML: {why}")
            return
        try:
            data = parse_nvml_json(result.stdout)
        except InputError as exc:
            self.unknown.append(Unknown("nvml", exc.render()))
            self.inconclusive.append(f"NVML: {exc.render()}")
            return
        if "error" in data:
            self.unknown.append(Unknown("nvml", str(data["error"])))
            self.no_driver.append(f"NVML: {data['error']}")
            return
        self.evidence.append("NVML")
        driver = data.get("driver")
        if self.driver is None and isinstance(driver, str) and re.fullmatch(_DRIVER, driver):
            self.driver, self.driver_source = driver, "NVML nvmlSystemGetDriverVersion"
        cuda = data.get("cuda_driver")
        if self.cuda_max is None and isinstance(cuda, int) and cuda > 0:
            self.cuda_max, self.cuda_source = cuda_from_int(cuda), "NVML nvmlSystemGetCudaDriverVersion_v2"
        if self.gpus is None and "gpus_error" not in data:
            gpus: list[_Gpu] = []
            for raw in data.get("gpus", []):
                gpus.append(_nvml_gpu(raw, len(gpus)))
            self.gpus, self.gpus_source = gpus, "NVML"
        elif "gpus_error" in data:
            self.unknown.append(Unknown("gpus", f"NVML: {data['gpus_error']}"))

    def smi(self, smi: str) -> None:
        fields: tuple[str, ...] = SMI_FIELDS
        for _attempt in range(2):
            argv = [smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"]
            result = self.ports.run(argv, self.ports.timeout)
            output = (result.stdout + result.stderr).strip()
            if result.error is None and "compute_cap" in fields and 'Field "compute_cap" is not a valid field' in output:
                # drivers before ~510 lack the field (captured: 470.256.02); ask without it.
                fields = tuple(f for f in fields if f != "compute_cap")
                continue
            break
        source = "nvidia-smi --query-gpu"
        if result.error is not None:
            self.unknown.append(Unknown("nvidia-smi", result.error))
            self.inconclusive.append(result.error)  # names the program: "nvidia-smi timed out after 3 s"
            return
        if result.returncode != 0:
            # nvidia-smi ran and refused ("couldn't communicate with the NVIDIA driver"): an answer.
            first = output.splitlines()[0][:200] if output else "(no output)"
            self.unknown.append(Unknown("nvidia-smi", f"exit status {result.returncode}: {first}"))
            self.no_driver.append(f"nvidia-smi: exit status {result.returncode}: {first}")
            return
        try:
            rows = parse_smi_csv(result.stdout, fields, source=source)
        except InputError as exc:
            self.unknown.append(Unknown("nvidia-smi", exc.render()))
            self.inconclusive.append(f"nvidia-smi: {exc.render()}")
            return
        self.evidence.append("nvidia-smi")
        if self.driver is None:
            drivers = {r.get("driver_version") for r in rows} - {None}
            if len(drivers) == 1:
                self.driver, self.driver_source = drivers.pop(), source
        if self.gpus is None:
            gpus: list[_Gpu] = []
            for row in rows:
                index_text = row.get("index")
                index = int(index_text) if index_text and index_text.isdigit() else len(gpus)
                cc = row.get("compute_cap")
                if cc is not None and not re.fullmatch(r"\d{1,2}\.\d", cc):
                    self.unknown.append(Unknown(f"gpu {index} compute capability", f"{source}: {cc!r}"))
                    cc = None
                gpus.append(_Gpu(index, row.get("name"), cc, parse_memory_mib(row.get("memory.total")),
                                 row.get("pci.bus_id"), source, source if cc else None))
            self.gpus, self.gpus_source = gpus, source

    def smi_banner(self, smi: str) -> None:
        result = self.ports.run([smi], self.ports.timeout)
        if result.error is not None:
            self.unknown.append(Unknown("cuda_max", f"nvidia-smi: {result.error}"))
            return
        driver, cuda = parse_smi_banner(result.stdout)
        if cuda is None:
            self.unknown.append(Unknown("cuda_max", "nvidia-smi printed no 'CUDA Version:'"))
            return
        self.cuda_max, self.cuda_source = cuda, "nvidia-smi (banner 'CUDA Version')"
        if self.driver is None and driver is not None:
            self.driver, self.driver_source = driver, "nvidia-smi (banner 'Driver Version')"

    def proc_gpus(self) -> None:
        root = self.ports.path("/proc/driver/nvidia/gpus")
        try:
            entries = sorted(p.name for p in root.iterdir())
        except OSError:
            return
        gpus: list[_Gpu] = []
        for name in entries:
            path = f"/proc/driver/nvidia/gpus/{name}/information"
            try:
                info = parse_gpu_information(self.ports.read_text(path), path)
            except OSError as exc:
                self.unknown.append(Unknown("gpus", f"{path}: {exc.strerror or exc}"))
                continue
            except InputError as exc:
                self.unknown.append(Unknown("gpus", exc.render()))
                continue
            gpus.append(_Gpu(len(gpus), info["Model"], None, None, info.get("Bus Location", name), path, None))
        if gpus:
            self.gpus, self.gpus_source = gpus, "/proc/driver/nvidia/gpus/*/information"

    def database(self) -> None:
        if self.catalog is None:
            return
        try:
            for gpu in self.gpus or []:
                if gpu.cc is None and gpu.name:
                    hit = self.catalog.gpu_capability(gpu.name)
                    if hit is None:
                        self.unknown.append(Unknown(f"gpu {gpu.index} compute capability",
                                                    f"{gpu.name!r} is not in data/curated/gpus.toml"))
                    else:
                        gpu.cc, gpu.cc_source = hit
            if self.cuda_max is None and self.driver is not None:
                os_name = "windows" if self.os_name == "windows" else "linux"
                hit = self.catalog.cuda_max_for_driver(self.driver, os_name)
                if hit is None:
                    self.unknown.append(Unknown("cuda_max", f"no CUDA toolkit floor in data/curated/cuda.toml admits driver {self.driver}"))
                else:
                    self.cuda_max, self.cuda_source = hit
        except CatalogUnavailable as exc:
            self.unknown.append(Unknown("database", str(exc)))

    # -- driver

    def run(self) -> NvidiaFacts:
        self.env()
        if self.needs() and not self.driver_none:
            if self.os_name == "linux":
                self.proc()
            smi = self.ports.which("nvidia-smi")
            if smi is None:
                self.no_driver.append("nvidia-smi not on PATH")
            # On Linux the kernel module's /proc file is the cheap yes/no: without it (and
            # without nvidia-smi or WSL's driver libraries) no process is started at all.
            wsl = self.os_name == "linux" and self.ports.path("/usr/lib/wsl/lib/libnvidia-ml.so.1").exists()
            maybe_driver = bool(self.evidence) or smi is not None or wsl or self.os_name == "windows"
            if maybe_driver and self.os_name != "macos":
                self.nvml()
                if (self.gpus is None or self.driver is None) and smi is not None:
                    self.smi(smi)
                if self.cuda_max is None and smi is not None and "nvidia-smi" in self.evidence:
                    self.smi_banner(smi)
                if self.gpus is None and self.os_name == "linux":
                    self.proc_gpus()
        if self.ports.use_database:
            self.database()
        return self.result()

    def result(self) -> NvidiaFacts:
        undecided = (not self.driver_none and self.driver is None and not self.evidence
                     and self.cuda_max is None and bool(self.inconclusive))
        if undecided:
            # No probe found a driver, but one that could have (a hanging nvidia-smi, a crashed
            # NVML child) never answered: neither "no driver" nor "no GPU" is known.
            why = "; ".join(self.inconclusive)
            driver = DriverFacts(None, None, "not established (see unknown)", None)
            self.unknown.append(Unknown("driver", f"could not tell whether an NVIDIA driver is present: {why}"))
            if self.gpus is None:
                self.unknown.append(Unknown("gpus", f"no probe could list them: {why}"))
                return NvidiaFacts(driver, (), f"not established: {why}", self.unknown)
        elif self.driver_none:
            driver = None
        elif self.driver is None and not self.evidence and self.cuda_max is None:
            driver = None  # no NVIDIA driver: an ordinary state
        else:
            if self.driver is None and not any(u.fact == "driver" for u in self.unknown):
                self.unknown.append(Unknown("driver", "a driver seems present but no probe gave its version"))
            driver = DriverFacts(self.driver, self.cuda_max, self.driver_source or "unknown", self.cuda_source)
            if self.cuda_max is None and not any(u.fact == "cuda_max" for u in self.unknown):
                self.unknown.append(Unknown("cuda_max", "neither NVML, nvidia-smi nor the database told"))
        if self.gpus is None:
            gpus: list[_Gpu] = []
            if driver is None:
                # Only what was actually checked, as it came out (never a check that was not made).
                checked = "; ".join(self.no_driver) or "no probe found one"
                source = self.driver_source if self.driver_none else f"no NVIDIA driver found ({checked})"
                if self.os_name == "macos":
                    source = "macOS: no NVIDIA driver"
            else:
                source = "unknown"
                self.unknown.append(Unknown("gpus", "the driver is present but no probe listed its GPUs"))
        else:
            gpus, source = self.gpus, self.gpus_source or "unknown"
        for gpu in gpus:
            if gpu.cc is None and not any(u.fact == f"gpu {gpu.index} compute capability" for u in self.unknown):
                self.unknown.append(Unknown(f"gpu {gpu.index} compute capability", "no probe reported it"))
        return NvidiaFacts(driver, tuple(g.freeze() for g in gpus), source or "unknown", self.unknown)


def probe_nvidia(ports: Ports, catalog: Catalog | None, os_name: str) -> NvidiaFacts:
    """Driver, CUDA max and GPUs of this machine (``os_name``: linux, windows or macos)."""
    return _Probe(ports, catalog, os_name).run()
