"""The attested file's contents: what an installed distribution is bound to.

A verified attestation names a file by its sha256. To bind what is installed to it, the
file is fetched (through pip's session, so pip's HTTP cache usually answers: the install
put it there), hashed while it streams to a temporary file, refused unless its sha256 is
the verified one, and read into a :class:`Manifest`: every member's path, sha256 and size,
computed from the member's bytes (never taken from the archive's own RECORD), plus what an
installer may legitimately change (scripts' ``#!python`` lines) or add (console scripts
declared in ``entry_points.txt``). The archive is then deleted.

Manifests are cached by the archive's sha256 (:mod:`._signed`: authenticated, since the
cache directory is untrusted), so an environment audited again downloads nothing.
Keeping manifests rather than archives keeps the cache small (a wheel of a gigabyte has a
manifest of a few hundred kilobytes) and makes a cache hit cost no hashing.
"""

from __future__ import annotations

import configparser
import hashlib
import tarfile
import tempfile
import threading
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from pip_attest._audit._signed import SignedStore
from pip_attest._model import sha256_file
from pip_attest._provenance import HttpSession
from pip_attest._text import one_line, shown

MAX_DOWNLOAD_BYTES = 8 * 1024**3
MAX_UNPACKED_BYTES = 32 * 1024**3
MAX_MEMBERS = 1_000_000
MAX_ENTRY_POINTS_BYTES = 4 * 1024 * 1024
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024
SPOOL_BYTES = 64 * 1024 * 1024


class ArchiveError(Exception):
    """The attested file could not be fetched or read; one line."""


