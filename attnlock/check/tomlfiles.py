"""Readers of pyproject.toml, uv.lock and pylock.toml, with each requirement's position.

pyproject.toml: PEP 621 ``[project] dependencies`` and
``optional-dependencies``, PEP 735 ``[dependency-groups]`` (with
``include-group``), and ``[tool.uv]`` ``constraint-dependencies``,
``override-dependencies``, ``dev-dependencies``, ``[[tool.uv.index]]`` and
``[tool.uv.sources]``.  uv.lock: ``[[package]]`` name, version and source.
pylock.toml (PEP 751): ``[[packages]]`` name, version, marker and index.
Values come from :mod:`tomllib`; positions from
:class:`attnlock.check.toml_locate.TomlLocator`.
"""

from __future__ import annotations

from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from attnlock.check.document import Document, Entry, IndexDecl, Span
from attnlock.check.findings import Finding
from attnlock.check.source import Source, long_number, read_source
from attnlock.check.toml_locate import TomlLocator, toml_error_position, tomllib
from attnlock.errors import InputError


class _Reader:
    """Shared state of one TOML file being read: source, parsed data, locator, document."""

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.data: dict[str, Any] | None = None
        self.source: Source | None = None
        self.locator: TomlLocator | None = None
        try:
            self.source = read_source(path)
        except InputError as exc:
            self.doc = Document(path=path, kind=kind, source=None, findings=[
                Finding("AL001", path, exc.line or 1, exc.column or 1, exc.message, fix=exc.hint)])
            return
        self.doc = Document(path=path, kind=kind, source=self.source)
        try:
            self.data = tomllib.loads(self.source.text)
        except tomllib.TOMLDecodeError as exc:
            line, col = toml_error_position(exc, self.source.text)
            message = str(exc).split(" (at ", 1)[0]
            self.doc.findings.append(Finding("AL002", path, line, col, f"invalid TOML: {message}",
                                             fix="fix the TOML syntax at this position"))
            self.data = None
            return
        except RecursionError:
            self.doc.findings.append(Finding("AL002", path, 1, 1, "TOML nested too deeply to read",
                                             fix="flatten the nested arrays or tables"))
            self.data = None
            return
        self.locator = TomlLocator(self.source.text)

    def pos(self, key_path: tuple[object, ...]) -> tuple[int, int]:
        assert self.source is not None and self.locator is not None
        return self.source.position(self.locator.offset(key_path))

    def bad(self, key_path: tuple[object, ...], message: str, fix: str | None = None) -> None:
        line, col = self.pos(key_path)
        self.doc.findings.append(Finding("AL002", self.path, line, col, message, fix=fix))

    def requirement(
        self, key_path: tuple[object, ...], value: object, *, kind: str, group: str = "",
    ) -> Entry | None:
        dotted = _dotted(key_path)
        if not isinstance(value, str):
            self.bad(key_path, f"{dotted} must be a requirement string, not {type(value).__name__}",
                     fix='"NAME==VERSION"')
            return None
        line, col = self.pos(key_path)
        if long_number(value):
            self.doc.findings.append(Finding("AL002", self.path, line, col,
                                             f"a number of more than 100 digits in {dotted}; no version has one",
                                             fix='"NAME[==VERSION][; MARKER]"'))
            return None
        try:
            req = Requirement(value)
        except InvalidRequirement as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid requirement"
            self.doc.findings.append(Finding("AL002", self.path, line, col,
                                             f"cannot parse requirement {value!r} in {dotted}: {first}",
                                             fix='"NAME[==VERSION][; MARKER]"'))
            return None
        assert self.locator is not None and self.source is not None
        located = self.locator.string(key_path)
        span = quote = None
        if located is not None and located.quote in ('"', "'") and self.source.fixable:
            span, quote = Span(located.start, located.end), located.quote
        url_version = None
        if req.url:
            from attnlock.check.requirements import _wheel_version

            wheel = _wheel_version(req.url)
            url_version = wheel[1] if wheel else None
        if located is not None:
            line, col = self.source.position(located.start + len(located.quote))
        entry = Entry(path=self.path, line=line, column=col, text=value, requirement=req, kind=kind, group=group,
                      span=span, quote=quote or "", url_version=url_version)
        self.doc.entries.append(entry)
        return entry

    def requirement_list(self, key_path: tuple[object, ...], value: object, *, kind: str, group: str = "") -> None:
        if value is None:
            return
        if not isinstance(value, list):
            self.bad(key_path, f"{_dotted(key_path)} must be an array of requirement strings",
                     fix=f'{key_path[-1]} = ["NAME==VERSION"]')
            return
        for i, item in enumerate(value):
            if kind == "requirement" and group.startswith("group:") and isinstance(item, dict):
                if "include-group" not in item:
                    self.bad(key_path + (i,), "a dependency group entry must be a string or "
                             "{include-group = \"NAME\"}")
                continue
            self.requirement(key_path + (i,), item, kind=kind, group=group)


