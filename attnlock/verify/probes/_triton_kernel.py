"""The Triton kernel the triton probe compiles (in a file of its own: ``@triton.jit`` needs source files)."""

from __future__ import annotations

from typing import Any

import triton
import triton.language as tl


@triton.jit  # type: ignore[untyped-decorator,unused-ignore]
def _fma_plus_one_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):  # type: ignore[no-untyped-def]
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x * y + 1.0, mask=mask)


def fma_plus_one(x: Any, y: Any, out: Any) -> None:
    """out = x * y + 1, elementwise, by the Triton kernel above."""
    n = x.numel()
    block = 1024
    _fma_plus_one_kernel[(triton.cdiv(n, block),)](x, y, out, n, BLOCK=block)
