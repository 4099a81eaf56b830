"""Probe xformers: its C++/CUDA library loads, ``memory_efficient_attention`` runs, and which operators are usable.

Checks (package ``xformers``): ``import`` fails when xformers' compiled
extension did not load (the "xFormers was built for: PyTorch …" mismatch: the
package imports, but every kernel is gone); ``memory_efficient_attention``
forward and backward vs a float32 reference, then throughput on the standard
shape; ``operators`` lists each forward operator of ``xformers.ops.fmha`` as
usable or not, with xformers' own reasons, and fails when none is usable.
"""

from __future__ import annotations

from typing import Any

from attnlock.verify.probes import _common as c

# Modules of xformers.ops.fmha that define a forward operator class ``FwOp``.
_OPERATOR_MODULES = ("flash3", "flash", "cutlass", "cutlass_blackwell", "ck", "ck_splitk", "triton_splitk")


def main() -> None:
    args = c.parse_args()
    rec = c.Recorder("xformers")
    state: dict[str, Any] = {}

    def imp() -> dict[str, Any]:
        import torch
        import xformers
        from xformers import _cpp_lib

        state["cuda"] = torch.cuda.is_available()
        rec.device = None if state["cuda"] else "cpu"
        build = _cpp_lib._build_metadata
        detail: dict[str, Any] = {"torch": torch.__version__}
        exc = _cpp_lib._cpp_library_load_exception
        if exc is not None:
            cause = exc.__cause__
            msg = str(exc)
            if cause is not None:
                msg += f"\n  caused by {type(cause).__name__}: {cause}"
            raise c.Fail(msg, version=getattr(xformers, "__version__", None), detail=detail)
        if build is not None:
            detail["built_for"] = {"torch": build.torch_version, "cuda": build.cuda_version,
                                   "python": build.python_version}
        return {"version": getattr(xformers, "__version__", None), "detail": detail}

    rec.run("import", imp)
    if "cuda" not in state:
        for name in ("memory_efficient_attention", "operators"):
            rec.skip(name, "xformers failed to import")
        c.finish()
    on_gpu = bool(state["cuda"])
    if not on_gpu:
        rec.device = "cpu"
    device = "cuda" if on_gpu else "cpu"

    def mea() -> dict[str, Any]:
        import xformers.ops as xops

        def fn(q: Any, k: Any, v: Any) -> Any:
            return xops.memory_efficient_attention(q, k, v)

        if not on_gpu:
            raise c.Skip("no CUDA device visible to torch (xformers' attention operators take CUDA tensors only)")
        out = c.check_attention(fn, device, layout="bshd")
        if not args.no_bench:
            out.update(c.bench_attention(fn, device, layout="bshd"))
        return out

    rec.run("memory_efficient_attention", mea)

    def operators() -> dict[str, Any]:
        import importlib

        import torch
        from xformers.ops import fmha

        if not on_gpu:
            raise c.Skip("no CUDA device visible to torch (xformers' attention operators take CUDA tensors only)")
        b, h, s, d = c.SMALL_SHAPE
        q, k, v = (torch.randn((b, s, h, d), device=device, dtype=torch.bfloat16) for _ in range(3))
        inp = fmha.Inputs(query=q, key=k, value=v)
        usable: list[str] = []
        unusable: dict[str, list[str]] = {}
        for mod_name in _OPERATOR_MODULES:
            try:
                mod = importlib.import_module(f"xformers.ops.fmha.{mod_name}")
            except Exception as exc:  # an operator module that cannot import is an unusable operator
                unusable[mod_name] = [f"import failed: {type(exc).__name__}: {exc}"]
                continue
            op = getattr(mod, "FwOp", None)
            if op is None:
                continue
            name = getattr(op, "NAME", mod_name)
            try:
                reasons = list(op.not_supported_reasons(inp))
            except Exception as exc:
                reasons = [f"{type(exc).__name__}: {exc}"]
            if not reasons:
                try:
                    fmha.memory_efficient_attention_forward(q, k, v, op=op)
                    torch.cuda.synchronize() if on_gpu else None
                except Exception as exc:
                    reasons = [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]
            if reasons:
                unusable[name] = reasons
            else:
                usable.append(name)
        detail = {"usable": usable, "unusable": unusable, "inputs": f"bf16 {tuple(q.shape)} on {device}"}
        if not usable:
            lines = [f"`{n}` is not supported because:\n    " + "\n    ".join(r) for n, r in unusable.items()]
            raise c.Fail("No operator found for memory_efficient_attention_forward with bf16 inputs:\n"
                         + "\n".join(lines), detail=detail)
        return {"detail": detail}

    rec.run("operators", operators)
    c.finish()


if __name__ == "__main__":
    main()
