"""The installed files themselves: where each RECORD path really is, and what its bytes are.

A RECORD path is relative to the folder that holds the ``.dist-info``; an installed file
may sit anywhere under the environment's root (``<prefix>/bin/NAME`` is
``../../../bin/NAME``), never outside it. A path that leaves the root is refused unread,
and so is one whose folder resolves (through a symbolic link) outside it. The file itself
is opened without following a symbolic link and must be a regular file: an installer
never makes a link, a FIFO or a device, and reading one could hang or never end.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from typing import NamedTuple

from pip_attest._audit._installed import Site
from pip_attest._text import plain

CHUNK = 1024 * 1024
_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_OPEN |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class Hashed(NamedTuple):
    """What one installed file holds: its sha256, the digest RECORD's algorithm gives
    (the same when that is sha256), its size; or why it could not be read."""

    sha256: str = ""
    digest: str = ""
    size: int = -1
    problem: str = ""  # absent | symlink | not-regular | unreadable: with a message
    missing: bool = False


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Disk:
    """The files of one :class:`Site`, found and read the careful way. Thread-safe."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._base = os.path.normpath(os.fspath(site.path))
        self._root = os.path.normpath(os.fspath(site.root))
        self._real_root = os.path.realpath(self._root)
        self._parents: dict[str, bool] = {}
        self._lock = threading.Lock()

    def locate(self, record_path: str) -> tuple[str, str]:
        """``(absolute path, "")`` for a RECORD path, or ``("", why it is refused)``."""
        rel = record_path.replace("/", os.sep)
        full = os.path.normpath(os.path.join(self._base, rel))
        if self.site.target and not _within(full, self._root):
            # pip writes a --target folder's RECORD from <target>/lib/python: its scripts
            # are listed as ../../bin/NAME and were moved to <target>/bin/NAME.
            head = f"..{os.sep}..{os.sep}"
            if rel.startswith(head):
                full = os.path.normpath(os.path.join(self._base, rel[len(head) :]))
        if not _within(full, self._root):
            return "", f"RECORD lists {plain(record_path, 120)}, outside the environment"
        parent = os.path.dirname(full)
        with self._lock:
            inside = self._parents.get(parent)
        if inside is None:
            inside = _within(os.path.realpath(parent), self._real_root)
            with self._lock:
                self._parents[parent] = inside
        if not inside:
            return "", f"{plain(record_path, 120)} is reached through a link out of the environment"
        return full, ""


def read_file(path: str, limit: int) -> bytes | Hashed:
    """The bytes of a small installed file (at most ``limit``), or why not."""
    fd, problem = _open(path)
    if problem.problem:
        return problem
    try:
        info = os.fstat(fd)
        if info.st_size > limit:
            return Hashed(problem=f"larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return Hashed(problem=f"larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as err:
        return Hashed(problem=f"cannot be read: {err.strerror or err}")
    finally:
        os.close(fd)


def hash_file(path: str, algorithm: str = "sha256", size: int | None = None) -> Hashed:
    """sha256 (and RECORD's ``algorithm``) of the installed file at ``path``.

    When RECORD gives a ``size`` that differs from the file's, the file is not read at all:
    it differs (``sha256`` stays empty)."""
    fd, problem = _open(path)
    if problem.problem:
        return problem
    try:
        info = os.fstat(fd)
        if size is not None and info.st_size != size:
            return Hashed(size=info.st_size)
        sha256 = hashlib.sha256()
        other = hashlib.new(algorithm) if algorithm not in ("", "sha256") else None
        total = 0
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            total += len(chunk)
            sha256.update(chunk)
            if other is not None:
                other.update(chunk)
    except OSError as err:
        return Hashed(problem=f"cannot be read: {err.strerror or err}")
    finally:
        os.close(fd)
    digest = sha256.hexdigest()
    return Hashed(digest, other.hexdigest() if other is not None else digest, total)


def _open(path: str) -> tuple[int, Hashed]:
    try:
        fd = os.open(path, _OPEN)
    except FileNotFoundError:
        return -1, Hashed(problem="is missing", missing=True)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return -1, Hashed(problem="is a symbolic link")
        if err.errno == errno.ENOTDIR:
            return -1, Hashed(problem="is missing (a folder on its path is a file)", missing=True)
        return -1, Hashed(problem=f"cannot be opened: {err.strerror or err}")
    try:
        mode = os.fstat(fd).st_mode
    except OSError as err:
        os.close(fd)
        return -1, Hashed(problem=f"cannot be read: {err.strerror or err}")
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        return -1, Hashed(problem=f"is {kind}")
    return fd, Hashed()