def _requires_python(r: _Reader, value: object, key_path: tuple[object, ...]) -> None:
    """Keep ``requires-python`` when it is one a tool can compare (no 5,000-digit version)."""
    if not isinstance(value, str):
        return
    if long_number(value):
        r.bad(key_path, "requires-python holds a number of more than 100 digits; no version has one",
              fix='requires-python = ">=3.10"')
        return
    r.doc.requires_python = value


def _dotted(key_path: tuple[object, ...]) -> str:
    out = ""
    for k in key_path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _table(reader: _Reader, data: dict[str, Any], key_path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = data
    for depth, key in enumerate(key_path):
        if not isinstance(node, dict):
            reader.bad(key_path[:depth], f"{'.'.join(key_path[:depth])} must be a table")
            return None
        node = node.get(key)
        if node is None:
            return None
    if not isinstance(node, dict):
        reader.bad(key_path, f"{'.'.join(key_path)} must be a table")
        return None
    return node


def read_pyproject(path: str) -> Document:
    """Read a pyproject.toml; every problem becomes a finding in the returned document."""
    r = _Reader(path, "pyproject")
    if r.data is None:
        return r.doc
    data = r.data
    project = _table(r, data, ("project",))
    if project is not None:
        _requires_python(r, project.get("requires-python"), ("project", "requires-python"))
        r.requirement_list(("project", "dependencies"), project.get("dependencies"), kind="requirement")
        optional = project.get("optional-dependencies")
        if optional is not None:
            if not isinstance(optional, dict):
                r.bad(("project", "optional-dependencies"), "project.optional-dependencies must be a table")
            else:
                for extra, reqs in optional.items():
                    r.requirement_list(("project", "optional-dependencies", extra), reqs, kind="requirement",
                                       group=f"extra:{extra}")
    groups = _table(r, data, ("dependency-groups",))
    if groups is not None:
        for name, reqs in groups.items():
            r.requirement_list(("dependency-groups", name), reqs, kind="requirement", group=f"group:{name}")
    uv = _table(r, data, ("tool", "uv"))
    if uv is not None:
        r.requirement_list(("tool", "uv", "constraint-dependencies"), uv.get("constraint-dependencies"),
                           kind="constraint")
        r.requirement_list(("tool", "uv", "override-dependencies"), uv.get("override-dependencies"),
                           kind="override")
        r.requirement_list(("tool", "uv", "dev-dependencies"), uv.get("dev-dependencies"), kind="requirement",
                           group="group:dev")
        _uv_indexes(r, uv)
    return r.doc


def _uv_indexes(r: _Reader, uv: dict[str, Any]) -> None:
    from attnlock.check.requirements import _wheel_version
    from attnlock.model import canonical

    sources = uv.get("sources") or {}
    pinned: dict[str, list[str]] = {}
    if not isinstance(sources, dict):
        r.bad(("tool", "uv", "sources"), "tool.uv.sources must be a table")
        sources = {}
    for package, spec in sources.items():
        items = spec if isinstance(spec, list) else [spec]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("index"), str):
                pinned.setdefault(item["index"], []).append(canonical(package))
            if len(items) == 1 and isinstance(item, dict) and isinstance(item.get("url"), str):
                # A single wheel URL source fixes the version (and local label) uv installs.
                wheel = _wheel_version(item["url"])
                if wheel is not None:
                    for e in r.doc.entries:
                        if e.name == canonical(package) and e.requirement is not None and not e.requirement.url:
                            e.url_version = wheel[1]
    indexes = uv.get("index")
    if indexes is None:
        return
    if not isinstance(indexes, list):
        r.bad(("tool", "uv", "index"), "tool.uv.index must be an array of tables ([[tool.uv.index]])")
        return
    for i, index in enumerate(indexes):
        if not isinstance(index, dict) or not isinstance(index.get("url"), str):
            r.bad(("tool", "uv", "index", i), "each [[tool.uv.index]] needs a url string")
            continue
        line, col = r.pos(("tool", "uv", "index", i, "url"))
        name = index.get("name") if isinstance(index.get("name"), str) else None
        r.doc.indexes.append(IndexDecl(
            r.path, line, col, "tool.uv.index", index["url"], name=name,
            explicit=bool(index.get("explicit", False)), default=bool(index.get("default", False)),
            packages=tuple(pinned.get(name or "", ())),
        ))


