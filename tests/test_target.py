"""target_from_args: flags over ATTNLOCK_* variables over detection; detection only when needed; origins recorded."""

from __future__ import annotations

import argparse

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from attnlock.cli import build_parser
from attnlock.detect.catalog import CatalogUnavailable
from attnlock.detect.torchfiles import torch_variant
from attnlock.detect.report import DriverFacts, Environment, GpuFacts, LibcFacts, PythonFacts, TorchFacts, Unknown
from attnlock.errors import UsageError
from attnlock.model import ComputeCapability, CudaVariant, Platform, PythonVersion
from attnlock.target import CPU_GPU_NONE, CPU_NO_GPU, gpu_absent, plan_line, target_from_args


class Catalog:
    def __init__(self, gpus: dict[str, str] | None = None, broken: bool = False) -> None:
        self.gpus, self.broken = gpus or {}, broken

    def gpu_capability(self, name: str) -> tuple[str, str] | None:
        if self.broken:
            raise CatalogUnavailable("gpus.toml missing")
        return (self.gpus[name], "test") if name in self.gpus else None

    def cuda_max_for_driver(self, driver: str, os_name: str) -> tuple[str, str] | None:
        return None


CATALOG = Catalog({"T4": "7.5", "A100": "8.0", "NVIDIA H100 80GB HBM3": "9.0"})


def args(**kw: str) -> argparse.Namespace:
    ns = argparse.Namespace(torch=None, cuda=None, python=None, platform=None, gpu=None, driver=None)
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def environment(*, torch: str | None = "2.13.0+cpu", cuda: str | None = None,
                gpus: tuple[tuple[str, str | None], ...] = (), driver: str | None = None) -> Environment:
    variant = None if torch is None else torch_variant(torch, "t", {"cuda": cuda})[0]
    tf = None if torch is None else TorchFacts(torch, torch, cuda, None, None, None, None, False, True, None, None, "t",
                                               variant, "t")
    return Environment(
        python=PythonFacts("3.12.3", "cpython", "sys"), platform="linux-x86_64", platform_source="sys",
        libc=LibcFacts("glibc", "2.35", "x"), tags=(), tags_source="x", torch=tf,
        driver=None if driver is None else DriverFacts(driver, "13.0", "x", "x"),
        gpus=tuple(GpuFacts(i, n, cc, None, None, "x", None) for i, (n, cc) in enumerate(gpus)),
        gpus_source="x", packages={},
    )


def never() -> Environment:
    raise AssertionError("detection must not run")


def test_all_flags_no_detection() -> None:
    t = target_from_args(args(torch="2.3.1", cuda="cu121", python="3.10", platform="linux-aarch64",
                              gpu="sm_80", driver="535.104.05"), environ={}, detected=never)
    assert t.torch == SpecifierSet("==2.3.1") and t.cuda == CudaVariant("cuda", Version("12.1"))
    assert (t.python, t.platform, t.gpu) == (PythonVersion(3, 10), Platform("linux", "aarch64"), ComputeCapability(8, 0))
    assert t.driver == Version("535.104.05")
    assert dict(t.origins) == {k: "flag" for k in ("torch", "cuda", "python", "platform", "gpu", "driver")}


def test_parsed_from_the_real_parser() -> None:
    parser = build_parser()
    sub = argparse.ArgumentParser()
    from attnlock.cli import add_target_options

    add_target_options(sub)
    ns = sub.parse_args(["--torch", ">=2.4", "--gpu", "T4", "--python", "3.11", "--platform", "windows-amd64",
                         "--cuda", "12.4", "--driver", "560.94"])
    t = target_from_args(ns, environ={}, detected=never, catalog=CATALOG)
    assert t.torch == SpecifierSet(">=2.4") and t.gpu == ComputeCapability(7, 5) and t.gpu_name == "T4"
    assert parser.prog == "attnlock"


def test_env_fills_what_flags_leave() -> None:
    environ = {"ATTNLOCK_TORCH": "2.3.1+cu121", "ATTNLOCK_PYTHON": "3.10", "ATTNLOCK_PLATFORM": "linux-x86_64",
               "ATTNLOCK_GPU": "A100", "ATTNLOCK_CUDA_DRIVER": "550.54.14", "ATTNLOCK_CUDA": ""}
    t = target_from_args(args(python="3.12"), environ=environ, detected=never, catalog=CATALOG)
    assert t.python == PythonVersion(3, 12) and t.origin("python") == "flag"
    assert t.torch == SpecifierSet("==2.3.1+cu121") and t.origin("torch") == "env:ATTNLOCK_TORCH"
    # the local label fixes the CUDA variant when nothing else does
    assert t.cuda == CudaVariant("cuda", Version("12.1")) and t.origin("cuda") == "env:ATTNLOCK_TORCH (torch label)"
    assert t.gpu == ComputeCapability(8, 0) and t.origin("gpu") == "env:ATTNLOCK_GPU"
    assert t.driver == Version("550.54.14") and t.origin("driver") == "env:ATTNLOCK_CUDA_DRIVER"


