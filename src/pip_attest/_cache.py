"""The verification cache: what a file's attestations proved, so that it is proved once.

Verifying one attestation costs about 1.5 ms of cryptography, and the first one of a run
also costs importing sigstore and pypi-attestations (about 300 ms). A file installed again
(a new venv, CI, a rebuilt container) has the same bytes and the same provenance, and so
the same answer. This cache keeps that answer in the platformdirs user cache
(``~/.cache/pip-attest/verified/`` on Linux).

**What is cached is the evidence, not the verdict.** An entry says "these attestations,
checked against this trust root, prove that these identities signed this file". The policy
(pins, lock file, first-seen records, ``--require-attestations``) is judged afresh on every
run, so an entry can never carry a decision from one policy into another: the issue asked
for the policy in the key, and leaving the verdict out altogether is the stronger form of
that rule.

**The key** is everything the evidence depends on:

- the filename the file is checked as (the attestation's subject must name the same
  distribution, so the same bytes under another name are another question);
- the sha256 of the file's bytes;
- the sha256 of the provenance body, byte for byte;
- the sha256 of the trust root file (an entry made under one Sigstore instance is never
  used under another);
- the versions of pip-attest, sigstore and pypi-attestations (an upgrade that fixes a
  verification bug re-checks everything).

**Only successes are cached.** A failure is re-verified every time, so its message is
always the current one and a fixed index is picked up at once.

**Entries are untrusted input.** One small JSON file per entry, at a path derived from the
key's hash, written with :func:`~pip_attest._fileio.atomic_write` (concurrent runs see a
whole entry or none). An entry is used only if it parses, has this format's version, and
repeats the exact key it is filed under; anything else (torn, truncated, edited, a hash
collision) is a miss, verified for real and rewritten. The cache is as trustworthy as the
trust root that lives beside it in the same user cache directory: whoever can write one
can write the other.

``PIP_ATTEST_NO_CACHE=1`` turns the cache off (no reads, no writes). Delete the
``verified`` directory to empty it; nothing else refers to it.

Importing this module imports no cryptography.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pip_attest._fileio import atomic_write
from pip_attest._identity import Identity, identity_from_publisher

NO_CACHE = "PIP_ATTEST_NO_CACHE"
FORMAT_VERSION = 1
# A real entry is a few hundred bytes; anything far larger is not one of ours.
MAX_ENTRY_BYTES = 64 * 1024
MAX_IDENTITIES = 32
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Everything a verification's outcome depends on."""

    filename: str
    file_sha256: str
    provenance_sha256: str
    trust_root_sha256: str
    verifier: str  # "pip-attest X; sigstore Y; pypi-attestations Z"

    def fields(self) -> dict[str, str]:
        # By hand: dataclasses.asdict deep-copies, and this runs for every file of a run.
        return {
            "filename": self.filename,
            "file_sha256": self.file_sha256,
            "provenance_sha256": self.provenance_sha256,
            "trust_root_sha256": self.trust_root_sha256,
            "verifier": self.verifier,
        }

    def digest(self) -> str:
        text = json.dumps(list(self.fields().items()))  # unambiguous for any field value
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``PIP_ATTEST_NO_CACHE`` is set to a true value.

    A value we cannot read also turns the cache off: verifying is always the safe reading.
    """
    value = (os.environ if env is None else env).get(NO_CACHE, "").strip().lower()
    return value in _FALSE


def default_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("pip-attest") / "verified"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verifier_version() -> str:
    """The versions of everything that decides whether an attestation verifies, read from
    the installed distributions' metadata so that sigstore itself is not imported."""
    from importlib import metadata

    from pip_attest import __version__

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return "; ".join(
        [
            f"pip-attest {__version__}",
            *(f"{d} {version(d)}" for d in ("sigstore", "pypi-attestations")),
        ]
    )


class VerificationCache:
    """One directory of entries. Every method is safe to call from several threads and
    several processes at once; none raises for a bad entry or an unwritable directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)

    def path(self, key: CacheKey) -> Path:
        return Path(self._path(key))

    def _path(self, key: CacheKey) -> str:
        digest = key.digest()
        return os.path.join(self._root, digest[:2], f"{digest[2:]}.json")

    def get(self, key: CacheKey) -> tuple[Identity, ...] | None:
        """The identities a previous run proved for ``key``, or None (a miss)."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except OSError:
            return None
        try:
            data = os.read(fd, MAX_ENTRY_BYTES + 1)  # an entry is far smaller: one read
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) > MAX_ENTRY_BYTES:
            return None
        return _parse_entry(data, key)

    def put(self, key: CacheKey, identities: tuple[Identity, ...]) -> bool:
        """Record a successful verification. Returns whether an entry was written.

        Identities that the publisher form cannot carry exactly (a signer that is not a
        Trusted Publisher) are not cached: an entry must give back exactly what was proved.
        """
        if not identities or len(identities) > MAX_IDENTITIES:
            return False
        publishers = [identity.to_publisher() for identity in identities]
        try:
            if tuple(identity_from_publisher(p) for p in publishers) != identities:
                return False
        except ValueError:
            return False
        doc = {"format": FORMAT_VERSION, "key": key.fields(), "publishers": publishers}
        data = (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8")
        try:
            atomic_write(self.path(key), data, mode=0o600, durable=False)
        except OSError:
            return False  # a read-only or full cache only costs speed
        return True


def _parse_entry(data: bytes, key: CacheKey) -> tuple[Identity, ...] | None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
        return None
    if doc.get("key") != key.fields():
        return None
    publishers = doc.get("publishers")
    if not isinstance(publishers, list) or not 0 < len(publishers) <= MAX_IDENTITIES:
        return None
    identities: list[Identity] = []
    for publisher in publishers:
        if not isinstance(publisher, dict):
            return None
        try:
            identities.append(identity_from_publisher(publisher))
        except ValueError:
            return None
    return tuple(identities)
