"""Orchestrate one verification: pick the probe groups, run them per GPU in parallel, then judge and diagnose.

The parent process never imports torch, jax or a kernel package: it reads
installed versions from package metadata, counts GPUs from ``detect`` (or
``CUDA_VISIBLE_DEVICES``), starts the probe children with
:mod:`attnlock.verify.runner`, adds the derived ``torch/fastest_attention``
check (:mod:`attnlock.verify.fallback`) and passes every failed check's error
and stderr tail through :func:`attnlock.diagnose.diagnose`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnlock.verify import fallback, plan, runner

Result = dict[str, Any]
Diagnoser = Callable[[str], "dict[str, Any] | None"]


@dataclass
class Report:
    """What verify found: every check in order, the environment, and the wall time."""

    checks: list[Result]
    environment: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    fleet: dict[str, Any] | None = None

    @property
    def failed(self) -> list[Result]:
        return [c for c in self.checks if c.get("status") == "fail"]

    def summary(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "skip": 0}
        for c in self.checks:
            out[str(c.get("status"))] = out.get(str(c.get("status")), 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"environment": self.environment, "checks": self.checks,
                                "summary": self.summary(), "seconds": round(self.seconds, 3)}
        if self.fleet is not None:
            data["fleet"] = self.fleet
        return data


def visible_gpus(environment: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The GPU ids children can be pinned to: CUDA_VISIBLE_DEVICES entries if set, else detect's GPU indexes."""
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return [d.strip() for d in cvd.split(",") if d.strip() and d.strip() != "-1"]
    gpus = environment.get("gpus") or []
    return [str(g.get("index", i)) for i, g in enumerate(gpus) if isinstance(g, dict)]


def lock_path(lock_dir: str, label: str) -> str:
    """The file whose lock serialises timed GPU work of every probe on the GPU ``label``."""
    return os.path.join(lock_dir, f"gpu-{label.replace(':', '_')}.lock")


def build_jobs(
    groups: Sequence[plan.Group],
    gpus: Sequence[str] | None,
    *,
    base_env: Mapping[str, str],
    lock_dir: str,
    extra_args: Sequence[str] = (),
    extra_fields: Mapping[str, Any] | None = None,
    device_label: str = "cuda:0",
) -> list[runner.Job]:
    """One job per group, or per (GPU, group) when ``gpus`` is given (each pinned by CUDA_VISIBLE_DEVICES)."""
    jobs: list[runner.Job] = []
    targets: list[tuple[str, dict[str, str]]]
    if gpus:
        targets = [(f"cuda:{g}", {"CUDA_VISIBLE_DEVICES": g}) for g in gpus]
    else:
        targets = [(device_label, {})]
    for label, pin in targets:
        lock = lock_path(lock_dir, label)
        for g in groups:
            env = runner.child_env(base_env, {**dict(g.env), **pin, "ATTNLOCK_GPU_LOCK": lock})
            jobs.append(runner.Job(name=f"{g.name}@{label}", argv=runner.python_argv([*g.argv, *extra_args]),
                                   env=env, checks=g.checks, device=label, extra=dict(extra_fields or {})))
    return jobs


def skipped_results(selection: plan.Selection, device: str) -> list[Result]:
    """The ``skip`` rows for packages that are not installed."""
    return [{"package": p, "check": c, "device": device, "status": "skip", "reason": why, "ms": None,
             "tflops": None, "max_abs_err": None, "error": None, "diagnosis": None}
            for p, c, why in selection.skipped]


def attach_diagnoses(results: Sequence[Result], diagnoser: Diagnoser | None) -> None:
    """Give every failed check ``diagnosis = {"id", "fix", …}`` (None when nothing matched or none is available)."""
    for r in results:
        if r.get("status") != "fail" or r.get("diagnosis"):
            continue
        if diagnoser is None:
            r["diagnosis"] = None
            continue
        text = "\n".join(str(r.get(k) or "") for k in ("error", "related_errors", "stderr_tail"))
        r["diagnosis"] = diagnoser(text)


def default_diagnoser(target: Any = None) -> Diagnoser | None:
    """A diagnoser over :func:`attnlock.diagnose.diagnose` and the shipped database, or None if unavailable."""
    try:
        from attnlock.diagnose import diagnose
    except ImportError:
        return None
    db: Any = None
    try:
        from attnlock.database import load

        db = load()
    except Exception:  # no shipped database: diagnose falls back to the signatures' own texts
        db = None

    def run(text: str) -> dict[str, Any] | None:
        found = diagnose(text, target=target, db=db)
        if not found:
            return None
        first = found[0]
        return {"id": first.id, "fix": first.fix, "cause": first.cause, "commands": list(first.commands),
                "evidence": first.evidence, "also": [d.id for d in found[1:]]}

    return run


def run_verify(
    *,
    only: Sequence[str] | None = None,
    all_gpus: bool = False,
    timeout: float = 180.0,
    environment: dict[str, Any] | None = None,
    diagnoser: Diagnoser | None = None,
    progress: runner.Progress | None = None,
    groups: tuple[plan.Group, ...] = plan.GROUPS,
    installed: Callable[[str], str | None] = plan.installed_version,
    base_env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    extra_fields: Mapping[str, Any] | None = None,
    device_label: str = "cuda:0",
    parallel: int | None = None,
    lock_dir: str | None = None,
) -> Report:
    """Run the selected probes (every visible GPU with ``all_gpus``) and return the judged, diagnosed report."""
    t0 = time.perf_counter()
    env = dict(os.environ if base_env is None else base_env)
    environment = environment or {}
    selection = plan.select(only, installed=installed, groups=groups)
    gpus = visible_gpus(environment, env) if all_gpus else None
    with tempfile.TemporaryDirectory(prefix="attnlock-verify-") as own_dir:
        jobs = build_jobs(selection.groups, gpus, base_env=env, lock_dir=lock_dir or own_dir,
                          extra_args=extra_args, extra_fields=extra_fields, device_label=device_label)
        width = parallel or max(2, min(len(jobs), os.cpu_count() or 2))
        results = runner.run_jobs(jobs, timeout=timeout, parallel=width, progress=progress)
    results.extend(fallback.assess(results))
    results.extend(skipped_results(selection, "-"))
    for r in results:
        if extra_fields:
            for k, v in extra_fields.items():
                r.setdefault(k, v)
    attach_diagnoses(results, diagnoser)
    return Report(checks=results, environment=environment, seconds=time.perf_counter() - t0)
