"""Refresh derived facts from a package index: release lists, wheel METADATA and build info.

``attnlock db refresh`` lives here.  httpx is imported only by :mod:`attnlock.refresh.http`
(the optional ``attnlock[refresh]`` extra), never at package import.  Modules:

* :mod:`~attnlock.refresh.indexconf` – which index: ``--index-url``, ``ATTNLOCK_INDEX_URL``,
  pip's configuration, uv's configuration;
* :mod:`~attnlock.refresh.http` – the HTTP port: retries, timeouts, byte budget, range reads;
* :mod:`~attnlock.refresh.simple` – PEP 691 JSON / PEP 503 HTML project pages;
* :mod:`~attnlock.refresh.remotezip` – one zip member read by HTTP range requests;
* :mod:`~attnlock.refresh.scope` – ``data/curated/refresh.toml``;
* :mod:`~attnlock.refresh.derive` – derived documents, reusing facts of unchanged files;
* :mod:`~attnlock.refresh.report` – diff summary and progress display;
* :mod:`~attnlock.refresh.runner` – one run: read, diff, write atomically;
* :mod:`~attnlock.refresh.cli` – the ``db refresh`` options and entry point.
"""

from __future__ import annotations
