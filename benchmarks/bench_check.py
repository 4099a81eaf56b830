"""How fast ``attnlock check`` is, side by side with ``pip install --dry-run --report`` on the same file.

Run: python benchmarks/bench_check.py [--repeat N] [--files N] [--data-dir DIR] [--baseline DIR]
Prints one table of medians over N runs, each a fresh process (what pre-commit and CI pay):
  * ``attnlock check FILE`` on a typical requirements file (torch stack plus common libraries),
  * ``pip install --dry-run --ignore-installed --report - -r FILE`` against a local file:// index of
    stub wheels with the same dependency metadata (tests/support/index.py; pip finds only
    metadata conflicts and is the slower tool), with a warm pip cache,
  * ``attnlock check`` on 1,000 such files in one invocation,
  * the in-process ``check_paths`` time per file, beside a bare ``python -c pass`` and a process that
    only imports what any check needs (packaging, attnlock.model, attnlock.database) for scale.
With ``--baseline DIR`` (another checkout, e.g. ``git archive <commit> | tar -x -C /tmp/base``) every
attnlock row is also timed for that checkout, runs alternating, with the speed-up baseline/this.
Targets (issue 5): one file <= 100 ms median; 1,000 files <= 2 s.  Fresh processes run with compiled
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


def _samples(argv: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=600)
    elapsed = (time.perf_counter() - t) * 1000
    if proc.returncode not in ok:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed


def _medians(argvs: dict[str, tuple[list[str], dict[str, str]]], repeat: int, cwd: Path,
             ok: tuple[int, ...] = (0, 1)) -> dict[str, float]:
    """Median wall time of each command; the commands' runs alternate so all see the same load."""
    samples: dict[str, list[float]] = {k: [] for k in argvs}
    for _ in range(repeat):
        for key, (argv, env) in argvs.items():
            samples[key].append(_samples(argv, env, cwd, ok))
    return {k: statistics.median(v) for k, v in samples.items()}


def _env(root: Path, data_dir: Path, tmp: Path) -> dict[str, str]:
    # Installed packages carry compiled bytecode; this machine sets PYTHONDONTWRITEBYTECODE, which
    # would make every fresh process recompile attnlock and packaging from source.  Cache the
    # bytecode under the temporary directory (the checkout stays clean); warmed before timing.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH") and not k.startswith("ATTNLOCK_")}
    env.update(PYTHONPATH=str(root), ATTNLOCK_DATA_DIR=str(data_dir), NO_COLOR="1",
               PYTHONPYCACHEPREFIX=str(tmp / "pycache"), XDG_CACHE_HOME=str(tmp / "xdg-cache"))
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--pip-repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--data-dir", default=str(ROOT / "tests" / "fixtures" / "check" / "data"))
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to time beside this one")
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    if not (data_dir / "derived").is_dir():
        raise SystemExit(f"{data_dir} has no derived/ folder: not a database")
    roots = {"this": ROOT} | ({"baseline": Path(args.baseline).resolve()} if args.baseline else {})

    with tempfile.TemporaryDirectory(prefix="attnlock-bench-check-") as tmp_name:
        tmp = Path(tmp_name)
        req = tmp / "requirements.txt"
        req.write_text(TYPICAL)
        envs = {}
        for label, root in roots.items():
            (tmp / label).mkdir()
            envs[label] = _env(root, data_dir, tmp / label)
            subprocess.run([sys.executable, "-m", "attnlock", "check", str(req)], capture_output=True,
                           env=envs[label], cwd=tmp, timeout=600)  # warm the bytecode

        floor_code = "import attnlock.model, attnlock.database, packaging.requirements, packaging.specifiers"
        floors = _medians({"bare": ([sys.executable, "-c", "pass"], envs["this"]),
                           "floor": ([sys.executable, "-c", floor_code], envs["this"])}, args.repeat, tmp)
        bare = floors["bare"]
        check_one = _medians({k: ([sys.executable, "-m", "attnlock", "check", str(req)], e)
                              for k, e in envs.items()}, args.repeat, tmp)

        many = tmp / "many"
        many.mkdir()
        paths = []
        for i in range(args.files):
            p = many / f"requirements-{i:04d}.txt"
            # Vary the files so no two are identical (a pin and a comment change per file).
            p.write_text(TYPICAL.replace("tqdm==4.66.4", f"tqdm==4.66.{i % 5}") + f"# file {i}\n")
            paths.append(str(p))
        check_many = _medians({k: ([sys.executable, "-m", "attnlock", "check", *paths], e)
                               for k, e in envs.items()}, max(1, args.repeat // 4), tmp)

        code = ("import time, sys; from attnlock.check import check_paths; import attnlock.database as d; "
                "db = d.load(); check_paths([sys.argv[1]], db=db); n = 50; t = time.perf_counter(); "
                "[check_paths([sys.argv[1]], db=db) for _ in range(n)]; print((time.perf_counter() - t) * 1000 / n)")
        inproc = {k: float(subprocess.run([sys.executable, "-c", code, str(req)], capture_output=True, text=True,
                                          env=e, cwd=tmp, check=True, timeout=600).stdout.strip())
                  for k, e in envs.items()}

        wheels = tmp / "wheels"
        built = [build_wheel(wheels, n, v, requires_dist=r) for n, v, r in STUBS]
        index = write_simple_index(tmp / "index", built)
        pip_env = installer_env()
        cache = tmp / "pip-cache"
        pip = [*pip_argv(), "install", "--dry-run", "--ignore-installed", "--report", "-", "--quiet",
               "--cache-dir", str(cache), "--index-url", index.resolve().as_uri(), "-r", str(req)]
        subprocess.run(pip, capture_output=True, env=pip_env, cwd=tmp, timeout=600, check=True)  # warm the cache
        pip_ms = _medians({"pip": (pip, pip_env)}, args.pip_repeat, tmp, ok=(0,))["pip"]
        pip_version = subprocess.run([*pip_argv(), "--version"], capture_output=True, text=True, env=pip_env,
                                     timeout=60).stdout.split()[1]

    one = check_one["this"]
    rows: list[tuple[str, dict[str, float], str]] = [
        ("python -c pass (fresh interpreter)", {"this": bare}, ""),
        ("  + imports check cannot avoid", {"this": floors["floor"]}, "packaging, attnlock.model, attnlock.database"),
        ("attnlock check requirements.txt (fresh)", check_one, "target <= 100 ms"),
        ("  in-process check_paths, per file", inproc, ""),
        (f"attnlock check on {args.files} files (one run)", check_many, "target <= 2000 ms"),
        (f"pip {pip_version} install --dry-run --report (warm)", {"this": pip_ms},
         f"{pip_ms / one:.1f}x the time of attnlock check"),
    ]
    width = max(len(r[0]) for r in rows)
    head = f"{'median ms':>10}" + (f" {'baseline':>10} {'speed-up':>9}" if args.baseline else "")
    print(f"{'measurement':<{width}} {head}   note")
    for name, values, note in rows:
        line = f"{name:<{width}} {values['this']:>10.1f}"
        if args.baseline:
            base = values.get("baseline")
            line += f" {base:>10.1f} {base / values['this']:>8.1f}x" if base is not None else f" {'':>10} {'':>9}"
        print(f"{line}   {note}".rstrip())
    print(f"\nruns: {args.repeat} ({args.files} files: {max(1, args.repeat // 4)}, pip: {args.pip_repeat}); "
          f"database: {data_dir}")
    if args.baseline:
        print(f"baseline: {roots['baseline']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
