"""Zip archives of JSON documents and numpy arrays, written atomically, read defensively.

Used by model files (``KAN.save``) and project files. Reading never unpickles: arrays are
parsed from ``.npy`` headers whose dtype and size are checked before any allocation, and
every zip member's declared and real size is bounded (zip bombs, truncated files and path
tricks are refused with an :class:`ArchiveError`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["ArchiveError", "write_archive", "write_atomic", "write_text_atomic", "read_archive",
           "arrays_to_bytes", "arrays_from_bytes"]

MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, beyond which a member is treated as a bomb
MAX_MEMBERS = 64
MAX_ARRAYS = 10000


class ArchiveError(ValueError):
    """A file that is not a readable archive of ours; the message says why."""


def arrays_to_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def write_atomic(path: str | os.PathLike[str], fill: Callable[[IO[bytes]], None]) -> None:
    """Write a file atomically: ``fill(handle)`` writes the content into a temporary file
    in the same folder, which is flushed to disk and renamed over ``path``, so a crash
    leaves either the old file or the new one, never half of one."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file 0600; give it the mode the user would expect instead:
        # that of the file it replaces, or the umask's default for a new file.
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable where the platform allows
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """``text`` (UTF-8) into ``path`` atomically (see :func:`write_atomic`)."""
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_archive(
    path: str | os.PathLike[str],
    documents: Mapping[str, Any],
    binaries: Mapping[str, bytes] | None = None,
) -> None:
    """Write ``documents`` (name -> JSON value) and ``binaries`` into a zip at ``path``,
    atomically (:func:`write_atomic`)."""

    def fill(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, value in documents.items():
                text = json.dumps(value, indent=1, allow_nan=False)
                zf.writestr(name, text.encode("utf-8"))
            for name, data in (binaries or {}).items():
                zf.writestr(name, data)

    write_atomic(path, fill)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_MEMBER_BYTES:
        raise ArchiveError(f"member {info.filename!r} declares {info.file_size} bytes; too large")
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and (
        info.file_size > 10 * 1024 * 1024
    ):
        raise ArchiveError(f"member {info.filename!r} is compressed suspiciously well (zip bomb?)")
    with zf.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ArchiveError(f"member {info.filename!r} does not match its declared size")
    return data


def read_archive(
    path: str | os.PathLike[str], allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, bytes]:
    """The raw bytes of the archive's members. Unknown or unsafe member names are refused."""
    allowed = set(allowed)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ArchiveError(f"cannot open {os.fspath(path)!r}: {exc.strerror or exc}") from exc
    if size == 0:
        raise ArchiveError("the file is empty")
    out: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"the archive has {len(infos)} members; at most {MAX_MEMBERS}")
            total = 0
            for info in infos:
                name = info.filename
                if name.startswith(("/", "\\")) or ".." in name.split("/") or "\\" in name:
                    raise ArchiveError(f"unsafe member name {name!r} in the archive")
                if name not in allowed:
                    raise ArchiveError(f"unexpected member {name!r} in the archive")
                total += info.file_size
                if total > MAX_TOTAL_BYTES:
                    raise ArchiveError("the archive declares more than 1 GiB of content")
                out[name] = _read_member(zf, info)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a valid archive (truncated or corrupted?): {exc}") from exc
    except (OSError, EOFError, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise ArchiveError(f"the archive cannot be read: {exc}") from exc
    except Exception as exc:  # zlib.error and friends from a damaged stream
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"the archive is damaged: {exc}") from exc
    missing = [n for n in required if n not in out]
    if missing:
        raise ArchiveError(f"the archive lacks {', '.join(missing)}")
    return out


def load_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ArchiveError(f"{name} is not valid JSON: {exc}") from exc


def arrays_from_bytes(data: bytes, max_elements: int = 200_000_000) -> dict[str, np.ndarray]:
    """Parse an ``.npz`` without pickle, checking every header before reading its data."""
    arrays: dict[str, np.ndarray] = {}
    budget = max_elements
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ARRAYS:
                raise ArchiveError(f"too many arrays ({len(infos)})")
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ArchiveError(f"unexpected entry {info.filename!r} among the arrays")
                raw = _read_member(zf, info)
                stream = io.BytesIO(raw)
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ArchiveError(f"array {info.filename!r} has unknown format {version}")
                if dtype.hasobject or dtype.kind not in "fiub":
                    raise ArchiveError(f"array {info.filename!r} has unsupported dtype {dtype}")
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                budget -= count
                if count < 0 or budget < 0:
                    raise ArchiveError(f"array {info.filename!r} is too large ({shape})")
                body = raw[stream.tell():]
                if len(body) != count * dtype.itemsize:
                    raise ArchiveError(f"array {info.filename!r} is truncated")
                arr = np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                arrays[info.filename[:-4]] = arr.copy()
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the arrays are corrupted: {exc}") from exc
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"the arrays cannot be read: {exc}") from exc
    return arrays
