"""Crash-safe files shared by concurrent runs: atomic replacement and advisory locks.

Every store pip-attest keeps (the trust root, the verification cache, the first-seen
records, the built-wheel records) is written through :func:`atomic_write`, so a reader
sees the old bytes or the new bytes, never a mix, even when the writer is killed
half-way. Read-modify-write sequences
hold :func:`locked` so that two runs cannot lose each other's update.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: filelock picks the OS's own mechanism
    fcntl = None


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` in one step.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the
    file is renamed over ``path``. A crash leaves either the old file or the new one, plus
    at worst a stray temporary file that nothing reads. ``durable=False`` skips the flush
    to disk, for data whose loss after a power cut is harmless (a cache entry that is
    missing or torn is only a miss); readers still never see a torn file.
    """
    try:
        fd, tmp = _create_beside(path)
    except FileNotFoundError:  # the folder is new (most writes find it there)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, which must hold at most ``limit``.

    Opened non-blocking (a FIFO must not hang the run), checked to be a regular file on the
    open descriptor (``/dev/zero`` or a pipe never is), and read once with a bound, so a
    file that grows meanwhile stops at the limit. Raises ``OSError`` with a readable
    ``strerror`` otherwise.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return b"".join(chunks)


def key_digest(*fields: str) -> str:
    """The sha256 of some text fields, to name a file after them. Two keys that share a
    digest (they cannot, short of a sha256 collision or a NUL inside a field) only share a
    file: readers of such files compare the whole key stored inside."""
    text = "\0".join(fields)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def read_regular(path: str | Path, limit: int) -> bytes | None:
    """:func:`read_regular_file`, or None for any reason it cannot be read."""
    try:
        return read_regular_file(path, limit)
    except OSError:
        return None


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_serial = itertools.count()


def _create_beside(path: Path) -> tuple[int, str]:
    """A new, empty temporary file in ``path``'s folder, named after this process and
    thread: tempfile.mkstemp draws random names in Python, slow next to a small write.
    A name taken (a crashed process's leftover) or too long for the file system
    falls back to mkstemp."""
    unique = f"{os.getpid()}-{threading.get_ident()}-{next(_serial)}"
    tmp = f"{path.parent}{os.sep}.{path.name}.{unique}.tmp"
    try:
        return os.open(tmp, _NEW_FILE, 0o600), tmp
    except OSError as err:
        if not isinstance(err, FileExistsError) and err.errno != errno.ENAMETOOLONG:
            raise
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a separate ``.lock`` file), on every OS.

    The lock dies with its process, so a run killed while holding it cannot wedge the
    others. Where the OS has ``flock`` it is used directly: the lock is then taken with no
    import, which matters because the first-seen records are written while pip installs,
    when pip 26.1 and later refuse every new import.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        prepare_locking()
        from filelock import FileLock

        with FileLock(str(path)):
            yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare_locking() -> None:
    """Import what :func:`locked` needs, on the calling thread, before pip blocks imports.
    Only where there is no ``flock`` (Windows): filelock is deferred as it is costly to
    import."""
    if fcntl is None:
        import filelock  # noqa: F401