class Manifest(NamedTuple):
    """What an archive holds, by member path (as the archive names it)."""

    kind: str  # wheel | sdist
    filename: str
    sha256: str
    members: dict[str, tuple[str, int]]  # path -> (sha256, size)
    # wheel only: ``.data/scripts`` members that start with ``#!python``, which an
    # installer rewrites: path -> (sha256, size) of everything after that first line
    scripts: dict[str, tuple[str, int]]
    # wheel only: console and GUI scripts an installer generates: name -> "module:attr"
    entry_points: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "filename": self.filename,
            "sha256": self.sha256,
            "members": [[p, h, n] for p, (h, n) in sorted(self.members.items())],
            "scripts": [[p, h, n] for p, (h, n) in sorted(self.scripts.items())],
            "entry_points": dict(sorted(self.entry_points.items())),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Manifest | None:
        try:
            return cls(
                doc["kind"],
                doc["filename"],
                doc["sha256"],
                {str(p): (str(h), int(n)) for p, h, n in doc["members"]},
                {str(p): (str(h), int(n)) for p, h, n in doc["scripts"]},
                {str(k): str(v) for k, v in doc["entry_points"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


class Manifests:
    """Manifests of attested files for one audit: cached, fetched once each. Thread-safe."""

    def __init__(self, session: HttpSession | None, *, cache: bool = True) -> None:
        self._session = session
        self._store = SignedStore("manifests", limit=MAX_MANIFEST_BYTES, enabled=cache)
        self._lock = threading.Lock()
        self._known: dict[str, Manifest | ArchiveError] = {}
        self._busy: dict[str, threading.Lock] = {}
        self.fetched = 0  # archives downloaded (or read from a local path) this run
        self.hits = 0

    def get(self, url: str, filename: str, sha256: str) -> Manifest:
        """The manifest of the file at ``url`` whose sha256 must be ``sha256`` (``""``: an
        index that gives none; the bytes fetched then say it). Raises
        :class:`ArchiveError`."""
        sha256 = sha256.lower()
        key = sha256 or url
        with self._lock:
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:  # one fetch per file, however many distributions ask
            known = self._known.get(key)
            if known is None:
                known = self._load(sha256, filename) if sha256 else None
                if known is None:
                    try:
                        known = self._fetch(url, filename, sha256)
                    except ArchiveError as err:
                        known = err
                with self._lock:
                    self._known[key] = known
        if isinstance(known, ArchiveError):
            raise known
        return known

    # -- the cache ---------------------------------------------------------------------

    def _load(self, sha256: str, filename: str) -> Manifest | None:
        doc = self._store.load(sha256)
        manifest = Manifest.from_json(doc) if doc is not None else None
        if manifest is None or manifest.sha256 != sha256 or manifest.filename != filename:
            return None
        with self._lock:
            self.hits += 1
        return manifest

    # -- fetching ----------------------------------------------------------------------

    def _fetch(self, url: str, filename: str, sha256: str) -> Manifest:
        # In memory up to a size most wheels stay under; on disk beyond it.
        with tempfile.SpooledTemporaryFile(SPOOL_BYTES, prefix="pip-attest-audit-") as archive:
            got = self._download(url, archive)
            if sha256 and got != sha256:
                raise ArchiveError(
                    f"{shown(filename)} from {shown(url, 120)} has sha256 {got}, "
                    f"not the verified {sha256}"
                )
            with self._lock:
                self.fetched += 1
            archive.seek(0)
            manifest = read_manifest(archive, filename, got)
        self._store.save(manifest.to_json(), manifest.sha256)
        return manifest

    def _download(self, url: str, out: IO[bytes]) -> str:
        """Copy the file at ``url`` to ``out``; its sha256."""
        digest = hashlib.sha256()
        size = 0
        for chunk in self._chunks(url):
            size += len(chunk)
            if size > MAX_DOWNLOAD_BYTES:
                raise ArchiveError(f"{shown(url, 120)} is larger than {MAX_DOWNLOAD_BYTES}")
            digest.update(chunk)
            out.write(chunk)
        return digest.hexdigest()

    def _chunks(self, url: str) -> Iterator[bytes]:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme == "file":
            path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
            try:
                with open(path, "rb") as f:  # noqa: PTH123 - a path from a file: URL
                    yield from iter(lambda: f.read(CHUNK), b"")
            except OSError as err:
                raise ArchiveError(f"{shown(path, 120)}: {err.strerror or err}") from err
            return
        if scheme not in ("http", "https") or self._session is None:
            raise ArchiveError(f"cannot fetch {shown(url, 120)}")
        try:
            # no-store: pip's HTTP cache may answer (the install put the file there), but
            # the audit adds nothing to it: its manifests are what it keeps.
            headers = {"Accept-Encoding": "identity", "Cache-Control": "no-store"}
            response = self._session.get(url, stream=True, headers=headers)
        except Exception as err:
            raise ArchiveError(f"cannot fetch {shown(url, 120)}: {one_line(err)}") from err
        try:
            if response.status_code != 200:
                raise ArchiveError(f"{shown(url, 120)}: HTTP {response.status_code}")
            try:
                yield from response.iter_content(CHUNK)
            except Exception as err:
                raise ArchiveError(f"{shown(url, 120)}: {one_line(err)}") from err
        finally:
            response.close()


def read_manifest(archive: IO[bytes], filename: str, sha256: str) -> Manifest:
    """The manifest of ``archive`` (already checked to be ``sha256``)."""
    try:
        if filename.endswith(".whl"):
            return _wheel(archive, filename, sha256)
        return _sdist(archive, filename, sha256)
    except ArchiveError:
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as err:
        raise ArchiveError(f"{shown(filename)} cannot be read: {one_line(err)}") from err


class _Budget:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.bytes = 0
        self.members = 0

    def member(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise ArchiveError(f"{shown(self.filename)} has more than {MAX_MEMBERS} members")

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"{shown(self.filename)} unpacks to more than {MAX_UNPACKED_BYTES}")


def _digest(stream: IO[bytes], budget: _Budget) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        size += len(chunk)
        budget.add(len(chunk))
        digest.update(chunk)
    return digest.hexdigest(), size


def _wheel(archive: IO[bytes], filename: str, sha256: str) -> Manifest:
    budget = _Budget(filename)
    members: dict[str, tuple[str, int]] = {}
    scripts: dict[str, tuple[str, int]] = {}
    entry_points: dict[str, str] = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            budget.member()
            name = info.filename
            with zf.open(info) as member:
                members[name] = _digest(member, budget)
            top, _, rest = name.partition("/")
            if top.endswith(".data") and rest.startswith("scripts/"):
                with zf.open(info) as member:
                    first = member.readline(64 * 1024)
                    if first.startswith(b"#!python"):
                        # What follows the line an installer rewrites.
                        scripts[name] = _digest(member, budget)
            elif (
                top.endswith(".dist-info")
                and rest == "entry_points.txt"
                and info.file_size <= MAX_ENTRY_POINTS_BYTES
            ):
                with zf.open(info) as member:
                    data = member.read(MAX_ENTRY_POINTS_BYTES + 1)
                entry_points.update(_entry_points(data))
    return Manifest("wheel", filename, sha256, members, scripts, entry_points)


def _entry_points(data: bytes) -> dict[str, str]:
    if len(data) > MAX_ENTRY_POINTS_BYTES:
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(data.decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError):
        return {}
    found: dict[str, str] = {}
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            for name, value in parser.items(section):
                found[name.strip()] = value.strip()
    return found


def _sdist(archive: IO[bytes], filename: str, sha256: str) -> Manifest:
    budget = _Budget(filename)
    members: dict[str, tuple[str, int]] = {}
    if filename.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                budget.member()
                with zf.open(info) as member:
                    members[info.filename] = _digest(member, budget)
    else:
        # Streamed, never extracted: members are only read, so links and odd names are
        # harmless; only regular files count.
        with tarfile.open(fileobj=archive, mode="r|*") as tf:
            for tinfo in tf:
                budget.member()
                if not tinfo.isreg():
                    continue
                stream = tf.extractfile(tinfo)
                if stream is not None:
                    with stream:
                        members[tinfo.name] = _digest(stream, budget)
    return Manifest("sdist", filename, sha256, members, {}, {})


def local_sha256(url: str) -> str:
    """sha256 of a local (``file:``) distribution, for ``--find-links`` folders, whose
    listings give none."""
    return sha256_file(Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path)))
