"""Plain data shared by every stage. Importing this module is cheap (no sigstore, no pip).

The value types are ``NamedTuple``s on purpose: a frozen dataclass costs an ``exec`` when its
class is built, and pip-attest's imports sit on pip's start-up path.
"""

from __future__ import annotations

import enum
import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from pip_attest._identity import Identity


class Artifact(NamedTuple):
    """A distribution file as pip will use it: its name, the sha256 of its bytes, and the
    project and version pip installs it as (the attestation must name both)."""

    filename: str
    sha256: str
    project: str
    version: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Status(str, enum.Enum):
    """The one result each file gets (README, "Security model")."""

    VERIFIED = "verified"
    INVALID = "invalid"
    UNEXPECTED_PUBLISHER = "unexpected-publisher"
    DOWNGRADE = "downgrade"
    MISSING = "missing"
    UNAVAILABLE = "unavailable"


class Origin(str, enum.Enum):
    """Where a file pip uses came from, as the report shows it."""

    INDEX = "index"
    WHEEL_CACHE = "wheel-cache"  # a wheel pip built earlier, from a checked source
    LOCAL = "local"  # a local file, directory or VCS checkout
    BUILD_DEPENDENCY = "build-dependency"  # used by a pip subprocess that installs build deps


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
    origin: Origin = Origin.INDEX
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
            "origin": self.origin.value,
        }
