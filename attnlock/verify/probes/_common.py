"""Child-side plumbing of every probe: the result stream, the check runner, the GPU lock and the numerics.

The wire protocol (read by :mod:`attnlock.verify.runner`): each event is one
line on the child's original standard output, ``@@attnlock `` followed by a
JSON object::

    {"event": "start",  "package": "torch", "check": "sdpa_flash"}
    {"event": "result", "package": "torch", "check": "sdpa_flash", "status": "pass",
     "ms": 0.77, "tflops": 357.0, "max_abs_err": 0.0039, "kind": "attention", "detail": {...}}

The child moves its own file descriptor 1 onto standard error before any
library is imported (:func:`take_stdout`, run by :func:`parse_args`; nothing
happens at import time), so whatever torch, jax or a kernel package prints goes
to the stderr tail and can never corrupt the stream.

Tolerances (``TOLERANCE``): outputs of a half-precision kernel are compared
with a float32 attention computed from the *same* rounded inputs, by the
relative error ``‖out − ref‖₂ / ‖ref‖₂`` (NaN or Inf never pass).  bf16 keeps
8 significant bits (unit roundoff 2⁻⁹ ≈ 2e-3): a correct fused kernel lands at
about 3e-3–5e-3 (softmax probabilities and the output are rounded to bf16), so
the bound is 2e-2, four times the usual error, far below the ≈1 of a wrong
result.  fp16 keeps 11 bits (unit roundoff 4.9e-4): correct kernels land near
5e-4, the bound is 5e-3.  Gradients of q, k and v use the same bounds (they
accumulate over the sequence, but the relative measure absorbs their scale).
``max_abs_err`` is reported beside it for the CLI's JSON shape.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any, TextIO

_STREAM: TextIO | None = None

MARK = "@@attnlock "

# name -> (relative L2 bound).  See the module docstring for why.
TOLERANCE = {"bfloat16": 2e-2, "float16": 5e-3}

# The standard throughput shape (B, H, S, D) and the matmul size.
BENCH_SHAPE = (8, 16, 4096, 128)
MATMUL_N = 8192
# Small correctness shape (B, H, S, D): big enough for several tiles, small enough to be instant.
SMALL_SHAPE = (2, 4, 256, 64)


class Skip(Exception):
    """Raised inside a check to report it as skipped, with the reason as message."""


class Fail(Exception):
    """Raised inside a check to report a failure whose numbers are still worth keeping."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields


def take_stdout() -> TextIO:
    """Keep fd 1 for the result stream, then point fd 1 (and ``sys.stdout``) at stderr; once per process.

    Called by :func:`parse_args`, which every probe runs before importing any
    library, so nothing a library prints can reach the stream.
    """
    global _STREAM
    if _STREAM is None:
        sys.stdout.flush()
        _STREAM = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    return _STREAM


