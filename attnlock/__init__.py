"""attnlock: lock PyTorch attention-kernel stacks to builds that work together.

The package root imports nothing heavy: the CLI, ``detect`` and ``check``
must start in milliseconds (see tests/test_import_budget.py).
"""

from __future__ import annotations

__version__ = "0.1.0"
