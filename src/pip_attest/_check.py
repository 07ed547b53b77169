"""The pipeline for one file: find provenance → verify → judge.

Nothing pip-specific lives here: the seam hands over a :class:`Candidate` (a filename, the
sha256 of the bytes pip holds, where the file came from) and gets a :class:`FileResult`.
Every unexpected exception becomes a blocking result: when in doubt, nothing is installed.

The first two stages (:meth:`Checker.examine`) may run on a few background threads, so that
provenance downloads and verification overlap pip's own work; the third
(:meth:`Checker.conclude`, the policy) always runs on the thread that asks for the result.
A verification that was done before is answered from :mod:`pip_attest._cache` without
importing any cryptography.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from pip_attest import _cache
from pip_attest._config import Settings
from pip_attest._errors import Error, TrustError
from pip_attest._identity import Identity
from pip_attest._model import Artifact, FileResult, Origin, Status
from pip_attest._policy import Evidence, EvidenceKind, Policy
from pip_attest._provenance import (
    Advert,
    Fetched,
    FileRef,
    HttpSession,
    ProvenanceFinder,
    Source,
)

if TYPE_CHECKING:
    from pip_attest._verify import AttestationVerifier
    from pip_attest._worker import WorkerClient

T = TypeVar("T")

# Provenance downloads are small and wait on the network; a few at a time keeps a
# high-latency index busy without opening more connections than pip's pool keeps (10).
BACKGROUND_THREADS = 4
# Files examined ahead of pip (Checker.speculate) per run: far more than any real install
# uses, few enough that a resolver trying hundreds of versions cannot make us fetch and
# verify all of them.
MAX_SPECULATIVE = 256


class Candidate(NamedTuple):
    """A file pip is about to use, as pip means it.

    ``project`` and ``version`` are pip's: the candidate's canonical name, and the version
    pip reads from the file's name for that project (or the one a lock states). ``project``
    is empty for a requirement pip cannot name before building it (a bare URL), and
    ``version`` when pip does not know it (a source tree). ``sha256`` is that of the very
    bytes pip uses; empty for a source tree (``tree`` says which kind), which can carry no
    attestation. ``problem`` says why the file cannot be what pip takes it for (its name is
    another project's, say): such a file is invalid, whatever its provenance.
    """

    filename: str
    sha256: str
    file_url: str
    project: str
    version: str
    advert: Advert | None = None
    origin: Origin = Origin.INDEX
    problem: str = ""
    tree: str = ""

    def ref(self) -> FileRef:
        return FileRef(self.file_url, self.filename, self.advert, self.project, self.version)


class Pending(Generic[T]):
    """The result of work running on a background thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._started = False
        self._value: T | None = None
        self._error: BaseException | None = None

    def running(self) -> bool:
        """Whether a thread has taken up the work (or finished it)."""
        return self._started

    def _finish(self, value: T | None, error: BaseException | None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class _Background:
    """A few daemon threads, started on first use.

    Daemon threads because a pip that stops early (a resolution error, Ctrl-C) must not
    wait at exit for downloads nobody will read; every result that matters is waited for
    before the gate lets pip install anything.
    """

    def __init__(self, size: int) -> None:
        import queue

        self._size = size
        self._queue: queue.SimpleQueue[tuple[Pending[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._threads = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], T]) -> Pending[T]:
        pending: Pending[T] = Pending()
        self._queue.put((pending, fn))
        with self._lock:
            if self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._run, name="pip-attest", daemon=True).start()
        return pending

    def _run(self) -> None:
        while True:
            pending, fn = self._queue.get()
            pending._started = True
            try:
                value = fn()
            except BaseException as err:  # handed to whoever waits for the result
                pending._finish(None, err)
            else:
                pending._finish(value, None)


class Checker:
    """Checks candidates for one pip process.

    Builds the sigstore verifier (or starts the verification helper) at most once, and only
    when a file is not in the verification cache: a run whose files all hit never imports
    sigstore.
    """

    def __init__(
        self,
        settings: Settings,
        session: HttpSession | None,
        *,
        helper: bool = False,
    ) -> None:
        """``helper``: verify in a helper process (:mod:`pip_attest._worker`) started at the
        first cache miss, so that pip's own process never imports sigstore."""
        self.settings = settings
        self.policy = Policy(settings)
        self._finder = ProvenanceFinder(
            session, integrity_apis=settings.integrity_apis, timeout=settings.timeout
        )
        self._verifier: AttestationVerifier | None = None
        self._lock = threading.Lock()  # small shared state: digests, started downloads
        self._verify_lock = threading.Lock()  # the verifier: built once, used one at a time
        key = _cache.mac_key() if _cache.enabled() else None
        self._cache: _cache.VerificationCache | None = (
            _cache.VerificationCache(_cache.default_dir(), key) if key is not None else None
        )
        self._root_sha256: str | None = None
        self._verifier_version: str | None = None
        self._background = _Background(BACKGROUND_THREADS)
        # Files examined ahead of pip (speculate) get threads of their own: slow answers
        # for candidates pip may not even use must not hold up the files it does use.
        self._ahead = _Background(BACKGROUND_THREADS)
        # Cache entries are written by a thread of their own, off the path of the verdict:
        # creating a file costs this file system 0.3 to 0.7 ms, once per file verified.
        # close() (and, failing that, the exit) waits for the writes still queued. Files
        # the helper proves get their entries from the helper (see _verify), which writes
        # them before it ends; close() gives it two seconds for that.
        self._writer = _Background(1)
        self._writes: list[Pending[object]] = []
        self._writes_closed = False
        self._fetches: dict[FileRef, Pending[Fetched]] = {}
        self._examined: dict[tuple[Any, ...], Pending[Any]] = {}
        self._use_helper = helper
        self._helper: WorkerClient | None = None
        self._helper_checked = False

    def verifier(self) -> AttestationVerifier:
        with self._verify_lock:
            if self._verifier is None:
                from pip_attest._trust import ensure_root
                from pip_attest._verify import AttestationVerifier

                path = ensure_root(self.settings.trust_root)
                self._verifier = AttestationVerifier(path)
                if self._root_sha256 is not None and _read_digest(path) != self._root_sha256:
                    # The root changed under us ('trust update' in another shell): the
                    # entries this run would write could name the wrong root. Verify
                    # everything against the one we loaded, and cache nothing.
                    self._cache = None
            return self._verifier

    def prefetch(self, candidate: Candidate) -> None:
        """Start fetching a file's provenance now; :meth:`examine` picks it up later.

        ``candidate.sha256`` is the hash the index gave for the file, if any: when the
        answer for that file is still fresh in the cache, nothing needs fetching.
        """
        if candidate.problem or candidate.tree or not candidate.project:
            return
        source = self._finder.locate(candidate.ref())
        if isinstance(source, Fetched):
            return
        if candidate.sha256:
            if self._started(candidate) is not None:
                return  # already being examined (Checker.speculate)
            if not source.local and self._fresh(source.url, candidate) is not None:
                return
        key = candidate.ref()
        with self._lock:
            if key not in self._fetches:
                self._fetches[key] = self._background.submit(lambda: self._finder.fetch(source))

    def speculate(self, candidate: Candidate) -> None:
        """Start :meth:`examine` now for a file pip may use, from the sha256 the index gave
        for it, before (or without) pip downloading it.

        The answer is used only for a candidate with the same filename, URL, advert and
        sha256: a file whose bytes turn out to have another hash is examined afresh. A
        resolver that tries many versions would make this unbounded, so it stops after
        :data:`MAX_SPECULATIVE` files; the rest are examined when pip has them.
        """
        if not candidate.sha256 or candidate.problem or not candidate.project:
            return
        key = _examined_key(candidate)
        with self._lock:
            if key in self._examined or len(self._examined) >= MAX_SPECULATIVE:
                return
            self._examined[key] = self._ahead.submit(lambda: self.examine(candidate))

    def submit(self, candidate: Candidate) -> Pending[tuple[Evidence, str | None]]:
        """:meth:`examine` on a background thread (or the one already under way)."""
        started = self._started(candidate)
        return started or self._background.submit(lambda: self.examine(candidate))

    def _started(self, candidate: Candidate) -> Pending[tuple[Evidence, str | None]] | None:
        with self._lock:
            return self._examined.get(_examined_key(candidate))

    def examine(self, candidate: Candidate) -> tuple[Evidence, str | None]:
        """Find and verify (no policy): safe on any thread, never raises."""
        try:
            return self._evidence(candidate)
        except Exception as err:  # fail closed on anything we did not foresee
            return Evidence(EvidenceKind.INVALID, reason=f"internal error: {_brief(err)}"), None

    def check(self, candidate: Candidate) -> FileResult:
        started = self._started(candidate)
        found = started.result() if started is not None else self.examine(candidate)
        return self.conclude(candidate, found)

    def conclude(self, candidate: Candidate, found: tuple[Evidence, str | None]) -> FileResult:
        """Judge what :meth:`examine` found. Runs the policy, so call it from one thread."""
        # A requirement pip has not named yet is judged under its URL (no pin or record can
        # apply to it); the seam judges it again under its real name before any install.
        project = candidate.project or candidate.file_url
        version = candidate.version
        base = FileResult(
            project=project,
            version=version,
            filename=candidate.filename,
            sha256=candidate.sha256,
            status=Status.INVALID,
            origin=candidate.origin,
        )
        evidence, url = found
        verdict = self.policy.judge(project, evidence, version)
        return base._replace(
            status=verdict.status,
            identities=evidence.identities,
            reason=verdict.reason,
            hint=verdict.hint,
            blocking=verdict.blocking,
            provenance_url=url,
            expected=verdict.expected,
        )

    def _evidence(self, candidate: Candidate) -> tuple[Evidence, str | None]:
        if candidate.problem:
            return Evidence(EvidenceKind.INVALID, reason=candidate.problem), None
        if candidate.tree or not candidate.sha256:
            what = candidate.tree or "not a distribution file"
            return Evidence(EvidenceKind.MISSING, reason=f"{what}: nothing to attest"), None
        if not candidate.project:
            # A bare URL pip names only by building it: its provenance can be looked for
            # once that name is known (the seam asks again then).
            reason = "pip does not know this file's project before building it"
            return Evidence(EvidenceKind.MISSING, reason=reason), None
        source = self._finder.locate(candidate.ref())
        if isinstance(source, Fetched):
            fetched = source  # nowhere to look: the answer itself
        else:
            try:
                fresh = None if source.local else self._fresh(source.url, candidate)
            except TrustError as err:
                return Evidence(EvidenceKind.INVALID, reason=f"trust root unusable: {err}"), (
                    source.url
                )
            if fresh is not None:
                return Evidence(EvidenceKind.VERIFIED, identities=fresh), source.url
            fetched = self._fetch(candidate, source)
        if fetched.kind == "none":
            return Evidence(EvidenceKind.MISSING, reason=fetched.reason), fetched.url
        if fetched.kind != "found":
            return Evidence(EvidenceKind.UNAVAILABLE, reason=fetched.reason), fetched.url
        artifact = Artifact(
            candidate.filename, candidate.sha256, candidate.project, candidate.version
        )
        reusable = None  # the index lets this answer be reused without asking until...
        if fetched.fresh_until and fetched.url is not None:
            reusable = (fetched.url, fetched.fresh_until, time.time())
        try:
            key = self._cache_key(artifact, fetched.body)
            identities = self._cached(key)
            # A hit needs writing again only to note a new freshness window.
            recorded = identities is not None and reusable is None
            if identities is None:
                identities, recorded = self._verify(artifact, fetched.body, key, reusable)
        except TrustError as err:
            return Evidence(EvidenceKind.INVALID, reason=f"trust root unusable: {err}"), fetched.url
        except Error as err:
            return Evidence(EvidenceKind.INVALID, reason=str(err)), fetched.url
        if not recorded:
            self._remember(key, identities, reusable)
        return Evidence(EvidenceKind.VERIFIED, identities=identities), fetched.url

    def _fresh(self, url: str, candidate: Candidate) -> tuple[Identity, ...] | None:
        """The identities, when this file's provenance (from ``url``) was verified before
        and its index said the answer may be reused until now: no request at all then."""
        key = self._fresh_key(url, candidate)
        cache = self._cache
        return None if key is None or cache is None else cache.get_fresh(key, time.time())

    def _fresh_key(self, url: str, candidate: Candidate) -> _cache.FreshKey | None:
        root, version = self._root_and_version()
        if root is None:
            return None
        return _cache.FreshKey(
            provenance_url=url,
            filename=candidate.filename,
            project=candidate.project,
            version=candidate.version,
            file_sha256=candidate.sha256.lower(),
            trust_root_sha256=root,
            verifier=version,
        )

    def _fetch(self, candidate: Candidate, source: Source) -> Fetched:
        key = candidate.ref()
        with self._lock:
            started = self._fetches.pop(key, None)
        if started is not None and started.running():
            return started.result()
        # Not picked up yet (it may be queued behind this very thread): fetch now.
        return self._finder.fetch(source)

    def _verify(
        self,
        artifact: Artifact,
        body: bytes,
        key: _cache.CacheKey | None,
        fresh: tuple[str, float, float] | None,
    ) -> tuple[tuple[Identity, ...], bool]:
        """The identities that signed the file, and whether its cache entry is already
        taken care of: the helper writes the entries for what it proves, on its own core,
        so that pip's process spends neither CPU nor its GIL on them."""
        if self._use_helper:
            client = self._helper_client()
            cache = self._cache  # None when the helper's root is not the one we read
            record = None
            if cache is not None and key is not None:
                record = _cache.EntryOrder(
                    cache.root, cache.mac_key, key.trust_root_sha256, key.verifier, fresh
                )
            return client.verify(artifact, body, record=record), record is not None
        verifier = self.verifier()
        from pip_attest._verify import parse_provenance

        attestations = parse_provenance(body)
        with self._verify_lock:  # GIL-bound anyway; one at a time keeps sigstore simple
            return verifier.verify(artifact, attestations), False

    def _helper_client(self) -> WorkerClient:
        with self._verify_lock:
            if self._helper is None:
                self._helper = start_helper(self.settings)
            if not self._helper_checked:
                # As in verifier(): entries must name the root that really verified them.
                if self._root_sha256 not in (None, self._helper.root_sha256()):
                    self._cache = None
                self._helper_checked = True
            return self._helper

    def _root_and_version(self) -> tuple[str | None, str]:
        """The trust root's sha256 and the verifier's versions, read once per run."""
        if self._cache is None:
            return None, ""
        with self._lock:
            if self._root_sha256 is None:
                from pip_attest._trust import ensure_root

                self._root_sha256 = _read_digest(ensure_root(self.settings.trust_root))
                self._verifier_version = _cache.verifier_version()
            return self._root_sha256, self._verifier_version or ""

    def _cache_key(self, artifact: Artifact, body: bytes) -> _cache.CacheKey | None:
        root, version = self._root_and_version()
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

    def _cached(self, key: _cache.CacheKey | None) -> tuple[Identity, ...] | None:
        cache = self._cache
        return None if cache is None or key is None else cache.get(key)

    def _remember(
        self,
        key: _cache.CacheKey | None,
        identities: tuple[Identity, ...],
        fresh: tuple[str, float, float] | None,
    ) -> None:
        cache = self._cache  # None again if the trust root changed while we verified
        if cache is not None and key is not None:
            self._write_later(lambda: cache.put(key, identities, fresh))

    def _write_later(self, write: Callable[[], object]) -> None:
        with self._lock:
            if self._writes_closed:
                return  # the run is over (a late speculative check): only an entry lost
            if not self._writes:
                atexit.register(self._finish_writes_at_exit)
            self._writes.append(self._writer.submit(write))

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

    def commit(self, results: list[FileResult]) -> None:
        """The run goes ahead with these results: let the policy remember what it saw
        (trust-on-first-use records). Called once, after the gate passed."""
        self.policy.remember(results)

    def close(self) -> None:
        """The run is over: finish writing the cache, and stop the helper now rather than at
        exit (a process that runs several installs, like the tests, would otherwise keep
        one per run)."""
        self.finish_writes(last=True)
        helper = self._helper
        if helper is not None:
            helper.close()


def _examined_key(candidate: Candidate) -> tuple[Any, ...]:
    """What :meth:`Checker.examine` depends on (not the origin, which only the report
    reads)."""
    url = candidate.file_url.split("#", 1)[0]
    return (
        candidate.filename,
        candidate.sha256.lower(),
        url,
        candidate.advert,
        candidate.project,
        candidate.version,
        candidate.problem,
        candidate.tree,
    )


def start_helper(settings: Settings) -> WorkerClient:
    """Start a verification helper: it loads sigstore on another core while the caller
    goes on. The one pip_attest._process started before pip, if it was for this trust
    root; otherwise a new one."""
    from pip_attest._process import take_early_helper
    from pip_attest._worker import WorkerClient

    client = WorkerClient(settings.trust_root, started=take_early_helper(settings.trust_root))
    client.start()
    return client


def append_results(path: Path, results: list[FileResult], *, origin: Origin | None = None) -> None:
    """Append results as JSON lines. One ``write`` per line, on an O_APPEND descriptor, so
    concurrent pip processes of one run cannot interleave their lines."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for result in results:
            record = result.to_json()
            if origin is not None and record["origin"] == Origin.INDEX.value:
                record["origin"] = origin.value
            os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def read_results(path: Path) -> list[dict[str, Any]]:
    """Read the results of a run. A line we cannot read is itself a blocking result."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "status" not in record:
                raise ValueError("not a result record")
        except ValueError:
            record = {
                "project": "?",
                "version": "",
                "filename": "?",
                "sha256": "",
                "status": Status.INVALID.value,
                "blocking": True,
                "identities": [],
                "publishers": [],
                "expected": [],
                "reason": "unreadable result record from a pip subprocess",
                "hint": "",
                "provenance_url": None,
                "origin": "?",
            }
        out.append(record)
    return out


def _read_digest(path: Path) -> str:
    try:
        return _cache.sha256_bytes(path.read_bytes())
    except OSError as err:
        raise TrustError(f"trust root {path}: cannot read: {err.strerror or err}") from err


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__
