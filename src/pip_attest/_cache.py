"""The verification cache: what a file's attestations proved, so that it is proved once.

Verifying an attestation costs cryptography, and the first one of a run also costs
importing sigstore and pypi-attestations (README, "Performance"). A file installed again
(a new venv, CI, a rebuilt container) has the same bytes and the same provenance, and so
the same answer. This cache keeps that answer in the user cache directory
(``~/.cache/pip-attest/verified/`` on Linux).

**What is cached is the evidence, not the verdict.** An entry says "these attestations,
checked against this trust root, prove that these identities signed this file". The policy
(pins, lock file, first-seen records, ``--require-attestations``) is judged afresh on every
run, so an entry can never carry a decision from one policy into another (leaving the
verdict out is stronger than putting the policy in the key).

**The key** is everything the evidence depends on:

- the filename the file is checked as, and the project and version pip installs it as (the
  attestation's subject must name the same distribution, project and version, so the same
  bytes under another name are another question);
- the sha256 of the file's bytes;
- the sha256 of the provenance body, byte for byte;
- the sha256 of the trust root file (an entry made under one Sigstore instance is never
  used under another);
- the versions of pip-attest, sigstore and pypi-attestations (an upgrade that fixes a
  verification bug re-checks everything).

**Only successes are cached.** A failure is re-verified every time, so its message is
always the current one and a fixed index is picked up at once.

**One entry per file.** The entry for a file (its name and sha256, under one trust root and
verifier) holds the provenance sha256 it proved, the identities, and, when the index allowed
it, the freshness below: one file to create per file verified, since creating a file is
the costly part of a write. A file whose provenance changes gets its entry replaced.

**Who writes.** The verification helper writes the entry of each file it proves, right after
answering, on a thread of its own (:class:`EntryOrder` says where, under which key and with
which freshness), so that pip's process spends no time on it. The checker's own writer
thread writes the rest: files verified in-process, and a hit whose freshness the index
renewed.

**Entries are untrusted input.** A cache directory is shared and restored across CI jobs
and branches, so anyone may have written what is in it. Every entry carries an HMAC-SHA256
over its whole content, under a key that lives in pip-attest's user *data* directory
(``cache-key``, 32 random bytes, mode 0600, made on first use): an entry pip-attest did not
write itself is a miss, verified for real and rewritten. One small JSON file per entry, at a
path derived from the key's hash, written with :func:`~pip_attest._fileio.atomic_write`
(concurrent runs see a whole entry or none). An entry is used only if its MAC checks, it
parses, has this format's version, and repeats the exact key it is filed under; anything
else (torn, truncated, edited, planted, a hash collision) is a miss. Without a usable key,
nothing is cached.

**Fresh answers.** PyPI says its provenance answers stay fresh for 10 minutes
(``Cache-Control: max-age=600``). While an answer is fresh, a file whose provenance was
verified from that URL is answered without asking the index again: the entry then also
names the URL, and until when the index's headers (``max-age``, ``Age``, ``Date``; never
``no-cache`` or ``no-store``; at most a day) let the answer be reused. A :class:`FreshKey`
(the URL, the file's name and sha256, the trust root and the verifier) must match it all.
Other bytes at the same URL are another file's entry: a miss, fetched and verified as
usual.

**Run records** (``verified/runs/``). Whether the last run of the same command found every
file already verified (``pip_attest._memo.RunMemo``): only a guess about whether to start
the verification helper before pip resolves, never an answer about a file.

``PIP_ATTEST_NO_CACHE=1`` turns all of this off (no reads, no writes). Delete the
``verified`` directory to empty it; nothing else refers to it.

Importing this module imports no cryptography.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pip_attest import __version__, _dirs, _env
from pip_attest._fileio import atomic_write, key_digest, read_regular
from pip_attest._identity import Identity, identity_from_publisher
from pip_attest._model import Artifact
from pip_attest._provenance import MAX_FRESH_SECONDS

MAX_ENTRY_BYTES = 64 * 1024  # a real entry is a few hundred bytes
# 2: one entry per file (1 had separate entries for evidence and for freshness).
# 3: the key names the project and version pip installs the file as.
FORMAT_VERSION = 3
MAX_IDENTITIES = 32


class CacheKey(NamedTuple):
    """Everything a verification's outcome depends on."""

    filename: str
    project: str
    version: str
    file_sha256: str
    provenance_sha256: str
    trust_root_sha256: str
    verifier: str  # "pip-attest X; sigstore Y; pypi-attestations Z"

    def file_fields(self) -> dict[str, str]:
        return _file_fields(self)


