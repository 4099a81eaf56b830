"""Wheel build hook: ship data/ compiled (attnlock/data/.compiled/), so an installed copy opens its
database without parsing JSON or TOML (attnlock/database/compiled.py says how entries are checked)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileDatabase(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"
    _compiled_dir: Path | None = None  # the entries' temporary directory, removed by finalize

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install reads the checkout's data/ and compiles it on first use
        root = Path(self.root)
        sys.path.insert(0, str(root))
        try:
            from attnlock.database.compiled import SHIPPED_DIR, compile_into
            from attnlock.database.store import PARSERS
        finally:
            sys.path.remove(str(root))
        out = Path(tempfile.mkdtemp(prefix="attnlock-compiled-"))
        self._compiled_dir = out
        compile_into(root / "data", out, PARSERS)
        build_data["force_include"][str(out)] = f"attnlock/data/{SHIPPED_DIR}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._compiled_dir is not None:  # the wheel holds the entries now
            shutil.rmtree(self._compiled_dir, ignore_errors=True)
            self._compiled_dir = None
