"""Probe torch: import and CUDA, the bf16 matmul rate, and SDPA with each backend alone.

Checks (package ``torch``): ``import``, ``matmul_bf16`` (8192³, the GPU's
practical dense bf16 rate that attention is compared against), and
``sdpa_flash``, ``sdpa_efficient``, ``sdpa_cudnn``, ``sdpa_math``: each
backend enabled alone through ``torch.nn.attention.sdpa_kernel``, forward and
backward vs a float32 reference, then forward throughput on the standard
shape.  Without a GPU the SDPA backends run their CPU paths (correctness only)
where torch has one, and the GPU-only parts are skipped with the reason.
"""

from __future__ import annotations

import functools

from attnlock.verify.probes import _common as c

BACKENDS = {
    "sdpa_flash": "FLASH_ATTENTION",
    "sdpa_efficient": "EFFICIENT_ATTENTION",
    "sdpa_cudnn": "CUDNN_ATTENTION",
    "sdpa_math": "MATH",
}


def main() -> None:
    args = c.parse_args()
    rec = c.Recorder("torch")
    state: dict[str, object] = {}

    def imp() -> dict[str, object]:
        import torch

        info: dict[str, object] = {
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cuda_available": torch.cuda.is_available(),
            "cxx11abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
        }
        if torch.cuda.is_available():
            torch.zeros(1, device="cuda")  # touch the device: context creation errors surface here
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = props.name
            info["compute_capability"] = f"{props.major}.{props.minor}"
            info["arch_list"] = torch.cuda.get_arch_list()
        state["cuda"] = torch.cuda.is_available()
        rec.device = None if state["cuda"] else "cpu"
        return {"version": torch.__version__, "detail": info}

    if not rec.run("import", imp):
        for name in ["matmul_bf16", *BACKENDS]:
            rec.skip(name, "torch failed to import")
        c.finish()
    on_gpu = bool(state["cuda"])
    if not on_gpu:
        rec.device = "cpu"
    device = "cuda" if on_gpu else "cpu"

    def matmul() -> dict[str, object]:
        import torch

        if not on_gpu:
            raise c.Skip("no CUDA device visible to torch")
        if args.no_bench:
            raise c.Skip("throughput measurements disabled")
        n = c.MATMUL_N
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        with c.gpu_exclusive():
            ms = c.time_cuda(lambda: torch.matmul(a, b), warmup=5, reps=20)
        return {"ms": round(ms, 4), "tflops": round(2.0 * n**3 / (ms * 1e-3) / 1e12, 1), "kind": "matmul",
                "shape": {"M": n, "N": n, "K": n, "dtype": "bfloat16"}}

    rec.run("matmul_bf16", matmul)

    for check, backend_name in BACKENDS.items():
        rec.run(check, functools.partial(_sdpa, backend_name, device, on_gpu, args.no_bench))
    c.finish()


def _sdpa(backend_name: str, device: str, on_gpu: bool, no_bench: bool) -> dict[str, object]:
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = getattr(SDPBackend, backend_name)

    def fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v)

    if not on_gpu:
        try:
            out = c.check_attention(fn, "cpu", dtypes=("bfloat16",))
        except RuntimeError as exc:
            if "No available kernel" in str(exc) or "No viable backend" in str(exc):
                raise c.Skip("no CPU path for this backend, and no CUDA device") from exc
            raise
        out["note"] = "CPU path only: no CUDA device visible to torch"
        return out
    out = c.check_attention(fn, device)
    if not no_bench:
        out.update(c.bench_attention(fn, device))
    return out


if __name__ == "__main__":
    main()