def read_uv_lock(path: str) -> Document:
    """Read a uv.lock: each ``[[package]]`` becomes a ``locked`` entry ``name==version``."""
    r = _Reader(path, "uv.lock")
    if r.data is None:
        return r.doc
    _requires_python(r, r.data.get("requires-python"), ("requires-python",))
    packages = r.data.get("package", [])
    if not isinstance(packages, list):
        r.bad(("package",), "package must be an array of tables ([[package]])")
        return r.doc
    edges = _uv_edge_markers(packages)
    for i, pkg in enumerate(packages):
        _locked(r, ("package", i), pkg, markers_key="resolution-markers", index_of=_uv_source,
                edge_markers=edges.get(str(pkg.get("name"))) if isinstance(pkg, dict) else None)
    return r.doc


def _uv_edge_markers(packages: list[Any]) -> dict[str, list[str]]:
    """Per package, the markers of the edges that reach it, when every edge has one.

    uv.lock writes a conditional dependency as ``{ name = "tomli", marker = "..." }`` on the
    dependent's edge, not on the package; a package reached only through marked edges is
    installed only where one of them holds (one level: enough for direct dependencies).
    """
    found: dict[str, list[str]] = {}
    unconditional: set[str] = set()
    for pkg in packages:
        if not isinstance(pkg, dict):
            continue
        groups: list[Any] = [pkg.get("dependencies")]
        for key in ("optional-dependencies", "dev-dependencies"):
            table = pkg.get(key)
            if isinstance(table, dict):
                groups.extend(table.values())
        for group in groups:
            for edge in group if isinstance(group, list) else []:
                if not isinstance(edge, dict) or not isinstance(edge.get("name"), str):
                    continue
                marker = edge.get("marker")
                if isinstance(marker, str) and marker.strip():
                    found.setdefault(edge["name"], []).append(marker)
                else:
                    unconditional.add(edge["name"])
    return {name: markers for name, markers in found.items() if name not in unconditional}


def read_pylock(path: str) -> Document:
    """Read a PEP 751 pylock.toml: each ``[[packages]]`` becomes a ``locked`` entry."""
    r = _Reader(path, "pylock")
    if r.data is None:
        return r.doc
    _requires_python(r, r.data.get("requires-python"), ("requires-python",))
    if "lock-version" not in r.data:
        r.bad((), "pylock.toml has no lock-version (PEP 751 requires it)", fix='lock-version = "1.0"')
    packages = r.data.get("packages", [])
    if not isinstance(packages, list):
        r.bad(("packages",), "packages must be an array of tables ([[packages]])")
        return r.doc
    for i, pkg in enumerate(packages):
        _locked(r, ("packages", i), pkg, markers_key="marker",
                index_of=lambda p: p.get("index") if isinstance(p.get("index"), str) else None)
    return r.doc


def _uv_source(pkg: dict[str, Any]) -> str | None:
    source = pkg.get("source")
    if isinstance(source, dict):
        for key in ("registry", "url"):
            if isinstance(source.get(key), str):
                return str(source[key])
    return None


def _locked(r: _Reader, key_path: tuple[object, ...], pkg: object, *, markers_key: str, index_of: Any,
            edge_markers: list[str] | None = None) -> None:
    if not isinstance(pkg, dict):
        r.bad(key_path, "each package entry must be a table")
        return
    name, version = pkg.get("name"), pkg.get("version")
    if not isinstance(name, str):
        r.bad(key_path, "package entry without a name string", fix='name = "NAME"')
        return
    if version is None:
        return  # a virtual/editable project or a source tree: nothing pinned
    if not isinstance(version, str):
        r.bad(key_path + ("version",), f"version of {name} must be a string")
        return
    try:
        if long_number(version) or long_number(name):
            raise InvalidVersion(version)
        parsed = Version(version)
        req = Requirement(f"{name}=={parsed}")
    except (InvalidVersion, InvalidRequirement, ValueError):
        r.bad(key_path + ("version",), f"invalid version {version!r} for {name}")
        return
    marker: Marker | None = None
    raw_markers = pkg.get(markers_key)
    texts = [raw_markers] if isinstance(raw_markers, str) else raw_markers if isinstance(raw_markers, list) else []
    texts = [t for t in texts if isinstance(t, str) and t.strip() and not long_number(t)]
    clauses = [" or ".join(f"({t})" for t in group) for group in (texts, edge_markers or []) if group]
    if clauses:
        try:
            marker = Marker(" and ".join(f"({c})" for c in clauses))
        except InvalidMarker:
            r.bad(key_path + (markers_key,), f"invalid marker for {name}")
    line, col = r.pos(key_path + ("version",))
    assert r.source is not None
    r.doc.entries.append(Entry(path=r.path, line=line, column=col, text=f"{name}=={version}", requirement=req,
                               kind="locked", index=index_of(pkg), extra_marker=marker))
