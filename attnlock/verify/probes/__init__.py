"""Child-only probe programs: each runs in a child process and streams one JSON line per finished check.

Nothing in this package is imported by the parent ``attnlock verify`` process:
the probes import torch, jax, triton and the kernel packages, which the parent
never does.  Each probe is a real file (Triton refuses ``@triton.jit``
functions defined in ``python -c`` strings) and is run as
``python -m attnlock.verify.probes.<name>``.
"""
