"""``python -m attnlock.matrix FILE``: regenerate the static matrix page (docs/matrix.html) from the database."""

from __future__ import annotations

import sys

from attnlock.cli import main

if __name__ == "__main__":
    sys.exit(main(["db", "matrix", "--format", "html", "-o", *(sys.argv[1:2] or ["docs/matrix.html"])]))
