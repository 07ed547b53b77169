"""Proving a file's provenance: the verification cache first, then a verifier.

A :class:`Prover` answers "who signed these bytes, according to this provenance?" for one
run. It keeps the run's view of the trust root (its sha256, read once) and the verifier's
versions, which key every cache entry; it verifies in the helper process
(:mod:`pip_attest._helper`) or in-process; and it writes what it proved to the cache, off the
path of the verdict. A run whose files are all in the cache never imports sigstore.

If the trust root another shell updates changes under a run, the run keeps verifying
against the root it loaded and caches nothing more: entries must name the root that really
verified them.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pip_attest import _cache
from pip_attest._background import Background, Pending
from pip_attest._errors import TrustError
from pip_attest._helper import WorkerClient
from pip_attest._identity import Identity
from pip_attest._model import Artifact
from pip_attest._spawn import take_early_helper
from pip_attest._trust import ensure_root

if TYPE_CHECKING:
    from pip_attest._verify import AttestationVerifier

# (provenance URL, fresh until, now): the index lets its answer be reused until then.
Window = tuple[str, float, float]


class Prover:
    def __init__(self, trust_root: Path | None, *, helper: bool) -> None:
        """``trust_root`` None: pip-attest's own. ``helper``: verify in a helper process
        started at the first cache miss, so that pip's own process never imports sigstore."""
        self._trust_root = trust_root
        self._use_helper = helper
        key = _cache.mac_key() if _cache.enabled() else None
        self.cache: _cache.VerificationCache | None = (
            _cache.VerificationCache(_cache.default_dir(), key) if key is not None else None
        )
        self._lock = threading.Lock()  # the run's root digest and the writes
        self._verify_lock = threading.Lock()  # the verifier: built once, used one at a time
        self._root_sha256: str | None = None
        self._verifier_version = ""
        self._verifier: AttestationVerifier | None = None
        self._helper: WorkerClient | None = None
        self._helper_checked = False
        # Cache entries are written by a thread of their own, off the path of the verdict;
        # close() (and, failing that, the exit) waits for the writes still queued. Files
        # the helper proves get their entries from the helper, which writes them before
        # it ends.
        self._writer = Background(1)
        self._writes: list[Pending[object]] = []
        self._writes_closed = False

    # -- answers from the cache ------------------------------------------------------------

    def fresh(self, url: str, artifact: Artifact) -> tuple[Identity, ...] | None:
        """The identities, when these bytes' provenance (from ``url``) was verified before
        and the index said the answer may be reused until now: no request at all then."""
        root, version = self.root_and_version()
        cache = self.cache
        if root is None or cache is None:
            return None
        key = _cache.FreshKey(
            provenance_url=url,
            filename=artifact.filename,
            project=artifact.project,
            version=artifact.version,
            file_sha256=artifact.sha256.lower(),
            trust_root_sha256=root,
            verifier=version,
        )
        return cache.get_fresh(key, time.time())

    def prove(self, artifact: Artifact, body: bytes, window: Window | None) -> tuple[Identity, ...]:
        """The identities this provenance proves signed the file: from the cache, or
        verified (and then cached). Raises pip-attest's errors for anything else."""
        key = self._key(artifact, body)
        cache = self.cache
        identities = cache.get(key) if cache is not None and key is not None else None
        if identities is not None:
            if window is not None:  # a hit needs writing again only to renew freshness
                self._remember(key, identities, window)
            return identities
        identities, recorded = self._verify(artifact, body, key, window)
        if not recorded:
            self._remember(key, identities, window)
        return identities

    def root_and_version(self) -> tuple[str | None, str]:
        """The trust root's sha256 and the verifier's versions, read once per run; no
        root when nothing is cached."""
        if self.cache is None:
            return None, ""
        with self._lock:
            if self._root_sha256 is None:
                self._root_sha256 = _digest(ensure_root(self._trust_root))
                self._verifier_version = _cache.verifier_version()
            return self._root_sha256, self._verifier_version

    def _key(self, artifact: Artifact, body: bytes) -> _cache.CacheKey | None:
        root, version = self.root_and_version()
        if root is None:
            return None
        return _cache.CacheKey(
            filename=artifact.filename,
            project=artifact.project,
            version=artifact.version,
            file_sha256=artifact.sha256.lower(),
            provenance_sha256=_cache.sha256_bytes(body),
            trust_root_sha256=root,
            verifier=version,
        )

    # -- verifying -------------------------------------------------------------------------

    def _verify(
        self,
        artifact: Artifact,
        body: bytes,
        key: _cache.CacheKey | None,
        window: Window | None,
    ) -> tuple[tuple[Identity, ...], bool]:
        """The identities that signed the file, and whether its cache entry is already
        taken care of: the helper writes the entries for what it proves, on its own core,
        so that pip's process spends neither CPU nor its GIL on them."""
        if self._use_helper:
            client = self.helper()
            cache = self.cache  # None when the helper's root is not the one we read
            record = None
            if cache is not None and key is not None:
                record = _cache.EntryOrder(
                    cache.root, cache.mac_key, key.trust_root_sha256, key.verifier, window
                )
            return client.verify(artifact, body, record=record), record is not None
        verifier = self.verifier()
        from pip_attest._verify import parse_provenance  # sigstore: only when verifying here

        attestations = parse_provenance(body)
        with self._verify_lock:  # GIL-bound anyway; one at a time keeps sigstore simple
            return verifier.verify(artifact, attestations), False

    def verifier(self) -> AttestationVerifier:
        """The in-process verifier, built once (this imports sigstore)."""
        with self._verify_lock:
            if self._verifier is None:
                # Imports sigstore: only a run that verifies in this process pays for it.
                from pip_attest._verify import AttestationVerifier

                path = ensure_root(self._trust_root)
                self._verifier = AttestationVerifier(path)
                if self._root_sha256 is not None and _digest(path) != self._root_sha256:
                    self.cache = None  # the root changed under us: cache nothing more
            return self._verifier

    def helper(self) -> WorkerClient:
        """The verification helper: the one started before pip for this trust root, if
        there is one, else a new one; it loads sigstore on another core."""
        with self._verify_lock:
            if self._helper is None:
                started = take_early_helper(self._trust_root)
                self._helper = WorkerClient(self._trust_root, started=started)
                self._helper.start()
            if not self._helper_checked:
                # As in verifier(): entries must name the root that really verified them.
                if self._root_sha256 not in (None, self._helper.root_sha256()):
                    self.cache = None
                self._helper_checked = True
            return self._helper

    # -- writing the cache -----------------------------------------------------------------

    def _remember(
        self, key: _cache.CacheKey | None, identities: tuple[Identity, ...], window: Window | None
    ) -> None:
        cache = self.cache  # None again if the trust root changed while we verified
        if cache is not None and key is not None:
            self._write_later(lambda: cache.put(key, identities, window))

    def _write_later(self, write: Callable[[], object]) -> bool:
        """Run ``write`` on the writer thread; False (and nothing run) once the run is over
        (a late speculative check: only a cache entry lost)."""
        with self._lock:
            if self._writes_closed:
                return False
            if not self._writes:
                atexit.register(self._finish_writes_at_exit)
            self._writes.append(self._writer.submit(write))
            return True

    def write_later(self, write: Callable[[], object]) -> None:
        """Run ``write`` off the caller's thread, finished by :meth:`finish_writes` (at the
        latest at exit); run here and now if the writes are closed already."""
        if not self._write_later(write):
            write()

    def finish_writes(self, *, last: bool = False) -> None:
        """Wait for the cache entries still being written (each is written whole or not
        at all). ``last``: the run is over, and entries found later are not written, so
        that no write is still under way when the process ends."""
        with self._lock:
            writes, self._writes = self._writes, []
            self._writes_closed = self._writes_closed or last
            atexit.unregister(self._finish_writes_at_exit)
        for write in writes:
            with contextlib.suppress(Exception):
                write.result()

    def _finish_writes_at_exit(self) -> None:
        self.finish_writes(last=True)

    def close(self) -> None:
        """The run is over: finish writing the cache, and stop the helper now rather than at
        exit (a process that runs several installs, like the tests, would otherwise keep
        one per run)."""
        self.finish_writes(last=True)
        if self._helper is not None:
            self._helper.close()


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise TrustError(f"trust root {path}: cannot read: {err.strerror or err}") from err