def emit(obj: dict[str, Any]) -> None:
    """Write one event line on the result stream."""
    stream = take_stdout()
    stream.write(MARK + json.dumps(obj, default=str) + "\n")
    stream.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments every probe takes (set by the runner)."""
    p = argparse.ArgumentParser()
    p.add_argument("--no-bench", action="store_true", help="skip throughput measurements")
    p.add_argument("--variant", default="")
    p.add_argument("--report", default="")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    take_stdout()
    return args


class Recorder:
    """Runs checks one after the other, emitting a start and a result event for each.

    Set ``device = "cpu"`` once the probe knows no GPU is visible: results then
    say so instead of carrying the runner's GPU label.
    """

    def __init__(self, package: str) -> None:
        self.package = package
        self.device: str | None = None
        self.results: dict[str, dict[str, Any]] = {}

    def run(self, check: str, fn: Callable[[], dict[str, Any] | None], package: str | None = None) -> bool:
        """Run ``fn``; its returned dict adds fields to the result.  True when it passed."""
        pkg = package or self.package
        emit({"event": "start", "package": pkg, "check": check})
        t0 = time.perf_counter()
        res: dict[str, Any] = {"event": "result", "package": pkg, "check": check, "status": "pass"}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with gpu_shared():
                    extra = fn() or {}
                res.update(extra)
            except Skip as exc:
                res.update(status="skip", reason=str(exc))
            except Fail as exc:
                res.update(exc.fields)
                res.update(status="fail", error=str(exc))
            except BaseException as exc:  # the check's failure, whatever it is, is the data
                if isinstance(exc, KeyboardInterrupt):
                    raise
                tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
                res.update(status="fail", error=f"{type(exc).__name__}: {exc}", traceback="".join(tb)[-4000:])
        notes = _warning_lines(caught)
        if notes:
            res["warnings"] = notes
            if res["status"] == "fail":
                # Warnings often carry the reason (e.g. "Torch was not compiled with flash attention").
                res["error"] = res.get("error", "") + "\n" + "\n".join(notes)
        res["seconds"] = round(time.perf_counter() - t0, 3)
        if self.device:
            res["device"] = self.device
        self.results[f"{pkg}/{check}"] = res
        emit(res)
        return bool(res["status"] == "pass")

    def skip(self, check: str, reason: str, package: str | None = None) -> None:
        """Report ``check`` as skipped without running anything."""
        pkg = package or self.package
        res = {"event": "result", "package": pkg, "check": check, "status": "skip", "reason": reason}
        if self.device:
            res["device"] = self.device
        self.results[f"{pkg}/{check}"] = res
        emit(res)


def _warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    seen: list[str] = []
    for w in caught:
        line = f"{w.category.__name__}: {w.message}"
        if line not in seen:
            seen.append(line)
    return seen[:10]


class _GpuLock:
    """A readers-writer lock on one GPU across probe children (``flock`` on ``ATTNLOCK_GPU_LOCK``).

    Every check holds it shared while it runs (imports, correctness checks and warm-ups of several
    children overlap freely); a timed section takes it exclusive, so no other child's kernels run on
    the GPU while a throughput figure is measured.  One open file per process: ``flock`` converts the
    held lock in place (shared -> exclusive -> shared), releasing it first, so two children that
    upgrade at once cannot deadlock.
    """

    def __init__(self) -> None:
        self.fh: IO[bytes] | None = None
        self.depth = 0

    def _file(self) -> IO[bytes] | None:
        path = os.environ.get("ATTNLOCK_GPU_LOCK")
        if not path:
            return None
        if self.fh is None:
            self.fh = open(path, "a+b")  # noqa: SIM115 - held for the life of the child
        return self.fh

    @staticmethod
    def _drain() -> None:
        """Wait for this process's queued GPU work before the lock changes hands."""
        torch = sys.modules.get("torch")
        try:
            if torch is not None and torch.cuda.is_initialized():
                torch.cuda.synchronize()
        except Exception:  # a broken CUDA context is the check's failure, reported by its own result
            return

    @contextlib.contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        fh = self._file()
        if fh is None:
            yield
            return
        import fcntl

        outer = self.depth
        self._drain()
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        self.depth += 1
        try:
            yield
        finally:
            self._drain()
            self.depth -= 1
            if outer:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH)  # back to the enclosing check's shared hold
            else:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


_GPU_LOCK = _GpuLock()


def gpu_shared() -> contextlib.AbstractContextManager[None]:
    """Hold the per-GPU lock shared: GPU work that may overlap other children's, but never a timed section."""
    return _GPU_LOCK.hold(exclusive=False)


def gpu_exclusive() -> contextlib.AbstractContextManager[None]:
    """Hold the per-GPU lock exclusive so a timed section has the GPU to itself (``ATTNLOCK_GPU_LOCK``)."""
    return _GPU_LOCK.hold(exclusive=True)


def attention_flops(b: int, h: int, s: int, d: int) -> float:
    """Forward attention FLOPs: two S×S×D matrix products per head, 2 FLOPs per multiply-add → 4·B·H·S²·D."""
    return 4.0 * b * h * s * s * d


def rel_err(out: Any, ref: Any) -> tuple[float, float]:
    """(‖out − ref‖₂ / ‖ref‖₂, max |out − ref|) in float32; NaN when either has a non-finite value."""
    o = out.detach().float()
    r = ref.detach().float()
    diff = o - r
    denom = float(r.norm())
    rel = float(diff.norm()) / denom if denom > 0 else float(diff.norm())
    mx = float(diff.abs().max())
    if not (math.isfinite(rel) and math.isfinite(mx)):
        return math.nan, math.nan
    return rel, mx


