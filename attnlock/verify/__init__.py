"""Post-install verification: run each installed attention kernel in a child process and judge what it did.

Public API (``attnlock verify`` uses it; nothing here imports torch)::

    from attnlock.verify.verifier import run_verify, Report
    report = run_verify(only=["torch", "xformers"], timeout=180)
    report.checks      # dicts in the ``verify --json`` shape of shared/CLI.md

Modules: :mod:`.plan` (which probe children, which checks each promises),
:mod:`.runner` (parallel children, streamed results, crash and hang
handling), :mod:`.fallback` (silent slow fallbacks), :mod:`.fleet`
(torchrun), :mod:`.report` (terminal output), :mod:`.probes` (child-only).
"""
