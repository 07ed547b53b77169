"""Plain data shared by every stage. Importing this module is cheap (no sigstore, no pip)."""

from __future__ import annotations

import enum
import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from pip_attest._identity import Identity


class Artifact(NamedTuple):
    """A distribution file as pip will use it: its name and the sha256 of its bytes."""

    filename: str
    sha256: str

    @classmethod
    def from_path(cls, path: Path, filename: str | None = None) -> Artifact:
        return cls(filename or path.name, sha256_file(path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dist_key(filename: str) -> tuple[Any, ...] | None:
    """The parsed identity of a distribution filename, or None if it is not one.

    Filenames are compared parsed, not as strings (PEP 740; pypi/warehouse#18128): the same
    wheel may be spelled with a non-normalised name or version.
    """
    try:
        if filename.endswith(".whl"):
            name, version, build, tags = parse_wheel_filename(filename)
            return ("wheel", name, version, build, tags)
        if filename.endswith((".tar.gz", ".zip")):
            sname, sversion = parse_sdist_filename(filename)
            return ("sdist", sname, sversion)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return None


def project_and_version(filename: str) -> tuple[str, str] | None:
    key = dist_key(filename)
    if key is None:
        return None
    return str(key[1]), str(key[2])


class Status(str, enum.Enum):
    """The one result each file gets (DESIGN.md §4)."""

    VERIFIED = "verified"
    INVALID = "invalid"
    UNEXPECTED_PUBLISHER = "unexpected-publisher"
    DOWNGRADE = "downgrade"
    MISSING = "missing"
    UNAVAILABLE = "unavailable"


class FileResult(NamedTuple):
    """What pip-attest concluded about one file, and whether that stops the install."""

    project: str
    version: str
    filename: str
    sha256: str
    status: Status
    identities: tuple[Identity, ...] = ()
    reason: str = ""
    hint: str = ""
    blocking: bool = False
    provenance_url: str | None = None
    origin: str = "index"  # index | wheel-cache | local | build-dependency
    expected: tuple[Identity, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "filename": self.filename,
            "sha256": self.sha256,
            "status": self.status.value,
            "blocking": self.blocking,
            "identities": [str(i) for i in self.identities],
            "publishers": [i.to_publisher() for i in self.identities],
            "expected": [str(i) for i in self.expected],
            "reason": self.reason,
            "hint": self.hint,
            "provenance_url": self.provenance_url,
            "origin": self.origin,
        }
