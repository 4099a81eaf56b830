"""``attnlock deactivate``: remove exactly what ``attnlock activate`` added."""

from __future__ import annotations

import argparse

from attnlock.commands.activate import run_deactivate


def run(args: argparse.Namespace) -> int:
    return run_deactivate(args)
