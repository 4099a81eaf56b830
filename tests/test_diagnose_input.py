"""Input conveniences and bad input: big logs in bounded memory, empty/binary/non-UTF-8 logs, a terminal.

Every bad input ends in a clear "nothing recognised" with what to try and exit 1, never a
traceback; a log bigger than the in-memory limit is streamed and still answered.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attnlock.diagnose import reader
from attnlock.diagnose.reader import read_stream

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "logs" / "corpus"
NOISE = b"epoch 3 step 1200 loss=0.4312 lr=2e-05 grad_norm=1.02 tokens/s=18234\n"


def _run(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "attnlock", "diagnose", *argv], input=stdin,
                          capture_output=True, env=env, timeout=120, cwd=ROOT)


BAD_INPUTS = {
    "empty": (b"", b"empty"),
    "only-blank-lines": (b"\n\n   \n\t\n", b"no known error signature"),
    "binary-elf": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64, b"binary file"),
    "not-utf8": (bytes(range(0x80, 0x100)) * 400, b"not UTF-8"),
    "gzip": (b"\x1f\x8b\x08\x00" + bytes(range(1, 256)) * 100, b"zcat"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_says_nothing_recognised(name: str, tmp_path: Path) -> None:
    data, says = BAD_INPUTS[name]
    p = tmp_path / f"{name}.log"
    p.write_bytes(data)
    for argv, stdin in (([str(p)], b""), (["-"], data)):
        proc = _run(*argv, stdin=stdin)
        assert proc.returncode == 1, proc.stderr
        assert b"Traceback" not in proc.stderr
        assert says in proc.stderr
        assert b"nothing recognised" in proc.stderr or b"no known error signature" in proc.stderr
        assert b"hint:" in proc.stderr


def test_bad_input_with_json_prints_no_diagnoses(tmp_path: Path) -> None:
    proc = _run("-", "--json", stdin=b"")
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"diagnoses": []}


def test_utf16_log_from_powershell_is_read(tmp_path: Path) -> None:
    text = (CORPUS / "triton-gpu-old-nanogpt-157.log").read_text(encoding="utf-8")
    proc = _run("-", "--json", stdin=text.encode("utf-16"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["diagnoses"][0]["id"] == "triton-gpu-too-old"


def _big_log(mib: int, head: bytes, tail: bytes) -> bytes:
    noise = NOISE * (mib * 1024 * 1024 // len(NOISE))
    return head + noise[: len(noise) // 2] + tail + noise[len(noise) // 2:]


def test_big_log_is_streamed_into_a_bounded_excerpt() -> None:
    head = (CORPUS / "xformers-built-for-invokeai-4788.log").read_bytes()
    middle = (CORPUS / "flash-attn-nvcc-old-fa-825.log").read_bytes()
    data = _big_log(40, head, middle)
    log = read_stream(io.BytesIO(data), ["xFormers was built for:", "FlashAttention is only supported on CUDA"])
    assert log.excerpt and log.size == len(data)
    assert len(log.text) <= reader.KEEP_CHARS + reader.TAIL_CHARS + 4096
    assert "PyTorch 2.0.1+cu118 with CUDA 1108 (you have 2.0.1+cpu)" in log.text
    assert "FlashAttention is only supported on CUDA 11.6 and above" in log.text


def test_big_log_without_newlines_is_cut_into_bounded_lines() -> None:
    data = b"x" * (reader.IN_MEMORY_BYTES + 5 * 1024 * 1024) + b" Torch not compiled with CUDA enabled"
    log = read_stream(io.BytesIO(data), ["Torch not compiled with CUDA enabled"])
    assert log.excerpt
    assert "Torch not compiled with CUDA enabled" in log.text
    assert max(len(line) for line in log.text.split("\n")) <= reader.LINE_CHARS


def test_big_log_through_the_cli(tmp_path: Path) -> None:
    p = tmp_path / "ci.log"
    p.write_bytes(_big_log(24, (CORPUS / "torch-cpu-detectron2-460.log").read_bytes(),
                           (CORPUS / "bnb-cpu-only-bnb-176.log").read_bytes()))
    proc = _run(str(p), "--json")
    assert proc.returncode == 0, proc.stderr
    diagnoses = json.loads(proc.stdout)["diagnoses"]
    assert [d["id"] for d in diagnoses][:2] == ["torch-not-compiled-with-cuda", "bitsandbytes-cpu-only"]
    # Lines are numbered as in the whole log, not in the excerpt that was read.
    lines = p.read_bytes().split(b"\n")
    bnb = next(d for d in diagnoses if d["id"] == "bitsandbytes-cpu-only")
    assert b"compiled without GPU support" in lines[bnb["line"] - 1]
    assert bnb["line"] > 100_000


def test_file_name_with_escapes_is_not_echoed(tmp_path: Path) -> None:
    proc = _run(str(tmp_path / "\x1b]0;owned\x07missing.log"))
    assert proc.returncode == 1
    assert b"\x1b" not in proc.stderr and b"\x07" not in proc.stderr
    assert b"no such file" in proc.stderr


def test_terminal_without_input_says_how_to_paste() -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "attnlock", "diagnose"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    os.close(slave)
    try:
        assert proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"Ctrl-D" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                seen += os.read(proc.stderr.fileno(), 4096)
        assert b"Paste it" in seen and b"Ctrl-D" in seen and b"| attnlock diagnose -" in seen
        os.write(master, b"Torch not compiled with CUDA enabled\n")
        os.write(master, b"\x04")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert b"torch-not-compiled-with-cuda" in out
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_escape_sequences_never_reach_the_output() -> None:
    log = (b"\x1b]0;evil title\x07\x1b]8;;https://example.invalid\x1b\\link\x1b]8;;\x1b\\\n"
           b"\x1b[31mRuntimeError: Found no NVIDIA driver on your system.\x1b[0m \x1b]52;c;ZWNobyBoaQ==\x07\n")
    for fmt in ((), ("--json",)):
        proc = _run("-", *fmt, stdin=log)
        assert proc.returncode == 0, proc.stderr
        assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
        assert b"torch-no-nvidia-driver" in proc.stdout
