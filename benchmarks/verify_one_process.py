"""Hand-written baseline for bench_verify: the checks of ``attnlock verify`` done in one process, no isolation.

The same work as verify's probes (same shapes, dtypes and repetitions): torch
import and CUDA, the 8192³ bf16 matmul, SDPA with each backend alone (bf16 and
fp16 forward + backward vs a float32 reference, then forward throughput on
B=8 H=16 S=4096 D=128), a Triton JIT kernel, jax jit, jax beside torch (a
cuDNN convolution in each), and xformers / flash-attn-4 when installed.  A
failure in one check is printed and the script goes on (it cannot survive a
segfault: that is what verify adds).
"""

from __future__ import annotations

import importlib.util
import math
import os
import time

T0 = time.perf_counter()
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

torch.zeros(1, device="cuda")
print(f"import torch + CUDA: {time.perf_counter() - T0:.2f} s", flush=True)


def median_ms(fn, warmup=3, reps=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return sorted(ts)[len(ts) // 2]


def ref_attn(q, k, v):
    p = torch.softmax(q.float() @ k.float().transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
    return p @ v.float()


def correct(fn, bshd=False):
    for dt in (torch.bfloat16, torch.float16):
        shape = (2, 256, 4, 64) if bshd else (2, 4, 256, 64)
        q, k, v = (torch.randn(shape, device="cuda", dtype=dt, requires_grad=True) for _ in range(3))
        out = fn(q, k, v)
        out = out[0] if isinstance(out, tuple) else out
        qr, kr, vr = (t.detach().clone().requires_grad_() for t in (q, k, v))
        tr = (lambda t: t.transpose(1, 2)) if bshd else (lambda t: t)
        ref = tr(ref_attn(tr(qr), tr(kr), tr(vr)))
        g = torch.randn_like(out)
        grads = torch.autograd.grad(out, (q, k, v), g)
        rgrads = torch.autograd.grad(ref, (qr, kr, vr), g.float())
        bound = 2e-2 if dt == torch.bfloat16 else 5e-3
        for a, r in ((out, ref), *zip(grads, rgrads)):
            err = float((a.float() - r).norm() / r.norm())
            assert err <= bound, err


def bench(fn, bshd=False):
    shape = (8, 4096, 16, 128) if bshd else (8, 16, 4096, 128)
    q, k, v = (torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    with torch.no_grad():
        ms = median_ms(lambda: fn(q, k, v))
    return 4 * 8 * 16 * 4096**2 * 128 / (ms * 1e-3) / 1e12


def check(name, fn):
    t = time.perf_counter()
    try:
        res = fn()
        print(f"{name}: ok {res if res is not None else ''} ({time.perf_counter() - t:.2f} s)", flush=True)
    except Exception as exc:
        print(f"{name}: FAIL {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", flush=True)


def matmul():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = median_ms(lambda: a @ b, warmup=5, reps=20)
    return f"{2 * 8192**3 / (ms * 1e-3) / 1e12:.1f} TFLOP/s"


check("matmul_bf16", matmul)
for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                      ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)):
    def sdpa(q, k, v, backend=backend):
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v)

    check(f"sdpa_{name}", lambda sdpa=sdpa: (correct(sdpa), f"{bench(sdpa):.1f} TFLOP/s")[1])

if importlib.util.find_spec("xformers"):
    def xf():
        import xformers.ops as xops
        correct(xops.memory_efficient_attention, bshd=True)
        return f"{bench(xops.memory_efficient_attention, bshd=True):.1f} TFLOP/s"

    check("xformers", xf)
if importlib.util.find_spec("flash_attn") and importlib.util.find_spec("flash_attn.cute"):
    def fa4():
        from flash_attn.cute import flash_attn_func, flash_attn_varlen_func
        correct(flash_attn_func, bshd=True)
        q, k, v = (torch.randn((256, 4, 64), device="cuda", dtype=torch.bfloat16) for _ in range(3))
        cu = torch.tensor([0, 192, 256], device="cuda", dtype=torch.int32)
        flash_attn_varlen_func(q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=192, max_seqlen_k=192)
        return f"{bench(flash_attn_func, bshd=True):.1f} TFLOP/s"

    check("flash-attn-4", fa4)


@triton.jit
def add_kernel(x_ptr, y_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(o_ptr + offs, tl.load(x_ptr + offs, mask=m) * tl.load(y_ptr + offs, mask=m) + 1.0, mask=m)


def tri():
    x, y = torch.randn(1 << 16, device="cuda"), torch.randn(1 << 16, device="cuda")
    o = torch.empty_like(x)
    add_kernel[(64,)](x, y, o, x.numel(), BLOCK=1024)
    assert float((o - (x * y + 1)).abs().max()) <= 1e-4


check("triton", tri)


def jx():
    import jax
    import numpy as np
    a = np.random.default_rng().standard_normal((512, 512), dtype=np.float32)
    out = np.asarray(jax.jit(lambda x: jax.numpy.tanh(x @ x / 16.0))(a).block_until_ready())
    assert np.linalg.norm(out - np.tanh(a.astype(np.float64) @ a / 16.0)) / np.linalg.norm(out) < 1e-3
    img = np.random.default_rng().standard_normal((2, 8, 32, 32), dtype=np.float32)
    w = np.random.default_rng().standard_normal((16, 8, 3, 3), dtype=np.float32)
    jout = np.asarray(jax.jit(lambda a, b: jax.lax.conv(a, b, (1, 1), "VALID"))(img, w))
    tout = F.conv2d(torch.from_numpy(img).cuda(), torch.from_numpy(w).cuda()).cpu().numpy()
    assert np.linalg.norm(jout - tout) / np.linalg.norm(tout) < 5e-3
    return jax.default_backend()


check("jax (+torch in one process)", jx)
print(f"total: {time.perf_counter() - T0:.2f} s", flush=True)
os._exit(0)
