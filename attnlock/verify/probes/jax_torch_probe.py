"""Probe jax and torch in one process: both frameworks load their cuDNN and cuBLAS and still compute.

Check (package ``jax``): ``torch_coexistence``.  torch is imported first and
runs a cuBLAS matmul and a cuDNN convolution; then jax is imported and runs a
jitted matmul and a convolution (XLA calls cuDNN for it) on the GPU; then
torch runs its convolution again.  Two copies of cuDNN or cuBLAS of
different versions in one process show up here as load errors, "cuDNN
version mismatch" or wrong results, which neither framework's own check
sees.  Without a GPU it is skipped.
"""

from __future__ import annotations

from typing import Any

from attnlock.verify.probes import _common as c

# Relative L2 bound for the float32 convolutions.  Both frameworks may run them in TF32 on the GPU
# (10-bit mantissa, unit roundoff 4.9e-4): a 72-term dot product then lands near 1e-3; a wrong
# result is near 1.  (An absolute bound of 1e-2 failed on an H200: max abs error 0.0137 from TF32.)
CONV_BOUND = 5e-3


def _torch_step(torch: Any) -> float:
    x = torch.randn(256, 256, device="cuda")
    mm = float((x @ x).sum())
    img = torch.randn(2, 8, 32, 32, device="cuda")
    w = torch.randn(16, 8, 3, 3, device="cuda")
    with torch.backends.cudnn.flags(enabled=True):
        y = torch.nn.functional.conv2d(img, w)
    ref = torch.nn.functional.conv2d(img.double().cpu(), w.double().cpu())
    err = float((y.double().cpu() - ref).norm() / ref.norm())
    if not err <= CONV_BOUND:
        raise c.Fail(f"torch cuDNN convolution differs from the CPU float64 result: relative error {err:.3g}")
    return mm


def main() -> None:
    c.parse_args()
    rec = c.Recorder("jax")

    def both() -> dict[str, Any]:
        import numpy as np
        import torch

        if not torch.cuda.is_available():
            raise c.Skip("no CUDA device visible to torch")
        _torch_step(torch)
        import jax

        if jax.default_backend() != "gpu":
            raise c.Fail(f"with torch loaded first, jax runs on {jax.default_backend()!r}, not the GPU "
                         f"(devices: {jax.devices()})")
        from attnlock.verify.probes.jax_probe import jit_matmul_check

        out = jit_matmul_check(jax, jax.devices()[0])
        img = np.random.default_rng().standard_normal((2, 8, 32, 32), dtype=np.float32)
        w = np.random.default_rng().standard_normal((16, 8, 3, 3), dtype=np.float32)
        conv = jax.jit(lambda a, b: jax.lax.conv(a, b, (1, 1), "VALID"))
        jout = np.asarray(conv(img, w).block_until_ready())
        tref = torch.nn.functional.conv2d(torch.from_numpy(img).double(), torch.from_numpy(w).double()).numpy()
        err = float(np.linalg.norm(jout - tref) / np.linalg.norm(tref))
        if not err <= CONV_BOUND:
            raise c.Fail(f"jax convolution (cuDNN) differs from torch's CPU float64 result: relative error {err:.3g}")
        _torch_step(torch)
        out["detail"].update({"torch": torch.__version__, "jax": jax.__version__,
                              "torch_cudnn": torch.backends.cudnn.version(), "conv_rel_err": err})
        return out

    rec.run("torch_coexistence", both)
    c.finish()


if __name__ == "__main__":
    main()
