"""The trust-on-first-use store: which publishers each project has been seen with.

Like SSH's ``known_hosts``: the first time a project's files verify, the identities that
signed them are recorded, with the version. From then on a file of that project signed by
anyone else is an *unexpected publisher*, and a file with no attestation at all, at or after
the first attested version, is a *downgrade*.

One JSON file per project under ``<user data dir>/pip-attest/first-seen/``. Files are
replaced atomically and every read-modify-write holds the store's lock, so concurrent runs
neither tear a record nor lose each other's additions. A record that cannot be read is an
error, never an empty record: silently forgetting a project would turn a downgrade into a
"missing" warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pip_attest._dirs import data_dir
from pip_attest._errors import Error
from pip_attest._fileio import atomic_write, locked, read_regular, read_regular_file
from pip_attest._identity import Identity, identity_from_publisher

RECORD_VERSION = 1
MAX_RECORD_BYTES = 1 << 20
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


class StoreError(Error):
    """A first-seen record exists but cannot be trusted as read."""


class Seen(NamedTuple):
    identity: Identity
    version: str
    added: str  # ISO 8601, UTC
    how: str  # first-use | accepted | pinned | locked


class Record(NamedTuple):
    project: str
    first_attested_version: str
    seen: tuple[Seen, ...] = ()

    @property
    def identities(self) -> tuple[Identity, ...]:
        return tuple(s.identity for s in self.seen)

    def expects_attestation(self, version: str) -> bool:
        """Whether a file of ``version`` should be attested, judging by this record.

        Versions older than the first attested one may predate the project's Trusted
        Publisher; anything at or after it, or any version we cannot order, should not.
        """
        try:
            return Version(version) >= Version(self.first_attested_version)
        except InvalidVersion:
            return True

    def to_json(self) -> dict[str, Any]:
        return {
            "record_version": RECORD_VERSION,
            "project": self.project,
            "first_attested_version": self.first_attested_version,
            "identities": [
                {
                    "identity": str(s.identity),
                    "publisher": s.identity.to_publisher(),
                    "version": s.version,
                    "added": s.added,
                    "how": s.how,
                }
                for s in self.seen
            ],
        }


def default_dir() -> Path:
    return data_dir() / "first-seen"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _parse(project: str, path: Path, data: bytes) -> Record:
    def bad(why: str) -> StoreError:
        return StoreError(
            f"first-seen record {path} is unreadable ({why}); inspect it, or delete it with "
            f"'pip-attest trust forget {project}'"
        )

    if len(data) > MAX_RECORD_BYTES:
        raise bad("too large")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(doc, dict) or doc.get("record_version") != RECORD_VERSION:
        raise bad("unknown format")
    if doc.get("project") != project:
        raise bad(f"it names project {doc.get('project')!r}")
    first = doc.get("first_attested_version")
    entries = doc.get("identities")
    if not isinstance(first, str) or not isinstance(entries, list) or not entries:
        raise bad("missing fields")
    seen = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("publisher"), dict):
            raise bad("bad identity entry")
        try:
            identity = identity_from_publisher(entry["publisher"])
        except ValueError as err:
            raise bad(str(err)) from None
        version, added, how = (entry.get(k) for k in ("version", "added", "how"))
        if not all(isinstance(v, str) for v in (version, added, how)):
            raise bad("bad identity entry")
        seen.append(Seen(identity, str(version), str(added), str(how)))
    return Record(project, first, tuple(seen))


class FirstSeenStore:
    """Reads and updates the records. Reads are cached for the life of the object."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_dir()
        self._cache: dict[str, Record | None] = {}

    def _path(self, project: str) -> Path:
        # Canonical names are [a-z0-9-]; anything else (a path separator, "..") never
        # reaches the file system.
        if not _NAME.fullmatch(project):
            raise StoreError(f"{project!r} is not a valid project name")
        return self.root / f"{project}.json"

    def _lock(self) -> Path:
        return self.root / ".lock"

    def get(self, project: str) -> Record | None:
        name = canonicalize_name(project)
        if not _NAME.fullmatch(name):
            return None  # a local tree or URL pip has not named yet: never recorded
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def _read(self, name: str) -> Record | None:
        path = self._path(name)
        try:
            # Bounded, regular files only: a record replaced by a FIFO or /dev/zero must
            # neither hang nor exhaust memory.
            data = read_regular_file(path, MAX_RECORD_BYTES)
        except FileNotFoundError:
            return None
        except OSError as err:
            if err.errno == errno.EINVAL:
                raise StoreError(f"first-seen record {path} is not a regular file") from None
            raise StoreError(f"cannot read first-seen record {path}: {err.strerror}") from None
        return _parse(name, path, data)

    def _write(self, record: Record) -> None:
        path = self._path(record.project)
        atomic_write(path, (json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n").encode())
        self._cache[record.project] = record

    def add(
        self, project: str, version: str, identities: Iterable[Identity], how: str
    ) -> tuple[Record, list[Identity]]:
        """Add identities to a project's record (creating it). Returns the record and the
        identities that were new. The first attested version only ever moves earlier."""
        name = canonicalize_name(project)
        self._path(name)  # refuse a name that is no project name before touching anything
        with _locked(self._lock()):
            record = self._read(name)
            seen = list(record.seen) if record else []
            first = record.first_attested_version if record else version
            if record and is_older(version, first):
                first = version
            if record is None and not identities:
                return Record(name, version), []  # forgotten meanwhile: nothing to update
            new = []
            for identity in identities:
                if any(s.identity == identity for s in seen):
                    continue
                seen.append(Seen(identity, version, _now(), how))
                new.append(identity)
            updated = Record(name, first, tuple(seen))
            if record is None or new or first != record.first_attested_version:
                self._write(updated)
            return updated, new

    def forget(self, project: str) -> bool:
        name = canonicalize_name(project)
        with _locked(self._lock()):
            self._cache.pop(name, None)
            try:
                self._path(name).unlink()
            except FileNotFoundError:
                return False
            return True

    def records(self) -> Iterator[Record | StoreError]:
        """Every record, sorted by project; an unreadable one is yielded as its error."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*.json")):
            name = path.stem
            try:
                record = self.get(name)
            except StoreError as err:
                yield err
                continue
            if record is not None:
                yield record


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        with locked(path):
            yield
    except OSError as err:
        raise StoreError(f"cannot use the first-seen store at {path.parent}: {err}") from None


def is_older(version: str, than: str) -> bool:
    """``version`` sorts before ``than``; False when either is no valid version."""
    try:
        return Version(version) < Version(than)
    except InvalidVersion:
        return False


class BuiltWheels:
    """Which wheels pip built, with pip-attest guarding it, from which checked source files.

    pip keeps the wheels it builds from sdists in its wheel cache and reuses them later,
    trusting the ``origin.json`` beside each one. A cache directory is shared and restored
    across CI jobs, so a wheel there is only a claim. This store, in pip-attest's user data
    directory (not a cache), says: a wheel with this sha256 was built from a source whose
    sha256 was this one, when pip-attest checked that source. A cached wheel nothing here
    vouches for is not used (pip builds it again, from a source that is checked).

    One small JSON file per source (``built/<sha256>.json``) listing the sha256 of every
    wheel built from it. Unreadable or odd files vouch for nothing.
    """

    FORMAT = 1
    MAX_BYTES = 64 * 1024
    MAX_WHEELS = 256

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_dir().parent / "built"

    def _path(self, source_sha256: str) -> Path:
        if not _SHA256.fullmatch(source_sha256):
            raise StoreError(f"{source_sha256!r} is not a sha256")
        return self.root / source_sha256[:2] / f"{source_sha256}.json"

    def wheels(self, source_sha256: str) -> tuple[str, ...]:
        """The wheels built from this source, oldest first; empty when nothing is on record."""
        try:
            path = self._path(source_sha256.lower())
        except StoreError:
            return ()
        data = read_regular(path, self.MAX_BYTES)
        try:
            doc = json.loads(data) if data is not None else None
        except (ValueError, RecursionError):
            return ()
        if not isinstance(doc, dict) or doc.get("format") != self.FORMAT:
            return ()
        wheels = doc.get("wheels")
        if not isinstance(wheels, list):
            return ()
        return tuple(
            dict.fromkeys(w for w in wheels if isinstance(w, str) and _SHA256.fullmatch(w))
        )

    def vouches(self, source_sha256: str, wheel_sha256: str) -> bool:
        return wheel_sha256.lower() in self.wheels(source_sha256)

    def add(self, source_sha256: str, wheel_sha256: str) -> None:
        """Record that ``wheel_sha256`` was built from ``source_sha256``. Raises
        :class:`StoreError` or ``OSError`` when it cannot be written."""
        path = self._path(source_sha256.lower())
        wheel = wheel_sha256.lower()
        if not _SHA256.fullmatch(wheel):
            raise StoreError(f"{wheel_sha256!r} is not a sha256")
        with _locked(self.root / ".lock"):
            known = self.wheels(source_sha256)
            if wheel in known:
                return
            # The newest last; a source rebuilt more often than this keeps its latest ones.
            wheels = [*known, wheel][-self.MAX_WHEELS :]
            doc = {"format": self.FORMAT, "wheels": wheels}
            atomic_write(path, (json.dumps(doc) + "\n").encode(), mode=0o600)


_SHA256 = re.compile(r"[0-9a-f]{64}")
