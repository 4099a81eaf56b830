"""verify's parent side: group selection, the slow-fallback rule on real H200 numbers, the table, the CLI.

The GPU numbers come from ``tests/fixtures/gpu/`` (what verify printed on an
NVIDIA H200, see its README); nothing here imports torch.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attnlock.verify import fallback, plan, report

REPO = Path(__file__).resolve().parent.parent
GPU = REPO / "tests" / "fixtures" / "gpu"


def _load(name: str) -> dict[str, Any]:
    return json.loads((GPU / name).read_text())


def _row(doc: dict[str, Any], package: str, check: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["package"] == package and c["check"] == check)


def test_select_skips_what_is_not_installed_once_per_package() -> None:
    have = {"torch": "2.11.0", "jax": "0.11.2", "jaxlib": "0.11.2", "triton": "3.6.0"}
    sel = plan.select(installed=have.get)
    assert [g.name for g in sel.groups] == ["torch", "triton", "jax", "jax+torch"]
    skipped = {p for p, _, _ in sel.skipped}
    assert skipped == {"xformers", "flash-attn", "flash-attn-3", "flash-attn-4", "unsloth", "bitsandbytes"}
    assert all(why.startswith("not installed") for _, _, why in sel.skipped)


def test_select_only_matches_canonical_names_and_coexistence_group() -> None:
    have = {"torch": "1", "jax": "1", "jaxlib": "1", "flash-attn-4": "4.0.0b36"}
    sel = plan.select(["flash_attn_4"], installed=have.get)
    assert [g.name for g in sel.groups] == ["flash-attn-4"]
    sel = plan.select(["jax"], installed=have.get)
    assert [g.name for g in sel.groups] == ["jax", "jax+torch"]
    sel = plan.select(["jax"], installed={"jax": "1", "jaxlib": "1"}.get)
    assert [g.name for g in sel.groups] == ["jax"]
    assert sel.skipped == (("jax", "torch_coexistence", "not installed: no distribution torch"),)


def test_every_group_promises_its_checks_and_probes_exist() -> None:
    for g in plan.GROUPS:
        assert g.checks, g.name
        module = g.argv[g.argv.index("-m") + 1]
        assert (REPO / (module.replace(".", "/") + ".py")).is_file(), module


def test_h200_fixture_has_every_backend_next_to_the_matmul_rate() -> None:
    doc = _load("verify-h200.json")
    matmul = _row(doc, "torch", "matmul_bf16")
    assert matmul["status"] == "pass" and matmul["tflops"] > 500
    for backend in plan.SDPA_CHECKS:
        row = _row(doc, "torch", backend)
        assert row["status"] == "pass" and row["tflops"] > 0 and row["ms"] > 0
        assert row["fraction_of_matmul"] == pytest.approx(row["tflops"] / matmul["tflops"], abs=1e-3)
        assert row["max_abs_err"] < 0.05
    best = _row(doc, "torch", "fastest_attention")
    assert best["status"] == "pass" and best["fastest"] == "torch/sdpa_cudnn"


def test_fallback_rule_recomputes_the_fixture_and_names_a_math_only_stack() -> None:
    doc = _load("verify-h200.json")
    measured = [c for c in doc["checks"] if c["check"] != "fastest_attention"]
    again = fallback.assess(copy.deepcopy(measured))
    assert [r["status"] for r in again] == ["pass"]
    # The same GPU with only the math path working (a build without fused attention):
    broken = copy.deepcopy(measured)
    for c in broken:
        if c["check"] in ("sdpa_flash", "sdpa_efficient", "sdpa_cudnn"):
            c.update(status="fail", tflops=None, ms=None,
                     error="RuntimeError: No available kernel. Aborting execution.\n"
                           "UserWarning: Torch was not compiled with flash attention.")
    (row,) = fallback.assess(broken)
    assert row["status"] == "fail"
    math = _row(doc, "torch", "sdpa_math")["tflops"]
    assert f"{math:.1f} TFLOP/s" in row["error"] and "torch/sdpa_math" in row["error"]
    assert row["fraction_of_matmul"] < fallback.THRESHOLD
    assert "Torch was not compiled with flash attention" in row["related_errors"]


def test_fallback_says_nothing_without_a_matmul_rate() -> None:
    assert fallback.assess([{"package": "torch", "check": "sdpa_math", "device": "cpu", "status": "pass"}]) == []


def test_table_shows_failures_with_fix_and_the_summary_line() -> None:
    doc = _load("verify-h200-xformers.json")
    text = report.table(doc["checks"])
    assert text.splitlines()[0].split()[:4] == ["PACKAGE", "CHECK", "DEVICE", "STATUS"]
    assert "FAIL xformers/import on cuda:0" in text
    assert "fix: " in text and "0 passed, 3 failed, 0 skipped" in text
    assert "\x1b[" not in text
    assert "\x1b[31m" in report.table(doc["checks"], colour=True)


def test_xformers_seed_failure_on_the_h200_is_diagnosed() -> None:
    doc = _load("verify-h200-xformers.json")
    imp = _row(doc, "xformers", "import")
    assert "PyTorch 2.10.0+cu128 with CUDA 1208 (you have 2.11.0+cu130)" in imp["error"]
    assert imp["diagnosis"]["id"] == "xformers-built-for-other-torch"
    mea = _row(doc, "xformers", "memory_efficient_attention")
    assert "No operator found for `memory_efficient_attention_forward`" in mea["error"]
    assert "xFormers wasn't build with CUDA support" in mea["error"]
    assert mea["diagnosis"] is not None


def _attnlock(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "attnlock", *argv], capture_output=True, text=True,
                          env=e, timeout=timeout, check=False)


def test_cli_rejects_unknown_package_and_bad_timeout() -> None:
    res = _attnlock("verify", "--only", "tensorflow")
    assert res.returncode == 2 and "unknown package tensorflow" in res.stderr
    res = _attnlock("verify", "--timeout", "0")
    assert res.returncode == 2


def test_parent_never_imports_torch() -> None:
    code = ("import sys; from attnlock.cli import main; "
            "rc = main(['verify', '--only', 'unsloth', '--json']); "
            "assert 'torch' not in sys.modules and 'jax' not in sys.modules, sorted(sys.modules); print(rc)")
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout[: res.stdout.rindex("}") + 1])
    assert doc["checks"] and all(c["package"] == "unsloth" for c in doc["checks"])


@pytest.mark.gpu
@pytest.mark.skipif(os.environ.get("ATTNLOCK_GPU_TESTS") != "1", reason="GPU tests are opt-in: ATTNLOCK_GPU_TESTS=1")
def test_full_verify_on_a_gpu() -> None:
    res = _attnlock("verify", "--json", timeout=900)
    doc = json.loads(res.stdout)
    rows = {(c["package"], c["check"]): c for c in doc["checks"]}
    assert rows[("torch", "matmul_bf16")]["status"] == "pass"
    assert rows[("torch", "fastest_attention")]["status"] == "pass"
    assert res.returncode == (1 if any(c["status"] == "fail" for c in doc["checks"]) else 0)


@pytest.mark.slow
def test_fleet_under_torchrun_gathers_every_rank_on_rank_0(tmp_path: Path) -> None:
    """Two ranks under torchrun: each verifies, the all-reduce is checked (gloo without a GPU), rank 0 reports."""
    try:
        import importlib.metadata

        importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("torch must be installed in the test environment (scripts/test installs it)")
        pytest.skip("needs torch (torch.distributed.run) in this interpreter")
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "attnlock", "verify", "--json", "--only", "torch"],
                         capture_output=True, text=True, env=e, cwd=tmp_path, timeout=300, check=False)
    doc = json.loads(res.stdout)  # only rank 0 prints: exactly one JSON document
    assert doc["fleet"]["world_size"] == 2 and doc["fleet"]["gathered"] is True
    assert [r["rank"] for r in doc["fleet"]["ranks"]] == [0, 1]
    reduces = [c for c in doc["checks"] if c["check"] == "all_reduce"]
    assert [c["rank"] for c in reduces] == [0, 1]
    assert all(c["status"] == "pass" for c in reduces), reduces
    assert {c["rank"] for c in doc["checks"] if c["check"] == "import"} == {0, 1}
    assert res.returncode == (1 if any(c["status"] == "fail" for c in doc["checks"]) else 0), res.stderr[-2000:]


def test_fleet_fixture_from_two_h200s() -> None:
    doc = _load("fleet-h200x2.json")
    assert doc["fleet"]["world_size"] == 2 and doc["fleet"]["gathered"] is True
    reduces = [c for c in doc["checks"] if c["check"] == "all_reduce"]
    assert [(c["rank"], c["device"], c["status"]) for c in reduces] == [(0, "cuda:0", "pass"), (1, "cuda:1", "pass")]
    assert all(c["detail"]["backend"] == "nccl" and c["detail"]["sum"] == 3.0 for c in reduces)
    for rank in (0, 1):
        rows = [c for c in doc["checks"] if c.get("rank") == rank and c["check"] == "fastest_attention"]
        assert len(rows) == 1 and rows[0]["status"] == "pass"
    assert "r1:cuda:1" in (GPU / "fleet-h200x2.txt").read_text()


def test_all_gpus_fixture_covers_both_devices() -> None:
    doc = _load("verify-all-gpus-h200x2.json")
    for device in ("cuda:0", "cuda:1"):
        assert _row_on(doc, "torch", "matmul_bf16", device)["status"] == "pass"
        assert _row_on(doc, "torch", "fastest_attention", device)["status"] == "pass"


def _row_on(doc: dict[str, Any], package: str, check: str, device: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if (c["package"], c["check"], c["device"]) == (package, check, device))


def test_flash_attn_4_passed_on_the_h200() -> None:
    doc = _load("verify-h200-fa4.json")
    func = _row(doc, "flash-attn-4", "flash_attn_func")
    assert func["status"] == "pass" and func["tflops"] > 100
    for key in ("forward bfloat16", "backward bfloat16 dq", "forward float16", "backward float16 dv"):
        assert func["detail"][key]["rel_err"] < 2e-2
    assert _row(doc, "flash-attn-4", "flash_attn_varlen_func")["status"] == "pass"


def test_benchmark_fixture_meets_the_target() -> None:
    summary = _load("bench-h200.json")["summary"]
    assert summary["ratio"] <= 1.5
    assert len(summary["script_seconds"]) == len(summary["verify_seconds"]) == 3


def test_progress_lines_and_colour() -> None:
    import io

    out = io.StringIO()
    progress = report.Progress(out, colour=False)
    progress("torch", {"package": "torch", "check": "sdpa_flash", "device": "cuda:0", "status": "pass",
                       "tflops": 352.5})
    progress("xformers", {"package": "xformers", "check": "import", "device": "cuda:0", "status": "fail"})
    lines = out.getvalue().splitlines()
    assert lines == ["  [ 1] pass torch/sdpa_flash on cuda:0  352.5 TFLOP/s",
                     "  [ 2] fail xformers/import on cuda:0"]
    coloured = io.StringIO()
    report.Progress(coloured, colour=True)("x", {"package": "p", "check": "c", "device": "d", "status": "fail"})
    assert "\x1b[31m" in coloured.getvalue()


def test_no_color_and_non_tty_output_is_plain(tmp_path: Path) -> None:
    """Through a pseudo-terminal: progress on stderr, colour on; NO_COLOR turns colour off."""
    pty = pytest.importorskip("pty")
    import select

    def run(extra: dict[str, str]) -> str:
        e = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        e.update(extra)
        e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        primary, secondary = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "attnlock", "verify", "--only", "unsloth"],
                                stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=e, cwd=tmp_path)
        os.close(secondary)
        chunks = []
        while True:
            ready, _, _ = select.select([primary], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(primary, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
        os.close(primary)
        return b"".join(chunks).decode()

    coloured = run({})
    plain = run({"NO_COLOR": "1"})
    assert "unsloth" in plain and "not installed" in plain
    assert "\x1b[" in coloured and "\x1b[" not in plain
