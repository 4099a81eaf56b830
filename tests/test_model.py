"""Value types parse what users and wheel names write, and render it back the same way."""

from __future__ import annotations

import pytest

from attnlock.errors import UsageError
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion

VARIANTS = [
    ("cu121", "cuda", "12.1", "cu121"),
    ("12.1", "cuda", "12.1", "cu121"),
    ("CUDA 12.8", "cuda", "12.8", "cu128"),
    ("cu118", "cuda", "11.8", "cu118"),
    ("cu130", "cuda", "13.0", "cu130"),
    ("cu12", "cuda", "12", "cu12"),  # flash-attn's major-only wheel labels: any 12.x, not CUDA 1.2
    ("cu92", "cuda", "9.2", "cu92"),
    ("cpu", "cpu", None, "cpu"),
    ("rocm6.2", "rocm", "6.2", "rocm6.2"),
    ("rocm6.2.4", "rocm", "6.2.4", "rocm6.2.4"),
]


@pytest.mark.parametrize(("text", "kind", "version", "label"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_cuda_variant(text: str, kind: str, version: str | None, label: str) -> None:
    v = CudaVariant.parse(text)
    assert v.kind == kind and (str(v.version) if v.version else None) == version and v.label == label
    assert CudaVariant.parse(v.label) == v


@pytest.mark.parametrize("text", ["cuda", "cu1", "gpu", "12", "rocm"])
def test_cuda_variant_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="unknown CUDA variant"):
        CudaVariant.parse(text)


def test_other_values() -> None:
    assert ComputeCapability.parse("sm_75") == ComputeCapability.parse("7.5") == ComputeCapability(7, 5)
    assert str(ComputeCapability.parse("sm_100a")) == "sm_100"
    assert str(Platform.parse("linux-x86_64")) == "linux-x86_64"
    assert str(Platform.parse("win-amd64")) == "windows-amd64"
    assert PythonVersion.parse("cp310") == PythonVersion.parse("3.10.4") == PythonVersion(3, 10)
    with pytest.raises(UsageError, match="unknown platform"):
        Platform.parse("solaris-sparc")
    with pytest.raises(UsageError):
        ComputeCapability.parse("T4")
