"""Installer integration: the Python environment installers act on, running pip/uv, and the guard.

* :mod:`attnlock.install.environment` – which environment, and whether it can be changed;
* :mod:`attnlock.install.runner` – run pip or uv as a subprocess, output streamed, tail kept;
* :mod:`attnlock.install.guard` – ``attnlock activate``/``deactivate``: a constraints file owned
  by attnlock that every later plain ``pip install`` in the environment obeys.
"""

from __future__ import annotations
