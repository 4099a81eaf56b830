"""Every regular expression that sees user input runs in linear time: a hang guard, not a timing test.

Each adversarial input (the shapes that make backtracking patterns quadratic or worse:
long runs of one token, of blanks, of a pattern's own prefix) is fed, in a child
process, to every signature pattern (scoped ones included), to the conflict parsers,
to normalisation and to the whole engine.  The child must finish within a generous
20 s; a pattern with nested or adjacent unbounded quantifiers takes minutes or hours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD_S = 20

# name -> Python expression building the input in the child (kept out of argv: up to 300 KB).
INPUTS = {
    "nvidia-300k": '"NVIDIA " * 43000',
    "pip-install-300k": '"pip-install-" * 25000',
    "no-module-torch-trailing-blanks": '("No module named \'torch\'" + " " * 200 + "\\n" * 3) * 1000 + " " * 80000',
    "flash-attn-cuda-300k": '"flash_attn_cuda" * 20000',
    "spaces-80k": '" " * 80000',
    "blank-lines-90k": '" \\t\\n" * 30000',
    "pip-conflict-user-line-of-blanks": '"The conflict is caused by:\\n    The user requested x" + " " * 80000 + "y\\n"',
    "uv-explanation-one-token": '"No solution found when resolving dependencies:\\n" + "a" * 60000 + " depends on"',
    "xformers-built-for-blanks": '("xFormers was built for:" + " " * 500) * 500',
    "digits-300k": '"1" * 300000',
    "osc-unterminated": '"\\x1b]" * 100000',
    "csi-unterminated": '"\\x1b[" * 100000',
    "joined-operator-table": '"No operator found for `memory_efficient_attention_forward` with inputs: " + "`cutlassF` is not supported because: device=cpu " * 5000',
    "found-gpu-300k": '"Found GPU0 " * 30000',
    "mangled-symbol-300k": '"_Z" * 150000',
    "so-undefined-symbol-token": '"a" * 200000 + ".so: undefined symbol: _Z"',
    "whl-token": '"a" * 200000 + ".whl is not a supported wheel on this platform"',
    "collecting-torch": '("Collecting torch==2.0 (from " + "x" * 300 + "\\n") * 500',
    "windows-path": '"C:\\\\" + "a\\\\" * 100000',
    "markdown-link": '"[" * 100000 + "](http://" * 1000',
}

CHILD = r"""
import sys
from attnlock.diagnose import conflicts, engine
from attnlock.diagnose.signatures import load_signatures
text = eval(sys.argv[1])
sigs = load_signatures()
for sig in sigs:
    for n, _ in enumerate(sig.pattern.finditer(text)):
        if n > 1000:
            break
    for line in text.split("\n")[:2000]:
        sig.pattern.search(line)
conflicts.parse_pip(text)
conflicts.parse_uv(text[:65536])
engine.normalize(text)
engine.run(text, sigs, target=None, source=None)
print("ok")
"""


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_patterns_finish_on_adversarial_input(name: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, INPUTS[name]], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a pattern did not finish within {HANG_GUARD_S} s on {name}: super-linear backtracking")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
