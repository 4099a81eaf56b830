"""Real distribution files for tests: wheels (zip, METADATA 2.1, WHEEL, RECORD) and sdists.

The zip writer is our own (not :mod:`zipfile`) so tests can force zip64 end records, choose
stored or deflated members, and add a zip comment: the shapes a range-reading client meets in
the wild.  Everything produced is a valid archive that ``zipfile``, pip and uv accept.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import struct
import tarfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

__all__ = ["ZipMember", "build_wheel", "build_sdist", "write_zip", "wheel_filename"]


@dataclass(frozen=True)
class ZipMember:
    """One member of an archive written by :func:`write_zip`."""

    name: str
    data: bytes
    deflate: bool = True


def _dos_time() -> tuple[int, int]:
    # 1980-01-01 00:00:00: reproducible archives.
    return 0, (0 << 9) | (1 << 5) | 1


def write_zip(members: Sequence[ZipMember], *, zip64: bool = False, comment: bytes = b"") -> bytes:
    """Return the bytes of a zip archive holding ``members``.

    With ``zip64=True`` every central-directory entry carries a zip64 extra field with its sizes
    and offset (the 32-bit fields set to 0xFFFFFFFF) and the archive ends with a zip64 end of
    central directory record and locator before the classic one, as writers of >4 GiB archives do.
    """
    out = io.BytesIO()
    central: list[bytes] = []
    dtime, ddate = _dos_time()
    for m in members:
        name = m.name.encode("utf-8")
        crc = zlib.crc32(m.data) & 0xFFFFFFFF
        if m.deflate:
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload = comp.compress(m.data) + comp.flush()
            method = 8
        else:
            payload = m.data
            method = 0
        offset = out.tell()
        version_needed = 45 if zip64 else 20
        local_extra = b""
        csize, usize = len(payload), len(m.data)
        if zip64:
            local_extra = struct.pack("<HHQQ", 0x0001, 16, usize, csize)
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                version_needed,
                0x0800,  # UTF-8 names
                method,
                dtime,
                ddate,
                crc,
                0xFFFFFFFF if zip64 else csize,
                0xFFFFFFFF if zip64 else usize,
                len(name),
                len(local_extra),
            )
        )
        out.write(name)
        out.write(local_extra)
        out.write(payload)
        if zip64:
            cextra = struct.pack("<HHQQQ", 0x0001, 24, usize, csize, offset)
            c_csize = c_usize = c_off = 0xFFFFFFFF
        else:
            cextra = b""
            c_csize, c_usize, c_off = csize, usize, offset
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | version_needed,  # made by: unix
                version_needed,
                0x0800,
                method,
                dtime,
                ddate,
                crc,
                c_csize,
                c_usize,
                len(name),
                len(cextra),
                0,
                0,
                0,
                (0o100644 << 16),
                c_off,
            )
            + name
            + cextra
        )
    cd_offset = out.tell()
    for entry in central:
        out.write(entry)
    cd_size = out.tell() - cd_offset
    count = len(central)
    if zip64:
        eocd64_offset = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment)))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, len(comment)))
    out.write(comment)
    return out.getvalue()


def _escape(name: str) -> str:
    """Distribution name as it appears in file names (wheel spec: runs of -_. become _)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_filename(name: str, version: str, tags: tuple[str, str, str] = ("py3", "none", "any")) -> str:
    """The file name :func:`build_wheel` gives a wheel."""
    return f"{_escape(name)}-{Version(version)}-{tags[0]}-{tags[1]}-{tags[2]}.whl"


