"""Verify under torchrun: each rank checks its own GPU, an NCCL all-reduce is checked, rank 0 reports the fleet.

Detected from torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``).  Each rank's ``attnlock verify`` process stays free of
torch: it runs the usual probe children pinned to its GPU
(``CUDA_VISIBLE_DEVICES``) and, beside them, one more child
(:mod:`attnlock.verify.probes.distributed_probe`) that joins the NCCL
process group and checks an all-reduce while they run; once they are done
the parent writes its report to a file, and that child gathers every rank's
report to rank 0, whose parent prints the one fleet report.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlock.verify import runner
from attnlock.verify.verifier import Diagnoser, Report, attach_diagnoses, lock_path, run_verify


@dataclass(frozen=True)
class Rank:
    """This process's place in the torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    gpu: str  # the physical GPU id to pin children to

    @property
    def device(self) -> str:
        return f"cuda:{self.gpu}"


def from_env(env: Mapping[str, str]) -> Rank | None:
    """The torchrun rank described by ``env``, or None when not started by torchrun."""
    try:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    except (KeyError, ValueError):
        return None
    visible = [d.strip() for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    gpu = visible[local] if local < len(visible) else str(local)
    return Rank(rank, world, local, gpu)


def run_fleet(
    rank: Rank,
    *,
    only: list[str] | None,
    timeout: float,
    environment: dict[str, Any],
    diagnoser: Diagnoser | None,
    progress: runner.Progress | None = None,
) -> Report:
    """Verify this rank's GPU and take part in the gather; rank 0 gets the fleet report, the others their own."""
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = rank.gpu
    host = socket.gethostname()
    fields = {"rank": rank.rank, "host": host}
    with tempfile.TemporaryDirectory(prefix="attnlock-fleet-") as tmp:
        mine = os.path.join(tmp, "report.json")
        gathered = os.path.join(tmp, "fleet.json")
        # The distributed child starts first and joins the process group while the local probes run
        # (its all-reduce takes the same GPU lock as their timed sections); it waits for ``mine``.
        job = runner.Job(
            name=f"distributed@rank{rank.rank}",
            argv=runner.python_argv(["-m", "attnlock.verify.probes.distributed_probe",
                                     "--report", mine, "--out", gathered]),
            env=runner.child_env(env, {"ATTNLOCK_GPU_LOCK": lock_path(tmp, rank.device)}),
            checks=(("torch", "all_reduce"),), device=rank.device, extra=fields,
        )
        dist_results: list[dict[str, Any]] = []
        dist_thread = threading.Thread(
            target=lambda: dist_results.extend(runner.run_job(job, timeout=timeout, progress=progress)),
            daemon=True)
        dist_thread.start()
        local = run_verify(only=only, timeout=timeout, environment=environment, diagnoser=diagnoser,
                           progress=progress, base_env=env, device_label=rank.device, extra_fields=fields,
                           lock_dir=tmp)
        partial = mine + ".partial"
        with open(partial, "w", encoding="utf-8") as fh:
            json.dump({"device": rank.device, "checks": local.checks, "environment": environment,
                       "seconds": round(local.seconds, 3)}, fh)
        os.replace(partial, mine)  # the child sees the whole report or none
        dist_thread.join()
        attach_diagnoses(dist_results, diagnoser)
        reports: list[dict[str, Any]] | None = None
        if rank.rank == 0 and os.path.exists(gathered):
            with open(gathered, encoding="utf-8") as fh:
                reports = json.load(fh)
    if rank.rank != 0:
        local.checks.extend(dist_results)
        return local  # printed by nobody: rank 0 prints the fleet; the exit code still tells
    if reports is None:
        # The gather failed: report what this rank knows, with the distributed check's failure.
        local.checks.extend(dist_results)
        local.fleet = {"world_size": rank.world_size, "gathered": False,
                       "ranks": [{"rank": rank.rank, "host": host, "device": rank.device}]}
        return local
    checks: list[dict[str, Any]] = []
    ranks: list[dict[str, Any]] = []
    for rep in sorted(reports, key=lambda r: int(r.get("rank", 0))):
        rows = rep.get("checks", [])
        checks.extend(rows)
        counts = {"pass": 0, "fail": 0, "skip": 0}
        for r in rows:
            counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
        ranks.append({"rank": rep.get("rank"), "host": rep.get("host"), "device": rep.get("device"),
                      "seconds": rep.get("seconds"), "summary": counts})
    # The all-reduce results were added in the children after diagnosis ran: diagnose any failures now.
    attach_diagnoses(checks, diagnoser)
    return Report(checks=checks, environment=environment, seconds=local.seconds,
                  fleet={"world_size": rank.world_size, "gathered": True, "ranks": ranks})
