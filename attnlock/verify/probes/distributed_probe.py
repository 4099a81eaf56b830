"""Probe torch.distributed under torchrun: an NCCL all-reduce across the ranks, then gather every rank's report.

Run by each rank's ``attnlock verify`` (never by the user) with the torchrun
environment inherited (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT).  Check (package ``torch``): ``nccl_all_reduce``: each rank
contributes ``rank + 1`` in a 2²⁰-element float32 tensor on its GPU; the sum
must be ``W·(W+1)/2`` everywhere.  Then the rank's own verify report
(``--report``, JSON written by its parent), with this check added, is gathered
to rank 0 through ``all_gather_object``; rank 0 writes the list of reports to
``--out``.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from attnlock.verify.probes import _common as c


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

        if not torch.cuda.is_available():
            raise c.Skip("no CUDA device visible to torch: NCCL needs one")
        torch.cuda.set_device(0)
        dist.init_process_group("nccl", timeout=datetime.timedelta(seconds=120),
                                device_id=torch.device("cuda", 0))
        state["dist"] = dist
        x = torch.full((1 << 20,), float(rank + 1), device="cuda")
        dist.all_reduce(x)
        torch.cuda.synchronize()
        want = world * (world + 1) / 2
        bad = float((x - want).abs().max())
        if bad != 0.0:
            raise c.Fail(f"all_reduce gave a wrong sum on rank {rank}: max deviation {bad} from {want}")
        return {"detail": {"world_size": world, "rank": rank, "sum": want, "backend": "nccl",
                           "nccl": ".".join(map(str, torch.cuda.nccl.version()))}}

    rec.run("nccl_all_reduce", all_reduce)
    dist = state.get("dist")
    if dist is not None:
        with open(args.report, encoding="utf-8") as fh:
            report = json.load(fh)
        mine = rec.results["torch/nccl_all_reduce"]
        report.setdefault("checks", []).append(
            {k: v for k, v in mine.items() if k != "event"} | {"device": report.get("device", "cuda:0")}
        )
        report["rank"] = rank
        report["host"] = socket.gethostname()
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, report)
        if rank == 0:
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump(gathered, fh)
        emit_done = {"event": "gathered", "ranks": world}
        c.emit(emit_done)
        dist.destroy_process_group()
    c.finish()


if __name__ == "__main__":
    main()
