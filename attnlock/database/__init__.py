"""The compatibility database: load ``data/`` lazily and answer typed questions about it.

``load()`` returns a :class:`~attnlock.database.store.Database`; it reads no file
until a question needs one, and each file at most once, so the fast paths
(``detect``, ``check``) pay only for what they ask.  Layout and rules:
``data/SCHEMA.md``.

Query API (all versions are :class:`packaging.version.Version`, names canonical):

* ``db.packages()`` – derived packages known;
  ``db.releases(name)`` – :class:`Release` list, ascending;
  ``db.release(name, version)``.
* ``Release.requirements(platform=None, python=None, extras=())`` – Requires-Dist
  evaluated for a target (markers judged with the target's platform and Python);
  ``Release.wheels()`` – parsed wheel files with tags; ``Release.build_info`` –
  xformers' ``cpp_lib.json`` facts per wheel.
* ``db.torch_variants(version)`` – labels on the PyTorch index and the PyPI default;
  ``db.torch_abi(version, platform, index)``; ``db.torch_arch_list(version, variant)``.
* ``db.toolkit(cuda_version)``, ``db.cuda_max_for_driver(driver, os)``.
* ``db.gpu(name_or_capability)`` – a :class:`Gpu` by nvidia-smi name, alias or ``sm_XY``.
* ``db.flash_attn_wheels(package, version)`` (kernel builds, windows and known-bad records: :mod:`attnlock.compat`);
  ``db.requirements_for_kernel(...)`` via ``db.curated_records(file, table)``.
* ``db.signatures()``.
* ``db.validate()`` – every problem as a :class:`Problem` (file, key, message).
"""

from __future__ import annotations

from attnlock.database.store import (
    Database,
    FileInfo,
    Gpu,
    MetadataRecord,
    Problem,
    Release,
    data_dir,
    load,
)

__all__ = [
    "Database",
    "FileInfo",
    "Gpu",
    "MetadataRecord",
    "Problem",
    "Release",
    "data_dir",
    "load",
]
