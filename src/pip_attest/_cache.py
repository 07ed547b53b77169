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

**Fresh answers** (``verified/fresh/``). PyPI says its provenance answers stay fresh for 10
minutes (``Cache-Control: max-age=600``). While an answer is fresh, a file whose provenance
was verified from that URL is answered without asking the index again: a
:class:`FreshKey` entry names the URL, the file's name and sha256, the trust root and the
verifier, and until when the index's headers (``max-age``, ``Age``, ``Date``; never
``no-cache`` or ``no-store``; at most a day) let the answer be reused. Other bytes at the
same URL are a miss, and are fetched and verified as usual.

**Run records** (``verified/runs/``). Whether the last run of the same command found every
file already verified (:class:`RunMemo`): only a guess about whether to start the
verification helper before pip resolves, never an answer about a file.

``PIP_ATTEST_NO_CACHE=1`` turns all of this off (no reads, no writes). Delete the
``verified`` directory to empty it; nothing else refers to it.

Importing this module imports no cryptography.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pip_attest._fileio import atomic_write
from pip_attest._identity import Identity, identity_from_publisher
from pip_attest._provenance import MAX_FRESH_SECONDS

NO_CACHE = "PIP_ATTEST_NO_CACHE"
FORMAT_VERSION = 1
# A real entry is a few hundred bytes; anything far larger is not one of ours.
MAX_ENTRY_BYTES = 64 * 1024
MAX_IDENTITIES = 32
MAX_REQUIREMENTS_BYTES = 4 * 1024 * 1024  # read of a requirements file, for RunMemo
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
        return _digest(
            self.filename,
            self.file_sha256,
            self.provenance_sha256,
            self.trust_root_sha256,
            self.verifier,
        )


@dataclass(frozen=True, slots=True)
class FreshKey:
    """A provenance URL whose verified answer the index lets us reuse for a while.

    Filed by URL (one entry per URL, under the same root and verifier): the entry must
    then repeat this whole key, the file's sha256 included, to be used.
    """

    provenance_url: str
    filename: str
    file_sha256: str
    trust_root_sha256: str
    verifier: str

    def fields(self) -> dict[str, str]:
        return {
            "provenance_url": self.provenance_url,
            "filename": self.filename,
            "file_sha256": self.file_sha256,
            "trust_root_sha256": self.trust_root_sha256,
            "verifier": self.verifier,
        }

    def digest(self) -> str:
        return _digest(self.provenance_url, self.trust_root_sha256, self.verifier)


