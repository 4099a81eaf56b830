"""The installed torch described from its files: ``torch/version.py`` parsed as text, the C++11 ABI flag, the dist metadata.

torch is never imported.  ``version.py`` is generated at build time
(pytorch ``tools/generate_torch_version.py``) as plain literal assignments, so
``ast`` reads it safely.  The ABI flag has no single file across releases:
torch ≥ 2.7 wheels hard-code ``compiled_with_cxx11_abi()`` as ``return True`` in
``torch/__init__.py``; older ones return ``_C._GLIBCXX_USE_CXX11_ABI`` there, but
their ``share/cmake/Torch/TorchConfig.cmake`` sets
``TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0|1"``.  Neither present → unknown.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, NamedTuple

from attnlock.detect.distributions import Found, read_version
from attnlock.detect.report import TorchFacts, Unknown
from attnlock.errors import InputError

_VERSION_FIELDS = ("__version__", "cuda", "hip", "rocm", "xpu", "git_version", "debug")
_ABI_FUNCTION = (
    r"(?m)^def compiled_with_cxx11_abi\(\)[^:]*:\s*\n(?:\s+(?:r?\"\"\"[^\n]*\"\"\"|#[^\n]*)\n)*\s+return\s+(\S+)\s*$"
)
_ABI_CMAKE = r"-D_GLIBCXX_USE_CXX11_ABI=([01])"
# The local labels torch builds carry (the forms attnlock.model.CudaVariant parses); "+git1234" is none.
_LABEL = r"cpu|xpu|cu\d{2,3}|rocm\d+(?:\.\d+){0,2}"


def parse_version_py(text: str, source: str = "torch/version.py") -> dict[str, Any]:
    """Literal top-level assignments of ``version.py`` (``__version__``, ``cuda``, ``hip``, …).

    Raises :class:`InputError` (with the line) when the file is not Python or
    assigns no ``__version__`` string.
    """
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as exc:
        raise InputError(f"not valid Python: {exc.msg}", path=source, line=exc.lineno) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes (< 3.12), absurd nesting
        raise InputError(f"not valid Python: {exc}", path=source) from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name) or target.id not in _VERSION_FIELDS:
            continue
        try:
            out[target.id] = ast.literal_eval(value)
        except ValueError:
            out[target.id] = None  # computed, not literal: unknown
    version = out.get("__version__")
    if not isinstance(version, str) or not version:
        raise InputError("assigns no __version__ string", path=source)
    return out


def abi_from_init(text: str) -> bool | None:
    """``compiled_with_cxx11_abi`` returning a literal in ``torch/__init__.py`` (torch ≥ 2.7); else None."""
    m = re.search(_ABI_FUNCTION, text)
    if not m:
        return None
    return {"True": True, "False": False}.get(m.group(1))


def abi_from_cmake(text: str) -> bool | None:
    """``-D_GLIBCXX_USE_CXX11_ABI=0|1`` in ``TorchConfig.cmake`` (torch ≤ 2.6); else None."""
    values = set(re.findall(_ABI_CMAKE, text))
    if len(values) != 1:
        return None
    return bool(values.pop() == "1")


class TorchLocation(NamedTuple):
    """Where the importable ``torch`` package is and the distribution that installed it."""

    package: Path | None
    dist: Found | None


def _is_file(path: Path) -> bool:
    try:  # Path.is_file lets PermissionError through (a sys.path folder we may not enter)
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def locate(sys_path: list[str] | tuple[str, ...], dist: Found | None) -> TorchLocation:
    """The ``torch`` package ``import torch`` would load (first on the path), and its dist."""
    for entry in sys_path:
        if entry and _is_file(Path(entry) / "torch" / "__init__.py"):
            return TorchLocation(Path(entry) / "torch", dist)
    if dist is not None and _is_dir(dist.site / "torch"):
        return TorchLocation(dist.site / "torch", dist)
    return TorchLocation(None, dist)


def _read(path: Path, limit: int = 1 << 21) -> str:
    with open(path, "rb") as fh:
        return fh.read(limit).decode("utf-8", "replace")


def probe_torch(where: TorchLocation) -> tuple[TorchFacts | None, list[Unknown]]:
    """torch's facts from its files; ``(None, [])`` when torch is not installed."""
    unknown: list[Unknown] = []
    if where.package is None and where.dist is None:
        return None, unknown
    dist_version = dist_source = None
    if where.dist is not None:
        dist_version, dist_source, problem = read_version(where.dist)
        if problem:
            unknown.append(Unknown("torch dist_version", problem))
    if where.package is None:
        unknown.append(Unknown("torch", f"{where.dist.info if where.dist else '?'} is installed but no torch package folder was found"))
        return TorchFacts(None, dist_version, None, None, None, None, None, None, None, None, None,
                          str(where.dist.info) if where.dist else "unknown"), unknown
    version_py = where.package / "version.py"
    fields: dict[str, Any] = {}
    version_py_problem: str | None = None
    try:
        fields = parse_version_py(_read(version_py), str(version_py))
    except OSError as exc:
        version_py_problem = f"{version_py}: {exc.strerror or exc}"
    except InputError as exc:
        version_py_problem = exc.render()

    def text_field(name: str) -> str | None:
        value = fields.get(name)
        return value if isinstance(value, str) else None

    abi: bool | None = None
    abi_source: str | None = None
    for path, reader in ((where.package / "__init__.py", abi_from_init),
                         (where.package / "share" / "cmake" / "Torch" / "TorchConfig.cmake", abi_from_cmake)):
        try:
            abi = reader(_read(path))
        except OSError:
            continue
        if abi is not None:
            abi_source = str(path)
            break
    if abi is None:
        unknown.append(Unknown("torch cxx11abi", "neither torch/__init__.py (compiled_with_cxx11_abi) nor "
                                                 "share/cmake/Torch/TorchConfig.cmake (-D_GLIBCXX_USE_CXX11_ABI) tells"))
    version, source = text_field("__version__") or None, str(version_py)
    if version_py_problem is not None:
        # The build facts (cuda, hip, …) live only in version.py; the version itself is also in
        # the dist METADATA (with the local label for download.pytorch.org wheels, without for PyPI's).
        if dist_version is not None and dist_source is not None:
            version, source = dist_version, dist_source
            unknown.append(Unknown("torch version", f"{version_py_problem}; version read from {dist_source}"))
        else:
            unknown.append(Unknown("torch version", version_py_problem))
            source = str(where.dist.info) if where.dist else str(version_py)
        unknown.append(Unknown("torch cuda", f"only torch/version.py records it: {version_py_problem}"))
    variant, variant_source = torch_variant(version, source, fields if version_py_problem is None else None)
    if variant is None:
        why = (f"no build label in {version!r} and torch/version.py unreadable" if version
               else "neither torch/version.py nor the dist METADATA gave a version")
        unknown.append(Unknown("torch variant", why))
    debug = fields.get("debug")
    return TorchFacts(
        version=version,
        dist_version=dist_version,
        cuda=text_field("cuda"),
        hip=text_field("hip"),
        rocm=text_field("rocm"),
        xpu=text_field("xpu"),
        git_version=text_field("git_version"),
        debug=debug if isinstance(debug, bool) else None,
        cxx11abi=abi,
        cxx11abi_source=abi_source,
        location=str(where.package),
        source=source,
        variant=variant,
        variant_source=variant_source,
    ), unknown


def torch_variant(version: str | None, version_source: str,
                  fields: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """``(label, source)`` of the build variant: the version's local label, else version.py's cuda/hip/xpu.

    ``fields`` is None when version.py could not be read: then only a label can tell, and
    a version without one (PyPI's METADATA says ``2.3.1`` for a CUDA build) leaves it unknown.
    """
    label = (version or "").partition("+")[2].lower()
    if re.fullmatch(_LABEL, label):
        return label, f"local label of the version ({version_source})"
    if fields is None:
        return None, None
    cuda, hip, xpu = (fields.get(k) for k in ("cuda", "hip", "xpu"))
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)*", cuda) if isinstance(cuda, str) else None
    if m:
        return f"cu{m.group(1)}{m.group(2)}", f"{version_source} (cuda)"
    m = re.match(r"(\d+\.\d+)", hip) if isinstance(hip, str) else None
    if m:
        return f"rocm{m.group(1)}", f"{version_source} (hip)"
    if isinstance(xpu, str) and xpu:
        return "xpu", f"{version_source} (xpu)"
    return "cpu", f"{version_source} (no cuda, hip or xpu)"