class FreshKey(NamedTuple):
    """A file whose answer came from ``provenance_url``, which the index lets us reuse for
    a while. The file's entry must name this URL and still be fresh to be used."""

    provenance_url: str
    filename: str
    project: str
    version: str
    file_sha256: str
    trust_root_sha256: str
    verifier: str

    def file_fields(self) -> dict[str, str]:
        return _file_fields(self)


class EntryOrder(NamedTuple):
    """What the verification helper needs to file the entry for a file it has just proved:
    the parent's cache directory and MAC key (sent over the helper's private pipe), the
    trust root's sha256 and the verifier's versions as the
    parent reads them (so that the entry sits where the parent will look it up), and the
    index's freshness window, if it gave one (``(provenance_url, fresh_until, now)``).

    The helper files the entry only when the parent's trust-root digest is that of the root
    it verified with, and computes the provenance's sha256 from the very bytes it verified.
    """

    directory: Path
    mac_key: bytes
    trust_root_sha256: str
    verifier: str
    fresh: tuple[str, float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "mac_key": self.mac_key.hex(),
            "trust_root_sha256": self.trust_root_sha256,
            "verifier": self.verifier,
            "fresh": None if self.fresh is None else list(self.fresh),
        }

    @classmethod
    def from_json(cls, doc: object) -> EntryOrder | None:
        """The order a request carries; None for none, or for one we cannot read (an entry
        not written only costs a later run a verification)."""
        if not isinstance(doc, dict):
            return None
        directory, root, verifier = (
            doc.get("directory"),
            doc.get("trust_root_sha256"),
            doc.get("verifier"),
        )
        if not all(isinstance(v, str) and v for v in (directory, root, verifier)):
            return None
        key = doc.get("mac_key")
        try:
            mac_key = bytes.fromhex(key) if isinstance(key, str) else b""
        except ValueError:
            return None
        if len(mac_key) != 32:
            return None
        fresh = doc.get("fresh")
        window: tuple[str, float, float] | None = None
        if fresh is not None:
            if not (
                isinstance(fresh, list)
                and len(fresh) == 3
                and isinstance(fresh[0], str)
                and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in fresh[1:])
            ):
                return None
            try:
                window = (fresh[0], float(fresh[1]), float(fresh[2]))
            except OverflowError:  # an integer too large for a float
                return None
            if not all(math.isfinite(t) for t in window[1:]):
                return None
        return cls(Path(str(directory)), mac_key, str(root), str(verifier), window)

    def file(
        self,
        artifact: Artifact,
        provenance: bytes,
        identities: tuple[Identity, ...],
        root_sha256: str,
    ) -> bool:
        """Write the entry for a file proved against the root whose sha256 is
        ``root_sha256``. Returns whether an entry was written."""
        if root_sha256 != self.trust_root_sha256:
            return False  # the parent read another root: its key would name the wrong one
        key = CacheKey(
            filename=artifact.filename,
            project=artifact.project,
            version=artifact.version,
            file_sha256=artifact.sha256.lower(),
            provenance_sha256=sha256_bytes(provenance),
            trust_root_sha256=root_sha256,
            verifier=self.verifier,
        )
        return VerificationCache(self.directory, self.mac_key).put(key, identities, self.fresh)


