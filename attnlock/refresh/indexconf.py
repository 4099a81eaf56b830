"""Which package index refresh reads: the command line, ATTNLOCK_INDEX_URL, pip's configuration, uv's.

The repository names no index host; the index always comes from the user.  pip's and uv's
configuration files are parsed here (configparser / tomllib) rather than by running the
tools, so the lookup is fast and testable with an explicit environment and home directory.
Order, first hit wins:

1. ``--index-url``;
2. ``ATTNLOCK_INDEX_URL``;
3. pip: ``PIP_INDEX_URL``; then its files, highest priority first as pip ranks them:
   ``PIP_CONFIG_FILE``, site (``<sys.prefix>/pip.conf``), user (``$XDG_CONFIG_HOME/pip/pip.conf``,
   ``~/.pip/pip.conf``; skipped when ``PIP_CONFIG_FILE`` exists), global (``/etc/pip.conf``,
   ``$XDG_CONFIG_DIRS/pip/pip.conf``); in each, ``[install] index-url`` before
   ``[global] index-url``.  ``PIP_CONFIG_FILE=os.devnull`` disables the files, as in pip;
4. uv: ``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``; then ``UV_CONFIG_FILE``, user
   (``$XDG_CONFIG_HOME/uv/uv.toml``), system (``$XDG_CONFIG_DIRS/uv/uv.toml``,
   ``/etc/uv/uv.toml``): an ``[[index]]`` with ``default = true``, ``index-url`` or
   ``[pip] index-url``.  ``UV_NO_CONFIG`` disables the files.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from attnlock.errors import InputError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class IndexChoice:
    """The index URL and where it was configured (for messages; the URL is never written to data)."""

    url: str
    origin: str


def _check(url: str, origin: str) -> IndexChoice:
    url = url.strip()
    if not url.startswith(("http://", "https://", "file://")):
        raise UsageError(f"index URL from {origin} is not an http(s) URL: {url!r}")
    return IndexChoice(url, origin)


def _pip_files(env: Mapping[str, str], home: Path, prefix: Path, etc: Path) -> Iterator[Path]:
    """pip's configuration files, highest priority first (pip loads them in the reverse order)."""
    cfg = env.get("PIP_CONFIG_FILE")
    if cfg == os.devnull:
        return
    if cfg:
        yield Path(cfg)
    yield prefix / "pip.conf"
    if not (cfg and Path(cfg).exists()):  # pip skips user files when PIP_CONFIG_FILE exists
        xdg_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        yield xdg_home / "pip" / "pip.conf"
        yield home / ".pip" / "pip.conf"
    yield etc / "pip.conf"
    for d in reversed((env.get("XDG_CONFIG_DIRS") or str(etc / "xdg")).split(os.pathsep)):
        if d:
            yield Path(d) / "pip" / "pip.conf"


def _uv_files(env: Mapping[str, str], home: Path, etc: Path) -> Iterator[Path]:
    if env.get("UV_NO_CONFIG"):
        return
    if env.get("UV_CONFIG_FILE"):
        yield Path(env["UV_CONFIG_FILE"])
    xdg_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    yield xdg_home / "uv" / "uv.toml"
    for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep):
        if d:
            yield Path(d) / "uv" / "uv.toml"
    yield etc / "uv" / "uv.toml"


def _read_config(path: Path) -> str:
    """A configuration file's text: regular files only (a FIFO is refused, not waited on), at most 1 MiB."""
    from attnlock.atomic import read_regular_bytes

    return read_regular_bytes(path, limit=1024 * 1024).decode("utf-8")


def _from_pip_file(path: Path) -> str | None:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(_read_config(path), source=str(path))
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read pip configuration: {exc}", path=str(path)) from exc
    for section in ("install", "global"):
        for key in ("index-url", "index_url"):
            if parser.has_option(section, key):
                value = parser.get(section, key).strip()
                if value:
                    return value
    return None


def _from_uv_file(path: Path) -> str | None:
    try:
        doc = tomllib.loads(_read_config(path))
    except FileNotFoundError:
        return None
    except RecursionError:
        raise InputError("cannot read uv configuration: nested too deeply", path=str(path)) from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read uv configuration: {exc}", path=str(path)) from exc
    for idx in doc.get("index", []) if isinstance(doc.get("index"), list) else []:
        if isinstance(idx, dict) and idx.get("default") and isinstance(idx.get("url"), str):
            return str(idx["url"])
    if isinstance(doc.get("index-url"), str):
        return str(doc["index-url"])
    pip = doc.get("pip")
    if isinstance(pip, dict) and isinstance(pip.get("index-url"), str):
        return str(pip["index-url"])
    return None


def find_index(
    cli_value: str | None,
    env: Mapping[str, str] | None = None,
    *,
    home: Path | None = None,
    prefix: Path | None = None,
    etc: Path = Path("/etc"),
) -> IndexChoice:
    """The index to read, or a :class:`UsageError` asking for ``--index-url`` when none is configured.

    ``env``, ``home``, ``prefix`` (pip's site directory) and ``etc`` default to this process's;
    tests pass their own.
    """
    env = os.environ if env is None else env
    home = home if home is not None else Path.home()
    prefix = prefix if prefix is not None else Path(sys.prefix)
    if cli_value:
        return _check(cli_value, "--index-url")
    for var in ("ATTNLOCK_INDEX_URL", "PIP_INDEX_URL"):
        if env.get(var):
            return _check(env[var], var)
    for path in _pip_files(env, home, prefix, etc):
        found = _from_pip_file(path)
        if found:
            return _check(found, f"pip configuration {path}")
    for var in ("UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        if env.get(var):
            return _check(env[var], var)
    for path in _uv_files(env, home, etc):
        found = _from_uv_file(path)
        if found:
            return _check(found, f"uv configuration {path}")
    raise UsageError(
        "no package index configured",
        hint="pass --index-url URL (or set ATTNLOCK_INDEX_URL, or configure index-url for pip or uv)",
    )
