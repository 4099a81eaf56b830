"""Shared test support: real wheels and sdists, local package indexes, scrubbed installer environments.

* :mod:`tests.support.wheels` builds valid wheel and sdist files (pip- and uv-installable).
* :mod:`tests.support.index` lays out a PEP 503/691 simple index and serves it over HTTP with
  Range support and fault injection.
* :mod:`tests.support.installers` gives the environment real pip/uv run in, free of this
  machine's pip/uv configuration.
"""