def _file_fields(key: CacheKey | FreshKey) -> dict[str, str]:
    # By hand, not _asdict(): the key must hold exactly these fields.
    return {
        "filename": key.filename,
        "project": key.project,
        "version": key.version,
        "file_sha256": key.file_sha256,
        "trust_root_sha256": key.trust_root_sha256,
        "verifier": key.verifier,
    }


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``PIP_ATTEST_NO_CACHE`` is set to a true value.

    A value we cannot read also turns the cache off: verifying is always the safe reading.
    """
    return _env.cache_enabled(os.environ if env is None else env)


def default_dir() -> Path:
    return _dirs.verified_dir()


MAC_KEY_NAME = "cache-key"


def mac_key(folder: Path | None = None) -> bytes | None:
    """The key entries are authenticated with, made on first use; None when it can be
    neither read nor made (then nothing is cached: only speed is lost)."""
    path = (folder or _dirs.data_dir()) / MAC_KEY_NAME
    for _ in range(2):
        data = read_regular(path, 64)
        if data is not None:
            return data if len(data) == 32 else None
        try:
            _create_key(path)
        except OSError:
            return None
    return None


def _create_key(path: Path) -> None:
    """Write a new key where none is, atomically: a temporary file linked into place, so a
    concurrent run reads either no key or a whole one, and the first to link wins. Where
    the file system has no hard links, the key is created in place, exclusively; a run that
    reads it half-written sees no key, and only caches nothing that time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    key = secrets.token_bytes(32)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another run made one first: theirs it is
        except (OSError, NotImplementedError):
            _create_in_place(path, key)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _create_in_place(path: Path, key: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(key)


def _mac(key: bytes, doc: Mapping[str, Any]) -> str:
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verifier_version() -> str:
    """The versions of everything that decides whether an attestation verifies, read from
    the installed distributions' metadata so that sigstore itself is not imported."""
    return "; ".join(
        [
            f"pip-attest {__version__}",
            *(f"{name} {_installed_version(name)}" for name in ("sigstore", "pypi-attestations")),
        ]
    )


def _installed_version(name: str) -> str:
    """The version of the distribution whose package Python would import, from its
    ``.dist-info`` directory's name beside the package: one directory listing, where
    ``importlib.metadata`` parses every distribution's metadata on the path (a cost paid
    on every run). Anything unusual (no such folder, two of them, an egg) asks
    importlib.metadata."""
    import importlib.util
    from importlib import metadata

    module = name.replace("-", "_")
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and spec.submodule_search_locations is not None:
            site = os.path.dirname(os.path.dirname(spec.origin))
            prefix = f"{module}-"
            found = [
                entry[len(prefix) : -len(".dist-info")]
                for entry in os.listdir(site)
                if entry.startswith(prefix) and entry.endswith(".dist-info")
            ]
            if len(found) == 1 and found[0]:
                return found[0]
    except (ImportError, OSError, ValueError):
        pass  # a zip on the path, say: ask importlib.metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


class VerificationCache:
    """One directory of entries. Every method is safe to call from several threads and
    several processes at once; none raises for a bad entry or an unwritable directory."""

    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self._root = str(root)
        self.mac_key = key

    def path(self, key: CacheKey | FreshKey) -> Path:
        return Path(self._path(key))

    def _path(self, key: CacheKey | FreshKey) -> str:
        digest = key_digest(
            key.filename,
            key.project,
            key.version,
            key.file_sha256,
            key.trust_root_sha256,
            key.verifier,
        )
        return os.path.join(self._root, digest[:2], f"{digest[2:]}.json")

    def get(self, key: CacheKey) -> tuple[Identity, ...] | None:
        """The identities a previous run proved for ``key``, or None (a miss)."""
        doc = self._load(key)
        if doc is None or doc.get("provenance_sha256") != key.provenance_sha256:
            return None
        return _identities(doc)

    def get_fresh(self, key: FreshKey, now: float) -> tuple[Identity, ...] | None:
        """The identities proved from ``key.provenance_url`` for this very file, if the
        index's answer is still fresh at ``now``; None otherwise."""
        doc = self._load(key)
        if doc is None or doc.get("provenance_url") != key.provenance_url:
            return None
        stored, until = doc.get("stored"), doc.get("fresh_until")
        if not isinstance(stored, (int, float)) or not isinstance(until, (int, float)):
            return None
        # A clock set back, or an entry claiming more than the cap, is stale.
        if not stored <= now < until or until - stored > MAX_FRESH_SECONDS:
            return None
        return _identities(doc)

    def put(
        self,
        key: CacheKey,
        identities: tuple[Identity, ...],
        fresh: tuple[str, float, float] | None = None,
    ) -> bool:
        """Record a successful verification. Returns whether an entry was written.

        ``fresh`` is ``(provenance_url, fresh_until, now)`` when the index said its answer
        may be reused without asking again until ``fresh_until`` (a window over the cap, or
        already over, is left out). Identities that the publisher form cannot carry
        exactly (a signer that is not a Trusted Publisher) are not cached: an entry must
        give back exactly what was proved.
        """
        if not identities or len(identities) > MAX_IDENTITIES:
            return False
        publishers = [identity.to_publisher() for identity in identities]
        try:
            if tuple(identity_from_publisher(p) for p in publishers) != identities:
                return False
        except ValueError:
            return False
        doc: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "key": key.file_fields(),
            "provenance_sha256": key.provenance_sha256,
            "publishers": publishers,
        }
        if fresh is not None:
            url, until, now = fresh
            if now < until <= now + MAX_FRESH_SECONDS:
                doc.update(provenance_url=url, stored=now, fresh_until=until)
        doc["mac"] = _mac(self.mac_key, doc)
        # Compact: only then does json use its C encoder.
        data = (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            atomic_write(self.path(key), data, mode=0o600, durable=False)
        except OSError:
            return False  # a read-only or full cache only costs speed
        return True

    def _load(self, key: CacheKey | FreshKey) -> dict[str, Any] | None:
        """The entry filed for this file, if it is one of ours and repeats the file's key."""
        data = read_regular(self._path(key), MAX_ENTRY_BYTES)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            return None
        mac = doc.pop("mac", None)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(self.mac_key, doc)):
            return None  # not written by this user's pip-attest: proved again
        return doc if doc.get("key") == key.file_fields() else None


def _identities(doc: dict[str, Any]) -> tuple[Identity, ...] | None:
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
