"""Entry point for ``python -m attnlock``."""

from __future__ import annotations

import sys

from attnlock.cli import main

sys.exit(main())