def _digest(*fields: str) -> str:
    """Where an entry is filed. Two keys that share a digest (they cannot, short of a
    sha256 collision or a NUL inside a field) only share a file: every entry repeats its
    whole key, and a key that differs is a miss."""
    text = "\0".join(fields)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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
        data = _read_entry(self._path(key))
        return None if data is None else _parse_entry(data, key)

    def get_fresh(self, key: FreshKey, now: float) -> tuple[Identity, ...] | None:
        """The identities proved from ``key.provenance_url`` for this very file, if the
        index's answer is still fresh at ``now``; None otherwise."""
        digest = key.digest()
        data = _read_entry(os.path.join(self._root, "fresh", digest[:2], f"{digest[2:]}.json"))
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            return None
        stored, until = doc.get("stored"), doc.get("fresh_until")
        if not isinstance(stored, (int, float)) or not isinstance(until, (int, float)):
            return None
        # A clock set back, or an entry claiming more than the cap, is stale.
        if not stored <= now < until or until - stored > MAX_FRESH_SECONDS:
            return None
        return _parse_entry(data, key, doc)

    def put_fresh(
        self, key: FreshKey, identities: tuple[Identity, ...], fresh_until: float, now: float
    ) -> bool:
        """Record that ``key.provenance_url`` proved ``identities`` for this file, and may
        be reused without asking the index again until ``fresh_until``."""
        if not now < fresh_until <= now + MAX_FRESH_SECONDS:
            return False
        digest = key.digest()
        path = self.root / "fresh" / digest[:2] / f"{digest[2:]}.json"
        return self._write(path, key.fields(), identities, stored=now, fresh_until=fresh_until)

    def put(self, key: CacheKey, identities: tuple[Identity, ...]) -> bool:
        """Record a successful verification. Returns whether an entry was written.

        Identities that the publisher form cannot carry exactly (a signer that is not a
        Trusted Publisher) are not cached: an entry must give back exactly what was proved.
        """
        return self._write(self.path(key), key.fields(), identities)

    def _write(
        self,
        path: Path,
        key: dict[str, str],
        identities: tuple[Identity, ...],
        **extra: float,
    ) -> bool:
        if not identities or len(identities) > MAX_IDENTITIES:
            return False
        publishers = [identity.to_publisher() for identity in identities]
        try:
            if tuple(identity_from_publisher(p) for p in publishers) != identities:
                return False
        except ValueError:
            return False
        doc = {"format": FORMAT_VERSION, "key": key, "publishers": publishers, **extra}
        data = (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8")
        try:
            atomic_write(path, data, mode=0o600, durable=False)
        except OSError:
            return False  # a read-only or full cache only costs speed
        return True


def _read_entry(path: str) -> bytes | None:
    """An entry's bytes, or None. Non-blocking, and only from a regular file: a FIFO put
    in the cache must not hang every run."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_ENTRY_BYTES + 1)  # an entry is far smaller: one read
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if len(data) > MAX_ENTRY_BYTES else data


def _parse_entry(
    data: bytes, key: CacheKey | FreshKey, doc: object = None
) -> tuple[Identity, ...] | None:
    if doc is None:
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


class RunMemo:
    """Whether the last run of this same command found everything already verified.

    Used only to guess, before pip starts, whether this run will need the verification
    helper (:func:`pip_attest._check.start_early_helper`): a wrong guess costs time (a
    helper started for nothing, or started late), never a check. "The same command" is the
    subcommand, pip's arguments, the working directory, every ``PIP_*`` variable, and the
    bytes of each requirement and constraint file the arguments name.
    """

    MAX_AGE = 7 * 24 * 60 * 60

    def __init__(self, cache_root: Path, command: str, pip_args: Sequence[str]) -> None:
        parts = [command, os.getcwd(), *pip_args, "\0"]
        parts += [
            f"{k}={v}"
            for k, v in sorted(os.environ.items())
            if k.startswith("PIP_") and k not in _PER_RUN_VARIABLES
        ]
        parts += [_file_digest(f) for f in _requirement_files(pip_args)]
        digest = _digest(*parts)
        self.path = cache_root / "runs" / digest[:2] / f"{digest[2:]}.json"

    def expects_hits(self, now: float) -> bool:
        data = _read_entry(str(self.path))
        try:
            doc = json.loads(data) if data is not None else None
        except (ValueError, RecursionError):
            return False
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            return False
        stored = doc.get("stored")
        if not isinstance(stored, (int, float)) or not 0 <= now - stored <= self.MAX_AGE:
            return False
        return doc.get("all_cached") is True

    def record_run(
        self, pip_exit_code: int, records: Iterable[Mapping[str, Any]], now: float
    ) -> None:
        """After a run: would running it again find every file verified already? Not after
        a pip failure, nor when a file could not be fetched or did not verify (failures are
        not cached)."""
        done = ("verified", "missing")
        self.record(pip_exit_code == 0 and all(r.get("status") in done for r in records), now)

    def record(self, all_cached: bool, now: float) -> None:
        doc = {"format": FORMAT_VERSION, "all_cached": all_cached, "stored": now}
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            atomic_write(self.path, json.dumps(doc).encode(), mode=0o600, durable=False)


# Set by pip-attest itself for each run (pip_attest._config.RESULTS_FILE, PARENT_PID).
_PER_RUN_VARIABLES = frozenset({"PIP_ATTEST_RESULTS_FILE", "PIP_ATTEST_PARENT_PID"})


def _requirement_files(pip_args: Sequence[str]) -> list[str]:
    files = []
    args = list(pip_args)
    for i, arg in enumerate(args):
        for flag in ("-r", "--requirement", "-c", "--constraint"):
            if arg == flag and i + 1 < len(args):
                files.append(args[i + 1])
            elif arg.startswith(flag + "=") or (
                len(flag) == 2 and arg.startswith(flag) and arg != flag
            ):
                files.append(arg.removeprefix(flag).removeprefix("="))
    return files


def _file_digest(name: str) -> str:
    """A regular file's sha256. Anything else is not even opened: ``-r <(...)`` is a pipe
    whose bytes belong to pip, and opening a FIFO would release a writer waiting for pip."""
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):
            return "?"
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return "?"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "?"
        return hashlib.sha256(os.read(fd, MAX_REQUIREMENTS_BYTES)).hexdigest()
    except OSError:
        return "?"
    finally:
        os.close(fd)