def test_detection_is_lazy_and_called_once() -> None:
    calls = []

    def detected() -> Environment:
        calls.append(1)
        return environment(torch="2.11.0+cu130", cuda="13.0", gpus=(("NVIDIA H200", "9.0"),), driver="580.159.04")

    t = target_from_args(args(), environ={}, detected=detected)
    assert calls == [1]
    assert t.torch == SpecifierSet("==2.11.0+cu130") and t.cuda == CudaVariant("cuda", Version("13.0"))
    assert (t.gpu, t.gpu_name, t.driver) == (ComputeCapability(9, 0), "NVIDIA H200", Version("580.159.04"))
    assert dict(t.origins) == {k: "detected" for k in ("torch", "cuda", "python", "platform", "gpu", "driver")}


def test_latest_and_none() -> None:
    t = target_from_args(args(torch="latest", gpu="none", driver="none", cuda="cpu", python="3.11",
                              platform="macos-arm64"), environ={}, detected=never)
    assert t.torch_latest and t.torch is None
    assert t.gpu is None and gpu_absent(t) and t.origin("gpu") == "none:flag"
    assert t.driver is None and t.origin("driver") == "none:flag"


def test_check_wants_no_detection() -> None:
    t = target_from_args(args(python="3.10"), environ={}, detected=never, use_detection=False)
    assert (t.torch, t.cuda, t.gpu, t.platform) == (None, None, None, None)
    assert not gpu_absent(t) and dict(t.origins) == {"python": "flag"}


def test_detected_cuda_only_with_detected_torch() -> None:
    one_gpu = (("NVIDIA A100", "8.0"),)
    t = target_from_args(args(torch="2.4.0"), environ={},
                         detected=lambda: environment(torch="2.13.0+cpu", gpus=one_gpu))
    assert t.torch == SpecifierSet("==2.4.0") and t.cuda is None
    # Without a GPU the --torch given plans its CPU build (no GPU: a CPU plan), not the installed torch's.
    t = target_from_args(args(torch="2.4.0"), environ={}, detected=lambda: environment(torch="2.13.0+cpu"))
    assert t.cuda == CudaVariant("cpu") and t.origin("cuda") == CPU_NO_GPU
    t = target_from_args(args(), environ={}, detected=lambda: environment(torch="2.13.0+cpu"))
    assert t.cuda == CudaVariant("cpu")


def test_no_gpu_detected_vs_unknown_gpus() -> None:
    t = target_from_args(args(), environ={}, detected=lambda: environment(torch=None))
    assert gpu_absent(t) and t.origin("gpu") == "none:detected" and t.torch is None
    env = environment(torch=None)
    unknown_gpus = env._replace(unknown=(Unknown("gpus", "nvidia-smi hung"),))
    t = target_from_args(args(), environ={}, detected=unknown_gpus)
    assert not gpu_absent(t) and t.origin("gpu") is None


def test_several_gpus_plan_for_the_lowest() -> None:
    t = target_from_args(args(), environ={}, detected=lambda: environment(
        gpus=(("NVIDIA H100 80GB HBM3", "9.0"), ("Tesla T4", "7.5"), ("mystery", None))))
    assert t.gpu == ComputeCapability(7, 5) and t.gpu_name == "Tesla T4"
    assert t.origin("gpu") == "detected (lowest of 3 GPUs)"


