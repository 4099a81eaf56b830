"""How fast ``attnlock check`` is, beside ``pip install --dry-run --report`` on the same file.

Run: python benchmarks/bench_check.py [--repeat N] [--files N] [--data-dir DIR]
Prints medians over N runs, each a fresh process (what pre-commit and CI pay):
  * ``attnlock check FILE`` on a typical requirements file (torch stack plus common libraries),
  * ``pip install --dry-run --ignore-installed --report - -r FILE`` against a local file:// index of
    stub wheels with the same dependency metadata (tests/support/index.py; pip finds only
    metadata conflicts and is the slower tool), with a warm pip cache,
  * ``attnlock check`` on 1,000 such files in one invocation,
  * the in-process ``check_paths`` time per file, beside a bare ``python -c pass`` for scale.
Targets (issue 5): one file ≤ 100 ms median; 1,000 files ≤ 2 s.  Fresh processes run with compiled
bytecode (as an installed package has), cached under the temporary directory.
The database is tests/fixtures/check/data unless --data-dir names another (e.g. data/).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.index import write_simple_index  # noqa: E402
from tests.support.installers import installer_env, pip_argv  # noqa: E402
from tests.support.wheels import build_wheel  # noqa: E402

TYPICAL = """\
# Training stack, pinned (typical project requirements file)
torch==2.3.1
torchvision==0.18.1
torchaudio==2.3.1
triton==2.3.1 ; platform_system == "Linux" and platform_machine == "x86_64"
xformers==0.0.27

numpy==1.26.4
scipy==1.13.1
pandas==2.2.2
transformers==4.44.0
tokenizers==0.19.1
safetensors==0.4.3
accelerate==0.33.0
datasets==2.20.0
peft==0.12.0
sentencepiece==0.2.0
einops==0.8.0
packaging==24.1
pyyaml==6.0.1
tqdm==4.66.4
requests==2.32.3   # http
wandb==0.17.5 ; sys_platform == "linux"
"""

# Stub distributions for the local index: (name, version, Requires-Dist) mirroring the file.
STUBS = [
    ("torch", "2.3.1", ['triton==2.3.1; platform_system == "Linux" and platform_machine == "x86_64"', "numpy"]),
    ("torchvision", "0.18.1", ["torch==2.3.1", "numpy"]),
    ("torchaudio", "2.3.1", ["torch==2.3.1"]),
    ("triton", "2.3.1", []),
    ("xformers", "0.0.27", ["torch==2.3.1", "numpy"]),
    ("numpy", "1.26.4", []), ("scipy", "1.13.1", ["numpy"]), ("pandas", "2.2.2", ["numpy"]),
    ("transformers", "4.44.0", ["tokenizers", "safetensors", "numpy", "pyyaml", "requests", "tqdm", "packaging"]),
    ("tokenizers", "0.19.1", []), ("safetensors", "0.4.3", []), ("accelerate", "0.33.0", ["torch", "numpy"]),
    ("datasets", "2.20.0", ["numpy", "pandas", "requests", "tqdm"]), ("peft", "0.12.0", ["torch", "transformers"]),
    ("sentencepiece", "0.2.0", []), ("einops", "0.8.0", []), ("packaging", "24.1", []), ("pyyaml", "6.0.1", []),
    ("tqdm", "4.66.4", []), ("requests", "2.32.3", []), ("wandb", "0.17.5", ["requests"]),
]


def _median_ms(argv: list[str], repeat: int, env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0, 1)) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=600)
        samples.append((time.perf_counter() - t) * 1000)
        if proc.returncode not in ok:
            raise SystemExit(f"{argv[:4]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--pip-repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--data-dir", default=str(ROOT / "tests" / "fixtures" / "check" / "data"))
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    if not (data_dir / "derived").is_dir():
        raise SystemExit(f"{data_dir} has no derived/ folder: not a database")

    with tempfile.TemporaryDirectory(prefix="attnlock-bench-check-") as tmp_name:
        tmp = Path(tmp_name)
        req = tmp / "requirements.txt"
        req.write_text(TYPICAL)
        # Installed packages carry compiled bytecode; this machine sets PYTHONDONTWRITEBYTECODE, which
        # would make every fresh process recompile attnlock and packaging from source.  Cache the
        # bytecode under the temporary directory (the checkout stays clean) and warm it once.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(ROOT), ATTNLOCK_DATA_DIR=str(data_dir), NO_COLOR="1",
                   PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        subprocess.run([sys.executable, "-m", "attnlock", "check", str(req)], capture_output=True, env=env,
                       cwd=tmp, timeout=600)

        bare = _median_ms([sys.executable, "-c", "pass"], args.repeat, env, tmp)
        check_one = _median_ms([sys.executable, "-m", "attnlock", "check", str(req)], args.repeat, env, tmp)

        many = tmp / "many"
        many.mkdir()
        paths = []
        for i in range(args.files):
            p = many / f"requirements-{i:04d}.txt"
            # Vary the files so no two are identical (a pin and a comment change per file).
            p.write_text(TYPICAL.replace("tqdm==4.66.4", f"tqdm==4.66.{i % 5}") + f"# file {i}\n")
            paths.append(str(p))
        check_many = _median_ms([sys.executable, "-m", "attnlock", "check", *paths], max(1, args.repeat // 4), env,
                                tmp)

        code = ("import time, sys; from attnlock.check import check_paths; import attnlock.database as d; "
                "db = d.load(); check_paths([sys.argv[1]], db=db); n = 50; t = time.perf_counter(); "
                "[check_paths([sys.argv[1]], db=db) for _ in range(n)]; print((time.perf_counter() - t) * 1000 / n)")
        inproc = float(subprocess.run([sys.executable, "-c", code, str(req)], capture_output=True, text=True, env=env,
                                      check=True, timeout=600).stdout.strip())

        wheels = tmp / "wheels"
        built = [build_wheel(wheels, n, v, requires_dist=r) for n, v, r in STUBS]
        index = write_simple_index(tmp / "index", built)
        pip_env = installer_env()
        cache = tmp / "pip-cache"
        pip = [*pip_argv(), "install", "--dry-run", "--ignore-installed", "--report", "-", "--quiet",
               "--cache-dir", str(cache), "--index-url", index.resolve().as_uri(), "-r", str(req)]
        subprocess.run(pip, capture_output=True, env=pip_env, cwd=tmp, timeout=600, check=True)  # warm the cache
        pip_ms = _median_ms(pip, args.pip_repeat, pip_env, tmp, ok=(0,))
        pip_version = subprocess.run([*pip_argv(), "--version"], capture_output=True, text=True, env=pip_env,
                                     timeout=60).stdout.split()[1]

    print(f"python -c pass (fresh interpreter)            {bare:8.1f} ms")
    print(f"attnlock check requirements.txt (fresh)       {check_one:8.1f} ms   target <= 100 ms")
    print(f"  in-process check_paths, per file            {inproc:8.2f} ms")
    print(f"pip {pip_version} install --dry-run --report (warm)  {pip_ms:8.1f} ms   "
          f"({pip_ms / check_one:.1f}x attnlock check)")
    print(f"attnlock check on {args.files} files (one run)      {check_many:8.1f} ms   target <= 2000 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
