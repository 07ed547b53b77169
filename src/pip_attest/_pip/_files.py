"""Where pip reads the bytes it installs, and wheels it built: local files are copied
and hashed on the way, wheels pip builds from checked sources are noted, and a wheel in
pip's cache that nothing vouches for is not used."""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from pip_attest._model import sha256_file
from pip_attest._notify import warn
from pip_attest._pip._ledger import Copy
from pip_attest._pip._reqs import archive_sha256
from pip_attest._pip._state import STATE
from pip_attest._store import BuiltWheels


def wrap_file_url(prepare: Any, refused: type[Exception]) -> None:
    original = prepare.get_file_url

    @functools.wraps(original)
    def get_file_url(link: Any, download_dir: Any = None, hashes: Any = None) -> Any:
        file = original(link, download_dir, hashes=None)
        copy = _private_copy(str(file.path), refused)
        if hashes:
            hashes.check_against_path(copy)
        return type(file)(copy, file.content_type)

    prepare.get_file_url = get_file_url


def _private_copy(path: str, refused: type[Exception]) -> str:
    """Copy a local file where only this process writes, hashing it on the way: pip reads
    local files in place, and a file swapped after it was checked would otherwise be
    unpacked or installed unchecked. The copy keeps the file's name (pip reads its type
    from it) and is removed when the process ends."""
    if STATE.copies is None:
        STATE.copies = tempfile.mkdtemp(prefix="pip-attest-files-")
        atexit.register(shutil.rmtree, STATE.copies, True)
    folder = tempfile.mkdtemp(dir=STATE.copies)
    dest = os.path.join(folder, os.path.basename(path))
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise refused(f"pip-attest cannot read {path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise refused(f"pip-attest refused {path}: not a regular file")
        with open(dest, "xb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
    STATE.ledger.copies[os.path.normpath(dest)] = Copy(digest.hexdigest(), os.path.normpath(path))
    return dest


def _built_store() -> BuiltWheels:
    if STATE.built is None:
        STATE.built = BuiltWheels()
    return STATE.built


def vouched(source_sha256: str, wheel_sha256: str) -> bool:
    return bool(source_sha256 and wheel_sha256) and _built_store().vouches(
        source_sha256, wheel_sha256
    )


def wrap_build(wheel_builder: Any) -> None:
    original = wheel_builder._build_one

    @functools.wraps(original)
    def _build_one(req: Any, *args: Any, **kwargs: Any) -> Any:
        wheel = original(req, *args, **kwargs)
        if wheel:
            _note_built(req, str(wheel))
        return wheel

    wheel_builder._build_one = _build_one


def _note_built(req: Any, wheel: str) -> None:
    """pip built ``wheel`` from ``req``'s checked source: installing it installs what that
    verdict covers, and pip-attest's store vouches for it when pip's cache offers it later.
    Failing to record only means it is built again next time."""
    try:
        entry = STATE.ledger.note_built(req, wheel)
        if entry is None or entry.result is None or entry.result.blocking:
            return
        source = entry.candidate.sha256
        if source and not entry.candidate.tree:
            _built_store().add(source, sha256_file(Path(wheel)))
    except Exception as err:
        warn(f"could not record the wheel built from {getattr(req, 'name', req)}: {err}")


def wrap_cache(wheel_cache: Any) -> None:
    original = wheel_cache.get_cache_entry

    @functools.wraps(original)
    def get_cache_entry(self: Any, link: Any, *args: Any, **kwargs: Any) -> Any:
        entry = original(self, link, *args, **kwargs)
        if entry is None or _trusted_cache_entry(link, entry):
            return entry
        warn(
            f"not using pip's cached wheel {getattr(entry.link, 'filename', '?')}: nothing on "
            "record says pip-attest checked the source it was built from; building it again"
        )
        return None

    wheel_cache.get_cache_entry = get_cache_entry


def _trusted_cache_entry(link: Any, entry: Any) -> bool:
    try:
        path = os.path.normpath(entry.link.file_path)
        if path in STATE.ledger.built:
            return True  # built in this very run
        if not entry.persistent:
            return False
        index = link.hash if getattr(link, "hash_name", None) == "sha256" else None
        source = str(index or archive_sha256(getattr(entry, "origin", None)) or "")
        return vouched(source.lower(), sha256_file(Path(path)))
    except Exception:
        return False  # an entry we cannot read is rebuilt
