"""Build the :class:`~attnlock.model.Target` a command plans for: flags, else ``ATTNLOCK_*`` variables, else detection.

Precedence per field: the TARGET option (``--torch``, ``--cuda``, ``--python``,
``--platform``, ``--gpu``, ``--driver``), then its environment variable
(``ATTNLOCK_TORCH``, ``ATTNLOCK_CUDA``, ``ATTNLOCK_PYTHON``, ``ATTNLOCK_PLATFORM``,
``ATTNLOCK_GPU``, ``ATTNLOCK_CUDA_DRIVER``), then what ``attnlock detect`` finds —
detection runs only when a field is still missing and the command wants it
(``check`` does not).  ``Target.origins`` records ``flag``, ``env:NAME`` or
``detected`` per field.

Conventions the model has no field for:

* ``--gpu none`` (or ``ATTNLOCK_GPU=none``, or detection finding no GPU) leaves
  ``gpu`` None and records the origin as ``none:<where>``; :func:`gpu_absent`
  tells it apart from "unknown", which ``--gpu any`` spells (origin ``any:<where>``).
  ``--driver any`` (or ``none``) likewise means "not known".
* No GPU means a CPU plan: ``--gpu none`` without ``--cuda`` plans torch's CPU build.  So does
  a machine where detection finds no NVIDIA GPU, when none of ``--cuda``/``--gpu``/``--driver``
  (or their variables) is given and no torch is installed (an installed torch's build decides, and
  one whose build cannot be told stays "any"); the origin of
  ``cuda`` is then :data:`CPU_NO_GPU` and :func:`plan_line` is the one line that says so.  When the
  user names a CUDA variant or a driver but no GPU, detection's "no GPU here" describes this
  machine, not the target: the GPU is "any".
* A torch version with a local label (``2.3.1+cu121``) also fixes ``cuda`` when
  ``--cuda`` is not given.  ``--cuda auto`` means "not given".
* The detected CUDA variant is the installed torch's, and is used only when
  torch itself was detected (a ``--torch`` from the command line says nothing
  about the installed build).
* Several detected GPUs: the lowest compute capability is planned for (every
  kernel must run on every GPU); the origin says so.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attnlock.errors import UsageError
from attnlock.model import (
    ComputeCapability,
    CudaVariant,
    Platform,
    PythonVersion,
    Target,
    parse_specifier,
    parse_version,
)

if TYPE_CHECKING:
    from attnlock.detect.catalog import Catalog
    from attnlock.detect.report import Environment

#: field -> (option attribute, environment variable)
FIELDS = {
    "torch": ("torch", "ATTNLOCK_TORCH"),
    "cuda": ("cuda", "ATTNLOCK_CUDA"),
    "python": ("python", "ATTNLOCK_PYTHON"),
    "platform": ("platform", "ATTNLOCK_PLATFORM"),
    "gpu": ("gpu", "ATTNLOCK_GPU"),
    "driver": ("driver", "ATTNLOCK_CUDA_DRIVER"),
}
#: origin of ``cuda`` when the CPU build was chosen because this machine has no NVIDIA GPU
CPU_NO_GPU = "cpu: no NVIDIA GPU detected"
#: origin of ``cuda`` when ``--gpu none`` asked for a CPU plan
CPU_GPU_NONE = "cpu: --gpu none"
_CC = re.compile(r"(?i)(sm_?|compute_)?\d{1,2}\.?\d[af]?")


def gpu_absent(target: Target) -> bool:
    """True when the target says "no GPU" (``--gpu none``, or none detected) rather than "any GPU"."""
    origin = target.origin("gpu")
    return target.gpu is None and origin is not None and origin.startswith("none:")


def plan_line(target: Target) -> str | None:
    """The one line a planning command prints on stderr when detection chose a CPU plan (or kept
    the installed torch's GPU build on a machine without a GPU); None otherwise."""
    cuda = target.origin("cuda")
    if cuda == CPU_NO_GPU:
        return ("no NVIDIA GPU found on this machine: planning for CPU (torch's CPU build and the packages "
                "that run without a GPU); to plan for a GPU machine name it, e.g. --gpu A100 --cuda 12.4")
    if target.origin("gpu") == "none:detected" and cuda == "detected" and target.cuda is not None \
            and target.cuda.label != "cpu":
        return (f"no NVIDIA GPU found on this machine: planning for the installed torch's {target.cuda.label} "
                "build anyway; pass --cuda cpu for a CPU plan, or name the GPU machine, e.g. --gpu A100 --cuda 12.4")
    return None


def _parse_torch(text: str, what: str) -> tuple[dict[str, Any], CudaVariant | None]:
    raw = text.strip()
    if raw.lower() == "latest":
        return {"torch_latest": True}, None
    if raw[:1].isdigit():
        version = parse_version(raw, what=f"torch version ({what})")
        variant = None
        if version.local:
            try:
                variant = CudaVariant.parse(version.local)
            except UsageError:
                # A custom build's label (NGC's 2.1.0a0+32f93b1, a source build's +git…): not a
                # variant; the release is the target and the plan keeps the build (any local label
                # of it satisfies ==2.1.0a0).
                return {"torch": parse_specifier(f"=={version.public}", what=f"torch version ({what})")}, None
        return {"torch": parse_specifier(f"=={version}", what=f"torch version ({what})")}, variant
    return {"torch": parse_specifier(raw, what=f"torch version range ({what})")}, None


def _parse_gpu(text: str, what: str, catalog: Catalog | None) -> dict[str, Any] | None:
    """``{"gpu": cc, "gpu_name": name}``, ``{}`` for ``any`` (not known), or None for ``none``."""
    raw = text.strip()
    if raw.lower() == "none":
        return None
    if raw.lower() == "any":
        return {}
    if _CC.fullmatch(raw) and not re.fullmatch(r"\d{3,4}", raw):
        return {"gpu": ComputeCapability.parse(raw)}
    from attnlock.detect.catalog import CatalogUnavailable, DatabaseCatalog

    catalog = catalog or DatabaseCatalog()
    try:
        hit = catalog.gpu_capability(raw)
    except CatalogUnavailable as exc:
        raise UsageError(f"cannot look up GPU {raw!r} ({what}): {exc}",
                         hint="give its compute capability instead, e.g. --gpu sm_80") from None
    if hit is None:
        raise UsageError(f"unknown GPU {raw!r} ({what})",
                         hint="give its compute capability (sm_75, 8.0) or a name listed in data/curated/gpus.toml")
    return {"gpu": ComputeCapability.parse(hit[0]), "gpu_name": raw}


def target_from_args(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    detected: Environment | Callable[[], Environment] | None = None,
    use_detection: bool = True,
    catalog: Catalog | None = None,
) -> Target:
    """The target of a command: TARGET options, else ``ATTNLOCK_*`` variables, else detection.

    ``detected`` may be an Environment, or a callable producing one (called at
    most once, only if a field is still missing); by default
    :func:`attnlock.detect.detect` is used.  ``use_detection=False`` (``check``)
    leaves missing fields None ("any").  Malformed values raise
    :class:`~attnlock.errors.UsageError` naming the option or variable.
    """
    fields: dict[str, Any] = {}
    origins: dict[str, str] = {}
    label_variant: tuple[CudaVariant, str] | None = None

    for name, (attr, env_name) in FIELDS.items():
        value = getattr(args, attr, None)
        where, what = "flag", f"--{attr}"
        if value is None or (name == "cuda" and str(value).strip().lower() == "auto"):
            value = environ.get(env_name)
            where, what = f"env:{env_name}", env_name
            if value is not None and not value.strip():
                value = None
            if name == "cuda" and value is not None and value.strip().lower() == "auto":
                value = None
        if value is None:
            continue
        if name == "torch":
            parsed, variant = _parse_torch(value, what)
            fields.update(parsed)
            if variant is not None:
                label_variant = (variant, where)
        elif name == "cuda":
            fields["cuda"] = CudaVariant.parse(value)
        elif name == "python":
            fields["python"] = PythonVersion.parse(value)
        elif name == "platform":
            fields["platform"] = Platform.parse(value)
        elif name == "gpu":
            gpu = _parse_gpu(value, what, catalog)
            if gpu is None:
                where = f"none:{where}"
            elif not gpu:
                where = f"any:{where}"
            else:
                fields.update(gpu)
        elif name == "driver":
            if value.strip().lower() in ("none", "any"):
                where = f"none:{where}"
            else:
                fields["driver"] = parse_version(value, what=f"driver version ({what})")
                fields["driver_text"] = value.strip()
        origins[name] = where

    if "cuda" not in origins and label_variant is not None:
        fields["cuda"], origins["cuda"] = label_variant[0], f"{label_variant[1]} (torch label)"

    given = set(origins)
    missing = [n for n in FIELDS if n not in origins and not (n == "torch" and fields.get("torch_latest"))]
    if missing and use_detection:
        env = _environment(detected)
        _fill_from_detection(env, missing, fields, origins)
    _no_gpu(given, fields, origins)
    return Target(origins=tuple(sorted(origins.items())), **fields)


def _no_gpu(given: set[str], fields: dict[str, Any], origins: dict[str, str]) -> None:
    """No GPU means a CPU plan, unless the user described a GPU machine (module docstring)."""
    gpu = origins.get("gpu", "")
    if not gpu.startswith("none:"):
        return
    cuda: CudaVariant | None = fields.get("cuda")
    if gpu == "none:detected":
        described = ("cuda" in given and cuda is not None and cuda.label != "cpu") or (
            "driver" in given and fields.get("driver") is not None)
        if described:
            # --cuda 12.4 / --driver 535 on a machine without a GPU: planning for another machine.
            origins["gpu"] = "any: no GPU on this machine; --cuda/--driver describe the target"
            return
        if "cuda" not in origins and origins.get("torch") != "detected":
            # (An installed torch whose build could not be told stays "any": planning its CPU
            # build would make install/activate replace the torch the user has.)
            fields["cuda"], origins["cuda"] = CudaVariant("cpu"), CPU_NO_GPU
        return
    # --gpu none / ATTNLOCK_GPU=none: a CPU plan unless --cuda (or a torch label) says otherwise.
    if "cuda" not in given:
        fields["cuda"], origins["cuda"] = CudaVariant("cpu"), CPU_GPU_NONE


def _environment(detected: Environment | Callable[[], Environment] | None) -> Environment:
    if detected is None:
        from attnlock.detect import detect

        return detect(tags=False)
    if callable(detected):
        return detected()
    return detected


def _fill_from_detection(env: Environment, missing: list[str], fields: dict[str, Any],
                         origins: dict[str, str]) -> None:
    torch = env.torch
    if "torch" in missing and torch is not None and torch.version:
        version = parse_version(torch.version, what="detected torch version")
        # An explicit --cuda (or ATTNLOCK_CUDA) wins over the installed build's label: the release
        # stays, the build is the one asked for (a local label in the pin would override --cuda).
        fields["torch"] = parse_specifier(f"=={version if 'cuda' in missing else version.public}")
        origins["torch"] = "detected"
        if "cuda" in missing:
            # Detection decided the build variant (local label, else version.py's cuda/hip/xpu);
            # None means it could not tell, which must stay "any", never "cpu".
            if torch.variant:
                try:
                    fields["cuda"], origins["cuda"] = CudaVariant.parse(torch.variant), "detected"
                except UsageError:
                    pass  # a label attnlock does not know (a source build's "+git1234"): any
    if "python" in missing and env.python.version:
        fields["python"] = PythonVersion.parse(env.python.version)
        origins["python"] = "detected"
    if "platform" in missing and env.platform:
        fields["platform"] = Platform.parse(env.platform)
        origins["platform"] = "detected"
    if "driver" in missing and env.driver is not None and env.driver.version:
        fields["driver"] = parse_version(env.driver.version, what="detected driver version")
        fields["driver_text"] = env.driver.version.strip()
        origins["driver"] = "detected"
    if "gpu" in missing:
        known = [g for g in env.gpus if g.compute_capability]
        if not env.gpus and not any(u.fact == "gpus" for u in env.unknown):
            origins["gpu"] = "none:detected"
        elif known:
            lowest = min(known, key=lambda g: ComputeCapability.parse(g.compute_capability or ""))
            fields["gpu"] = ComputeCapability.parse(lowest.compute_capability or "")
            fields["gpu_name"] = lowest.name
            origins["gpu"] = "detected" if len(env.gpus) == 1 else f"detected (lowest of {len(env.gpus)} GPUs)"
