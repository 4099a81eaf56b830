"""Probe jax: import, the devices it sees, and a ``jax.jit`` matrix product on the GPU.

Checks (package ``jax``): ``import`` (jax and jaxlib versions, backend,
devices) and ``jit``: a jitted float32 ``tanh(a @ b)`` on the first GPU
compared with numpy in float64 (relative error bound 5e-3: XLA may use TF32
for float32 products on the GPU, about 1e-3 here).  When jax sees no GPU the check
runs on its CPU backend and says so; the runner sets
``XLA_PYTHON_CLIENT_PREALLOCATE=false`` so jax does not take 75% of the GPU's
memory from the probes running beside it.
"""

from __future__ import annotations

from typing import Any

from attnlock.verify.probes import _common as c


def jit_matmul_check(jax: Any, device: Any) -> dict[str, Any]:
    """Run a jitted tanh(a @ b) on ``device`` and compare with numpy float64."""
    import numpy as np

    rng = np.random.default_rng()
    a = rng.standard_normal((512, 512), dtype=np.float32)
    b = rng.standard_normal((512, 512), dtype=np.float32)
    f = jax.jit(lambda x, y: jax.numpy.tanh(x @ y / 16.0))
    out = np.asarray(f(jax.device_put(a, device), jax.device_put(b, device)).block_until_ready())
    ref = np.tanh(a.astype(np.float64) @ b.astype(np.float64) / 16.0)
    rel = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
    mx = float(np.abs(out - ref).max())
    if not rel <= 5e-3:
        raise c.Fail(f"jax.jit result differs from numpy: relative error {rel:.3g} > 5e-3", max_abs_err=mx)
    return {"max_abs_err": mx, "detail": {"rel_err": rel, "device": str(device)}}


def main() -> None:
    c.parse_args()
    rec = c.Recorder("jax")
    state: dict[str, Any] = {}

    def imp() -> dict[str, Any]:
        import jax
        import jaxlib

        backend = jax.default_backend()
        devices = [str(d) for d in jax.devices()]
        state["jax"] = jax
        state["gpu"] = backend == "gpu"
        if backend != "gpu":
            rec.device = "cpu"
        return {"version": jax.__version__,
                "detail": {"jaxlib": jaxlib.__version__, "backend": backend, "devices": devices}}

    if not rec.run("import", imp):
        rec.skip("jit", "jax failed to import")
        c.finish()
    jax = state["jax"]

    def jit() -> dict[str, Any]:
        out = jit_matmul_check(jax, jax.devices()[0])
        if not state["gpu"]:
            out["note"] = "ran on jax's CPU backend: jax sees no GPU"
        return out

    rec.run("jit", jit)
    c.finish()


if __name__ == "__main__":
    main()