def judge(name: str, dtype: str, rel: float, mx: float, detail: dict[str, Any]) -> float:
    """Record ``name``'s error in ``detail``; raise :class:`Fail` when it exceeds the dtype's bound."""
    detail[name] = {"rel_err": rel, "max_abs_err": mx}
    bound = TOLERANCE[dtype]
    if not (rel <= bound):  # NaN fails too
        raise Fail(
            f"{name}: relative error {rel:.3g} exceeds {bound:g} for {dtype} (max abs error {mx:.3g})",
            detail=detail,
            max_abs_err=mx,
        )
    return mx


def reference_attention(q: Any, k: Any, v: Any, layout: str = "bhsd") -> Any:
    """Float32 softmax(q·kᵀ/√d)·v from the given (rounded) inputs; ``layout`` is bhsd or bshd."""
    import torch

    if layout == "bshd":
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    qf, kf, vf = q.float(), k.float(), v.float()
    scale = 1.0 / math.sqrt(q.shape[-1])
    p = torch.softmax(torch.matmul(qf, kf.transpose(-2, -1)) * scale, dim=-1)
    out = torch.matmul(p, vf)
    if layout == "bshd":
        out = out.transpose(1, 2)
    return out


def check_attention(
    fn: Callable[[Any, Any, Any], Any],
    device: str,
    *,
    layout: str = "bhsd",
    dtypes: tuple[str, ...] = ("bfloat16", "float16"),
    backward: bool = True,
) -> dict[str, Any]:
    """Forward (and backward) of ``fn(q, k, v)`` on fresh random inputs vs the float32 reference."""
    import torch

    b, h, s, d = SMALL_SHAPE
    shape = (b, h, s, d) if layout == "bhsd" else (b, s, h, d)
    detail: dict[str, Any] = {}
    worst = 0.0
    for dt in dtypes:
        dtype = getattr(torch, dt)
        q, k, v = (torch.randn(shape, device=device, dtype=dtype, requires_grad=backward) for _ in range(3))
        out = fn(q, k, v)
        if isinstance(out, tuple):
            out = out[0]
        qr, kr, vr = (t.detach().clone().requires_grad_(backward) for t in (q, k, v))
        ref = reference_attention(qr, kr, vr, layout)
        worst = max(worst, judge(f"forward {dt}", dt, *rel_err(out, ref), detail))
        if backward:
            g = torch.randn_like(out)
            gq, gk, gv = torch.autograd.grad(out, (q, k, v), g)
            rq, rk, rv = torch.autograd.grad(ref, (qr, kr, vr), g.float())
            for name, a, r in (("dq", gq, rq), ("dk", gk, rk), ("dv", gv, rv)):
                worst = max(worst, judge(f"backward {dt} {name}", dt, *rel_err(a, r), detail))
    return {"max_abs_err": worst, "detail": detail}


def time_cuda(fn: Callable[[], Any], *, warmup: int = 3, reps: int = 10) -> float:
    """Median milliseconds of ``fn`` on the current CUDA device, timed with events after a warm-up."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return float(times[len(times) // 2])


def bench_attention(fn: Callable[[Any, Any, Any], Any], device: str, layout: str = "bhsd") -> dict[str, Any]:
    """Forward throughput of ``fn`` on the standard bf16 shape: ms and TFLOP/s (4·B·H·S²·D FLOPs)."""
    import torch

    b, h, s, d = BENCH_SHAPE
    shape = (b, h, s, d) if layout == "bhsd" else (b, s, h, d)
    q, k, v = (torch.randn(shape, device=device, dtype=torch.bfloat16) for _ in range(3))
    with torch.no_grad(), gpu_exclusive():
        ms = time_cuda(lambda: fn(q, k, v))
    del q, k, v
    return {"ms": round(ms, 4), "tflops": round(attention_flops(b, h, s, d) / (ms * 1e-3) / 1e12, 1),
            "kind": "attention", "shape": {"B": b, "H": h, "S": s, "D": d, "dtype": "bfloat16"}}


def finish() -> None:
    """Flush the stream and leave without running interpreter teardown (some CUDA libraries crash there)."""
    take_stdout().flush()
    sys.stderr.flush()
    os._exit(0)