@pytest.mark.parametrize(
    ("kw", "environ", "needle"),
    [
        ({"torch": "two"}, {}, "torch version range (--torch)"),
        ({"cuda": "cuda-twelve"}, {}, "unknown CUDA variant"),
        ({"python": "python3"}, {}, "malformed Python version"),
        ({"platform": "amiga"}, {}, "unknown platform"),
        ({"gpu": "Voodoo2"}, {}, "unknown GPU 'Voodoo2' (--gpu)"),
        ({"driver": "latest"}, {}, "malformed driver version"),
        ({}, {"ATTNLOCK_DRIVER_UNUSED": "x", "ATTNLOCK_CUDA_DRIVER": "five-three-five"}, "(ATTNLOCK_CUDA_DRIVER)"),
        ({}, {"ATTNLOCK_GPU": "Voodoo2"}, "(ATTNLOCK_GPU)"),
    ],
)
def test_malformed_values_are_usage_errors_with_hints(kw: dict[str, str], environ: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        target_from_args(args(**kw), environ=environ, detected=never, use_detection=False, catalog=CATALOG)
    assert needle in info.value.message
    assert info.value.hint
    assert info.value.exit_code == 2


def test_gpu_name_without_database() -> None:
    with pytest.raises(UsageError) as info:
        target_from_args(args(gpu="T4"), environ={}, use_detection=False, catalog=Catalog(broken=True))
    assert "gpus.toml missing" in info.value.message and "sm_80" in (info.value.hint or "")


def test_gpu_names_through_the_shipped_database() -> None:
    """No fake here: the default catalog reads data/curated/gpus.toml."""
    for name in ("T4", "Tesla T4", "NVIDIA H100 80GB HBM3"):
        t = target_from_args(args(gpu=name), environ={}, use_detection=False)
        assert t.gpu_name == name
        assert t.gpu == (ComputeCapability(7, 5) if "T4" in name else ComputeCapability(9, 0))


def test_unknown_torch_variant_stays_any_not_cpu() -> None:
    """A torch whose version.py could not be read and whose version has no label (PyPI's METADATA
    says 2.3.1 for a CUDA build): the variant is unknown, so the target's cuda is "any"."""
    env = environment(torch="2.3.1")
    env = env._replace(torch=env.torch._replace(variant=None, variant_source=None))  # type: ignore[union-attr]
    target = target_from_args(args(), environ={}, detected=env)
    assert target.torch == SpecifierSet("==2.3.1")
    assert target.cuda is None and target.origin("cuda") is None


# ---------------------------------------------------------------- issue 14: no GPU means a CPU plan

def test_no_gpu_and_no_torch_plans_for_cpu_and_says_so_in_one_line() -> None:
    t = target_from_args(args(), environ={}, detected=lambda: environment(torch=None))
    assert t.cuda == CudaVariant("cpu") and t.origin("cuda") == CPU_NO_GPU and gpu_absent(t)
    line = plan_line(t)
    assert line is not None and "\n" not in line
    assert "no NVIDIA GPU" in line and "CPU" in line and "--gpu A100 --cuda 12.4" in line


@pytest.mark.parametrize("kw", [{"cuda": "12.4"}, {"driver": "535.104.05"}, {"gpu": "A100"}, {"gpu": "any"}])
def test_naming_a_gpu_machine_is_not_a_cpu_plan(kw: dict[str, str]) -> None:
    t = target_from_args(args(**kw), environ={}, detected=lambda: environment(torch=None), catalog=CATALOG)
    assert t.cuda is None or t.cuda.label != "cpu"
    assert not gpu_absent(t) and plan_line(t) is None


def test_environment_variables_count_as_given() -> None:
    t = target_from_args(args(), environ={"ATTNLOCK_CUDA": "cu121"}, detected=lambda: environment(torch=None))
    assert t.cuda == CudaVariant("cuda", Version("12.1")) and not gpu_absent(t) and plan_line(t) is None


def test_gpu_none_is_a_cpu_plan_and_gpu_any_is_not_known() -> None:
    none = target_from_args(args(gpu="none", python="3.11", platform="linux-x86_64", torch="latest", driver="any"),
                            environ={}, detected=lambda: environment(torch=None))
    assert gpu_absent(none) and none.cuda == CudaVariant("cpu") and none.origin("cuda") == CPU_GPU_NONE
    assert plan_line(none) is None  # the user said so: nothing to explain
    anyg = target_from_args(args(gpu="any", python="3.11", platform="linux-x86_64", torch="latest", driver="any"),
                            environ={}, detected=lambda: environment(torch=None))
    assert anyg.gpu is None and not gpu_absent(anyg) and anyg.cuda is None
    both = target_from_args(args(gpu="none", cuda="cu124", python="3.11", platform="linux-x86_64", torch="latest",
                                 driver="any"), environ={}, detected=never)
    assert gpu_absent(both) and both.cuda == CudaVariant("cuda", Version("12.4"))


def test_installed_torch_build_decides_on_a_machine_without_a_gpu() -> None:
    t = target_from_args(args(), environ={}, detected=lambda: environment(torch="2.8.0+cu128", cuda="12.8"))
    assert t.cuda == CudaVariant("cuda", Version("12.8")) and gpu_absent(t)
    line = plan_line(t)
    assert line is not None and "cu128" in line and "--cuda cpu" in line


def test_driver_is_kept_as_written() -> None:
    t = target_from_args(args(driver="535.104.05", gpu="sm_80"), environ={}, detected=lambda: environment())
    assert t.driver == Version("535.104.5") and t.driver_words == "535.104.05"
    t = target_from_args(args(gpu="sm_80"), environ={}, detected=lambda: environment(driver="580.159.04"))
    assert t.driver_words == "580.159.04"


def test_a_custom_build_label_is_a_target_not_a_usage_error() -> None:
    """NGC's ``2.1.0a0+32f93b1`` (issue 13): the release is the target; the label is no CUDA variant."""
    import argparse

    from attnlock.target import target_from_args

    args = argparse.Namespace(torch="2.1.0a0+32f93b1", cuda=None, python="3.10", platform="linux-x86_64", gpu="none",
                              driver=None)
    t = target_from_args(args, environ={})
    assert str(t.torch) == "==2.1.0a0"
