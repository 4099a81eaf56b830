"""``attnlock check``: lint requirements, constraints, pyproject and lock files against the database.

Pipeline: readers with positions (:mod:`~attnlock.check.requirements`,
:mod:`~attnlock.check.tomlfiles`) → install sets and environments
(:mod:`~attnlock.check.context`) → rules over the database
(:mod:`~attnlock.check.rules`) → findings → text, JSON or SARIF
(:mod:`~attnlock.check.output`), and ``--fix`` (:mod:`~attnlock.check.fix`).
Imports only the standard library and ``packaging`` (the pre-commit path).

Public API::

    from attnlock.check import check_paths
    report = check_paths(["requirements.txt"], target=Target(...), db=attnlock.database.load())
    report.findings  # [Finding(code, path, line, column, message, packages, fix, edit)]

Findings repeat per line except AL201, which is grouped: one per (file, package) at the first line,
its message counting the other lines and naming their extras/groups (a pyproject with one extra per
CUDA/torch build would otherwise print one warning per URL line).  ``-`` reads standard input as a
requirements file, named ``<stdin>`` (``--fix`` refuses it).

Finding codes (stable; the table is :data:`attnlock.check.codes.CODES`):

=======  ========  ==========================================================
code     severity  meaning
=======  ========  ==========================================================
AL001    error     file cannot be read (missing, unreadable, binary, too large, unknown encoding)
AL002    error     a line or value does not parse (garbled requirement, invalid TOML, wrong type)
AL003    error     circular ``-r``/``-c`` include
AL004    error     ``-r``/``-c`` include not found
AL005    warning   ``-r``/``-c`` include is a URL (not read offline)
AL006    warning   option pip does not know in a requirements file
AL007    warning   one package pinned twice to the same version
AL101    error     a pinned package's metadata requires another version of a pinned package
AL102    error     a pinned binary was compiled for another torch (xformers build info, flash-attn label)
AL103    error     triton is not the version the pinned torch requires
AL104    error     torchvision / torchaudio made for another torch
AL105    error     two pins require versions of a shared dependency no release satisfies together
AL106    error     a combination the database records as broken
AL107    error     the pins work for no CUDA variant the target allows
AL108    error     torch pinned outside the target's ``--torch``
AL109    error     the torch build needs a newer CUDA than the target's ``--driver`` supports
AL110    error     two requirements of one package admit no common version
AL111    error     the newest releases the file's ranges allow are a known-bad combination (the fix avoids it)
AL112    error     no set of builds in the file's ranges works together for the target (the resolver says why)
AL201    warning   a kernel package pinned while torch floats (the installer moves torch); one per file and package
AL202    warning   a pinned version the database does not know
AL203    error     no wheel for any Python/platform the target allows
AL204    warning   a reported (unconfirmed) broken combination, or a known-bad one unless the GPU or build differs
AL301    error     ``+cuXXX`` local version with no index that serves it
AL302    error     index for one CUDA variant, torch pinned to another
AL303    warning   unscoped ``--extra-index-url`` or non-explicit ``[[tool.uv.index]]`` (dependency confusion)
AL304    warning   ``--index-url`` inside a constraints file
AL401    error     extras in a constraints file (pip fails every install)
AL402    warning   ``--hash`` in a constraints file
AL403    error     editable or unnamed URL line in a constraints file
=======  ========  ==========================================================
"""

from __future__ import annotations

from attnlock.check.checker import Report, check_paths, default_paths
from attnlock.check.findings import Edit, Finding

__all__ = ["Edit", "Finding", "Report", "check_paths", "default_paths"]