def _metadata(
    name: str,
    version: str,
    requires_dist: Iterable[str],
    requires_python: str | None,
    provides_extra: Iterable[str],
    summary: str,
    description: str,
) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {Version(version)}", f"Summary: {summary}"]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {e}" for e in provides_extra)
    lines.extend(f"Requires-Dist: {r}" for r in requires_dist)
    text = "\n".join(lines) + "\n"
    if description:
        text += "\n" + description
    return text.encode("utf-8")


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    directory: str | Path,
    name: str,
    version: str,
    *,
    tags: tuple[str, str, str] = ("py3", "none", "any"),
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "attnlock test distribution",
    description: str = "",
    zip64: bool = False,
    deflate: bool = True,
    comment: bytes = b"",
) -> Path:
    """Write a valid wheel into ``directory`` and return its path.

    ``version`` may carry a local label (``"2.3.1+cu121"``).  ``tags`` is one
    (python, abi, platform) triple; compressed tag sets (``"cp310.cp311"``) are expanded in
    WHEEL.  The wheel holds ``<import_name>/__init__.py`` (setting ``__version__``) unless
    ``extra_files`` provides that path, plus every ``extra_files`` member (path inside the
    wheel -> bytes), then ``.dist-info/METADATA``, ``WHEEL`` and ``RECORD`` (sha256 of each
    member).  ``description`` becomes the METADATA body (a large one makes a zip bomb).
    ``zip64``, ``deflate`` and ``comment`` shape the archive (see :func:`write_zip`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ver = str(Version(version))
    dist_info = f"{_escape(name)}-{ver}.dist-info"
    import_name = _escape(name)
    files: dict[str, bytes] = {f"{import_name}/__init__.py": f'__version__ = "{ver}"\n'.encode()}
    files.update(extra_files or {})
    files[f"{dist_info}/METADATA"] = _metadata(
        name, ver, requires_dist, requires_python, provides_extra, summary, description
    )
    pure = tags[2] == "any"
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: attnlock-tests (0)",
        f"Root-Is-Purelib: {'true' if pure else 'false'}",
    ]
    for py in tags[0].split("."):
        for abi in tags[1].split("."):
            for plat in tags[2].split("."):
                wheel_lines.append(f"Tag: {py}-{abi}-{plat}")
    files[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    record = [_record_line(p, d) for p, d in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    data = write_zip([ZipMember(p, d, deflate) for p, d in files.items()], zip64=zip64, comment=comment)
    path = directory / wheel_filename(name, ver, tags)
    path.write_bytes(data)
    return path


# A PEP 517 backend using only the standard library, shipped inside each sdist so pip and uv
# can build it offline (build-system.requires is empty, backend-path is in-tree).
_BACKEND = '''\
"""In-tree PEP 517 backend of an attnlock test sdist (standard library only)."""
import base64, hashlib, os, zipfile

def _meta():
    with open("PKG-INFO", "rb") as fh:
        return fh.read()

def _field(meta, key):
    for line in meta.decode().splitlines():
        if line.startswith(key + ": "):
            return line[len(key) + 2:]
    raise KeyError(key)

def _rec(path, data):
    d = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={d},{len(data)}"

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    meta = _meta()
    name = _field(meta, "Name").replace("-", "_").replace(".", "_").lower()
    ver = _field(meta, "Version")
    di = f"{name}-{ver}.dist-info"
    files = {}
    if os.path.isdir("src"):
        for root, _, names in os.walk("src"):
            for n in sorted(names):
                full = os.path.join(root, n)
                with open(full, "rb") as fh:
                    files[os.path.relpath(full, "src").replace(os.sep, "/")] = fh.read()
    files[f"{di}/METADATA"] = meta
    files[f"{di}/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: attnlock-tests-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = [_rec(p, d) for p, d in files.items()] + [f"{di}/RECORD,,"]
    files[f"{di}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    fname = f"{name}-{ver}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return fname
'''


def build_sdist(
    directory: str | Path,
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "attnlock test distribution",
    description: str = "",
) -> Path:
    """Write a valid ``.tar.gz`` sdist into ``directory`` and return its path.

    It holds ``PKG-INFO`` (Metadata-Version 2.1), a ``pyproject.toml`` naming an in-tree,
    standard-library-only build backend (so pip and uv build it offline), and
    ``src/<import_name>/__init__.py``; ``extra_files`` are added under the ``src/`` tree that
    becomes the wheel's contents (keys are paths inside the built wheel).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ver = str(Version(version))
    base = f"{_escape(name)}-{ver}"
    import_name = _escape(name)
    members: dict[str, bytes] = {
        "PKG-INFO": _metadata(name, ver, requires_dist, requires_python, provides_extra, summary, description),
        "pyproject.toml": (
            "[build-system]\nrequires = []\n"
            'build-backend = "attnlock_test_backend"\nbackend-path = ["_backend"]\n'
        ).encode(),
        "_backend/attnlock_test_backend.py": _BACKEND.encode(),
        f"src/{import_name}/__init__.py": f'__version__ = "{ver}"\n'.encode(),
    }
    for p, d in (extra_files or {}).items():
        members[f"src/{p}"] = d
    path = directory / f"{base}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for p, d in members.items():
            info = tarfile.TarInfo(f"{base}/{p}")
            info.size = len(d)
            info.mode = 0o644
            info.mtime = 315532800
            tf.addfile(info, io.BytesIO(d))
    path.write_bytes(buf.getvalue())
    return path

