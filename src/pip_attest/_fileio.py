"""Crash-safe files shared by concurrent runs: atomic replacement and advisory locks.

Every store pip-attest keeps (the trust root, the verification cache, the first-seen
records) is written through :func:`atomic_write`, so a reader sees the old bytes or the new
bytes, never a mix, even when the writer is killed half-way. Read-modify-write sequences
hold :func:`locked` so that two runs cannot lose each other's update.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` in one step.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the
    file is renamed over ``path``. A crash leaves either the old file or the new one, plus
    at worst a stray temporary file that nothing reads. ``durable=False`` skips the flush
    to disk, for data whose loss after a power cut is harmless (a cache entry that is
    missing or torn is only a miss); readers still never see a torn file.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileNotFoundError:  # the folder is new (most writes find it there)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (a separate ``.lock`` file).

    The lock dies with its process, so a run killed while holding it cannot wedge the
    others. Without ``fcntl`` (Windows) this only serialises nothing; writes stay atomic.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
