"""Environment detection without importing torch: the probes behind ``attnlock detect``.

``detect(ports)`` returns an :class:`~attnlock.detect.report.Environment`; every
fact carries its source (a file path, a command, ``env:ATTNLOCK_…``) or, in
``Environment.unknown``, the reason it could not be established.  No GPU, no
driver and no torch are ordinary answers (``gpus == ()``, ``driver is None``,
``torch is None``), never errors.  Nothing here imports torch, jax, triton,
httpx or tomlkit, and nothing runs at import time.

Probe order
-----------
1. **Interpreter** (:mod:`.interpreter`): ``sys.version_info`` and
   ``sys.implementation``; platform from ``sys.platform`` + ``platform.machine()``
   (``ATTNLOCK_PYTHON`` / ``ATTNLOCK_PLATFORM`` override); glibc through
   ``packaging._manylinux``, then ``os.confstr("CS_GNU_LIBC_VERSION")``, then
   ``platform.libc_ver()`` (the private packaging module may move: the standard
   library answers then); musl through ``packaging._musllinux``;
   wheel tags from ``packaging.tags.sys_tags()``.
2. **Installed distributions** (:mod:`.distributions`): one scan of
   ``*.dist-info``/``*.egg-info`` folder names on ``sys.path`` (first wins, as
   for imports); only the packages attnlock reports have their METADATA read,
   and a broken METADATA falls back to the folder's version with the problem
   reported.
3. **torch** (:mod:`.torchfiles`): the ``torch`` folder first on ``sys.path``;
   ``torch/version.py`` parsed with ``ast`` (``__version__`` with its local label,
   ``cuda``, ``hip``, ``rocm``, ``xpu``, ``git_version``) — if it is unreadable or
   corrupt, the version from the dist METADATA, ``cuda`` unknown with the reason;
   the variant (``cu121``, ``cpu``, ``rocm6.0``) from the version's local label,
   else version.py's ``cuda``/``hip``/``xpu``; the C++11 ABI flag from
   ``compiled_with_cxx11_abi`` in ``torch/__init__.py`` (a literal since 2.7),
   else ``-D_GLIBCXX_USE_CXX11_ABI`` in ``share/cmake/Torch/TorchConfig.cmake``;
   else unknown.
4. **Kernels** (:mod:`.packages`): xformers, flash-attn, flash-attn-3
   (distribution ``flash_attn_3``), flash-attn-4, triton, jax, jaxlib, the
   ``jax-cuda*`` plugins and PJRT wheels, unsloth, unsloth-zoo, torchvision,
   torchaudio, bitsandbytes, mslk, and every ``nvidia-*``/``cuda-*`` wheel;
   xformers' ``xformers/cpp_lib.json`` read as a file for the torch, CUDA and
   Python its extension was built for.
5. **NVIDIA** (:mod:`.nvidia`), first answer per fact wins:

   a. ``ATTNLOCK_CUDA_DRIVER`` (``none`` = no driver), ``ATTNLOCK_CUDA_MAX``,
      ``ATTNLOCK_GPU`` (``none`` or a comma list of names / ``sm_XY``) — CI
      describing a machine it is not on; a fact set here is not probed.
   b. ``/proc/driver/nvidia/version`` (then ``/sys/module/nvidia/version``):
      the driver version for the price of one read.  On Linux its absence,
      with no ``nvidia-smi`` on PATH and no WSL driver library, means "no
      NVIDIA driver" and **no process is started** — the common CPU-only case
      stays in milliseconds.
   c. **NVML through ctypes, in a child process** with a timeout
      (``_nvml_child.py``): the best single source — driver version, the newest
      CUDA the driver supports (``nvmlSystemGetCudaDriverVersion_v2``) and, per
      GPU, name, compute capability, memory and PCI bus id, on every driver
      that ships NVML, including containers that mount ``libnvidia-ml`` without
      ``nvidia-smi``.  A child, because ``nvmlInit`` can hang or crash on a
      wedged GPU: the parent only loses the probe.
   d. ``nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total,pci.bus_id
      --format=csv,noheader`` with a timeout (drivers before ~510 reject
      ``compute_cap``: asked again without it), then plain ``nvidia-smi``'s
      banner (``CUDA Version: X.Y``) for the newest CUDA.
   e. ``/proc/driver/nvidia/gpus/*/information``: GPU names and bus ids only.
   f. The database (``data/curated/gpus.toml``, ``cuda.toml`` via
      ``attnlock.database``), read only when a GPU has a name but no capability,
      or the driver is known but not its newest CUDA.

6. **Install guard** (:mod:`.installguard`): whether ``attnlock activate`` guards the
   environment at ``Ports.prefix`` (``sys.prefix`` for :meth:`Ports.system`) — its
   ``pip.conf`` block, ``attnlock/constraints.txt`` and ``UV_CONSTRAINT`` — read as files,
   with the answer ``attnlock.install.guard.status()`` gives.

Every command runs through the :class:`~attnlock.detect.ports.Ports` runner
(argv list, no shell, ``Ports.timeout`` seconds, 3 by default); a hang, a crash,
garbage output or an unreadable file makes that fact unknown with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from attnlock.detect.catalog import Catalog, DatabaseCatalog
from attnlock.detect.distributions import scan
from attnlock.detect.installguard import probe_guard
from attnlock.detect.interpreter import GLIBC_PROBES, GlibcProbe, os_of, probe_interpreter
from attnlock.detect.nvidia import probe_nvidia
from attnlock.detect.packages import probe_packages
from attnlock.detect.ports import CommandResult, Ports, subprocess_runner
from attnlock.detect.report import Environment, Unknown
from attnlock.detect.torchfiles import locate, probe_torch

__all__ = ["CommandResult", "Environment", "Ports", "detect", "subprocess_runner"]


def detect(ports: Ports | None = None, *, catalog: Catalog | None = None,
           sys_platform: str | None = None, machine: str | None = None,
           glibc_probes: Sequence[tuple[str, GlibcProbe]] = GLIBC_PROBES, tags: bool = True) -> Environment:
    """Describe the machine and interpreter behind ``ports`` (default: this one); without ``tags``
    the wheel tags are not computed (a plan's target needs none: packaging.tags costs ~8 ms)."""
    ports = ports or Ports.system()
    if catalog is None and ports.use_database:
        catalog = DatabaseCatalog()
    interp = probe_interpreter(ports.environ, sys_platform=sys_platform, machine=machine,
                               glibc_probes=glibc_probes, compute_tags=tags)
    found = scan(ports.sys_path)
    torch, torch_unknown = probe_torch(locate(tuple(ports.sys_path), found.get("torch")))
    packages, package_unknown = probe_packages(found)
    nvidia = probe_nvidia(ports, catalog, os_of(interp.platform))
    guard, guard_unknown = probe_guard(ports.prefix, ports.environ)
    unknown: list[Unknown] = [*interp.unknown, *torch_unknown, *package_unknown, *nvidia.unknown, *guard_unknown]
    return Environment(
        python=interp.python,
        platform=interp.platform,
        platform_source=interp.platform_source,
        libc=interp.libc,
        tags=interp.tags,
        tags_source=interp.tags_source,
        torch=torch,
        driver=nvidia.driver,
        gpus=nvidia.gpus,
        gpus_source=nvidia.gpus_source,
        packages=packages,
        unknown=tuple(unknown),
        guard=guard,
    )
