"""The words every emitter's header uses: the target in one line and the command that regenerates it."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from attnlock.model import Plan, Target


def gpu_words(target: Target) -> str:
    """``GPU sm_80 (A100)``, ``GPU none (CPU plan)`` for a machine without a GPU, ``GPU any`` when not known."""
    if target.gpu is not None:
        return f"GPU {target.gpu}" + (f" ({target.gpu_name})" if target.gpu_name else "")
    origin = target.origin("gpu") or ""
    if origin.startswith("none:"):
        cpu = target.cuda is not None and target.cuda.kind == "cpu"
        return "GPU none (CPU plan)" if cpu else "GPU none"
    return "GPU any"


def target_words(plan: Plan) -> str:
    """``torch 2.3.1+cu118 · Python 3.11 · linux-x86_64 · GPU sm_80 · driver 535.104.05``.

    Versions are printed as the user wrote them (``--driver 535.104.05``, not ``535.104.5``); an
    unknown GPU or driver is ``any``, a machine without a GPU ``GPU none`` — the words the
    regenerate line's ``--gpu`` / ``--driver`` take.
    """
    t = plan.target
    torch = plan.pin("torch")
    parts = [f"torch {torch.version}" if torch is not None else f"torch {t.torch or 'any'}"]
    parts.append(f"Python {t.python}" if t.python else "Python any")
    parts.append(str(t.platform) if t.platform else "any platform")
    parts.append(gpu_words(t))
    parts.append(f"driver {t.driver_words}" if t.driver is not None else "driver any")
    return " · ".join(parts)


def target_argv(target: Target) -> list[str]:
    """TARGET options that reproduce ``target`` without detection."""
    argv: list[str] = []
    spec = str(target.torch) if target.torch is not None else ""
    if spec.startswith("==") and "," not in spec and "*" not in spec:
        argv += ["--torch", spec[2:]]
    elif spec:
        argv += ["--torch", spec]
    else:
        argv += ["--torch", "latest"]
    if target.cuda is not None:
        argv += ["--cuda", target.cuda.label]
    if target.python is not None:
        argv += ["--python", str(target.python)]
    if target.platform is not None:
        argv += ["--platform", str(target.platform)]
    if target.gpu is not None:
        argv += ["--gpu", str(target.gpu)]
    else:
        argv += ["--gpu", "none" if (target.origin("gpu") or "").startswith("none:") else "any"]
    argv += ["--driver", target.driver_words or "any"]
    return argv


def regenerate_command(plan: Plan, fmt: str, *, output: str | None = None, with_: Sequence[str] | None = None,
                       allow_build: Sequence[str] = (), pyproject: str | None = None,
                       skip_missing: bool = False, allow_known_bad: Sequence[str] = (),
                       sources: Sequence[str] = ()) -> str:
    """The exact ``attnlock generate`` command line that rebuilds this output."""
    argv = ["attnlock", "generate", *target_argv(plan.target)]
    if with_:
        argv += ["--with", ",".join(with_)]
        if skip_missing:
            argv.append("--skip-missing")
    if allow_build:
        argv += ["--allow-build", ",".join(allow_build)]
    for record in allow_known_bad:
        argv += ["--allow-known-bad", record]
    for name in sources:
        argv += ["--source", name]
    if fmt != "constraints":
        argv += ["--format", fmt]
    if pyproject:
        argv += ["--pyproject", pyproject]
    if output:
        argv += ["-o", output]
    return shlex.join(argv)
