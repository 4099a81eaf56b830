"""Probe torch.distributed under torchrun: an NCCL all-reduce across the ranks, then gather every rank's report.

Run by each rank's ``attnlock verify`` (never by the user) with the torchrun
environment inherited (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT), at the same time as the rank's other probe children: it joins
the process group and checks the all-reduce (inside the GPU lock, so never
during another probe's timed section) while they run, then waits for the
rank's report, which its parent writes once they are done.  Check (package ``torch``): ``all_reduce``: each rank
contributes ``rank + 1`` in a 2²⁰-element float32 tensor on its GPU (NCCL;
gloo on the CPU when no GPU is visible); the sum must be ``W·(W+1)/2``
everywhere.  Then the rank's own verify report
(``--report``, JSON written by its parent), with this check added, is gathered
to rank 0 as JSON bytes in tensors (:func:`_all_gather_json`); rank 0 writes the list of reports to
``--out``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from attnlock.verify.probes import _common as c

HEARTBEAT_SECONDS = 0.2  # how often to look for the report (each look tells the runner this child is alive)


def _all_gather_json(dist: Any, obj: Any, world: int, device: str) -> list[Any]:
    """Every rank's ``obj``, gathered as JSON bytes in uint8 tensors.

    Not ``all_gather_object``: it pickles through ``tensor.numpy()``, and torch does not require
    numpy (a CPU torch without it fails there with "Numpy is not available").
    """
    import torch

    data = json.dumps(obj).encode("utf-8")
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    buf = torch.zeros(longest, dtype=torch.uint8, device=device)
    buf[: len(data)] = torch.tensor(list(data), dtype=torch.uint8, device=device)
    bufs = [torch.zeros_like(buf) for _ in range(world)]
    dist.all_gather(bufs, buf)
    return [json.loads(bytes(b[: int(n.item())].cpu().tolist()).decode("utf-8")) for b, n in zip(bufs, sizes)]


def main() -> None:
    args = c.parse_args()
    rec = c.Recorder("torch")
    state: dict[str, Any] = {}
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))

    def all_reduce() -> dict[str, Any]:
        import datetime

        import torch
        import torch.distributed as dist

        timeout = datetime.timedelta(seconds=120)
        if torch.cuda.is_available():
            backend, device = "nccl", "cuda"
            torch.cuda.set_device(0)
            dist.init_process_group(backend, timeout=timeout, device_id=torch.device("cuda", 0))
        else:  # no GPU: the same check over gloo, so the fleet path runs (and is tested) anywhere
            backend, device = "gloo", "cpu"
            rec.device = "cpu"
            dist.init_process_group(backend, timeout=timeout)
        state["dist"] = dist
        state["device"] = device
        x = torch.full((1 << 20,), float(rank + 1), device=device)
        with c.gpu_exclusive():  # never inside another probe's timed section on this GPU
            dist.all_reduce(x)
            if device == "cuda":
                torch.cuda.synchronize()
        want = world * (world + 1) / 2
        bad = float((x - want).abs().max())
        if bad != 0.0:
            raise c.Fail(f"all_reduce gave a wrong sum on rank {rank}: max deviation {bad} from {want}")
        detail: dict[str, Any] = {"world_size": world, "rank": rank, "sum": want, "backend": backend}
        if backend == "nccl":
            detail["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        return {"detail": detail}

    rec.run("all_reduce", all_reduce)
    dist = state.get("dist")
    if dist is not None:
        # This child starts beside the rank's other probes; its report appears when they are done.
        while not os.path.exists(args.report):
            c.emit({"event": "heartbeat", "waiting_for": "report"})
            time.sleep(HEARTBEAT_SECONDS)
        with open(args.report, encoding="utf-8") as fh:
            report = json.load(fh)
        mine = rec.results["torch/all_reduce"]
        row = {k: v for k, v in mine.items() if k != "event"}
        if row.get("device") != "cpu":
            row["device"] = report.get("device", "cuda:0")
        for key in ("ms", "tflops", "max_abs_err", "error", "diagnosis"):
            row.setdefault(key, None)
        row.update(rank=rank, host=socket.gethostname())
        report.setdefault("checks", []).append(row)
        report["rank"] = rank
        report["host"] = socket.gethostname()
        gathered = _all_gather_json(dist, report, world, state["device"])
        if rank == 0:
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump(gathered, fh)
        emit_done = {"event": "gathered", "ranks": world}
        c.emit(emit_done)
        dist.destroy_process_group()
    c.finish()


if __name__ == "__main__":
    main()
