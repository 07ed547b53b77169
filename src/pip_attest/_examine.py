"""Examining a file: find its provenance, and prove who signed it (no policy).

:meth:`Examiner.examine` may run on a few background threads, so that provenance downloads
and verification overlap pip's own work; it never raises (anything unforeseen is invalid
evidence). What it finds is judged by :class:`pip_attest._check.Checker`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from pip_attest._background import Background, Pending
from pip_attest._candidate import Candidate
from pip_attest._errors import Error, TrustError
from pip_attest._identity import Identity
from pip_attest._model import Artifact
from pip_attest._policy import Evidence, EvidenceKind
from pip_attest._prove import Prover
from pip_attest._provenance import Fetched, FileRef, HttpSession, ProvenanceFinder, Source

# Provenance downloads are small and wait on the network; a few at a time keeps a
# high-latency index busy without opening more connections than pip's pool keeps (10).
BACKGROUND_THREADS = 4
# Files examined ahead of pip (Examiner.speculate) per run: far more than any real install
# uses, few enough that a resolver trying hundreds of versions cannot make us fetch and
# verify all of them.
MAX_SPECULATIVE = 256

Found = tuple[Evidence, "str | None"]


class Examiner:
    def __init__(
        self,
        finder: ProvenanceFinder,
        prover: Prover,
    ) -> None:
        self.finder = finder
        self.prover = prover
        self._lock = threading.Lock()  # the fetches and examinations under way
        self._background = Background(BACKGROUND_THREADS)
        # Files examined ahead of pip get threads of their own: slow answers for candidates
        # pip may not even use must not hold up the files it does use.
        self._ahead = Background(BACKGROUND_THREADS)
        self._fetches: dict[FileRef, Pending[Fetched]] = {}
        self._examined: dict[tuple[Any, ...], Pending[Found]] = {}

    @classmethod
    def create(
        cls,
        session: HttpSession | None,
        *,
        integrity_apis: tuple[str, ...],
        timeout: float,
        prover: Prover,
    ) -> Examiner:
        finder = ProvenanceFinder(session, integrity_apis=integrity_apis, timeout=timeout)
        return cls(finder, prover)

    def prefetch(self, candidate: Candidate) -> None:
        """Start fetching a file's provenance now; :meth:`examine` picks it up later.

        ``candidate.sha256`` is the hash the index gave for the file, if any: when the
        answer for that file is still fresh in the cache, nothing needs fetching.
        """
        if candidate.problem or candidate.tree or not candidate.project:
            return
        source = self.finder.locate(candidate.ref())
        if isinstance(source, Fetched):
            return
        if candidate.sha256:
            if self.started(candidate) is not None:
                return  # already being examined (speculate)
            if not source.local and self.prover.fresh(source.url, _artifact(candidate)):
                return
        key = candidate.ref()
        with self._lock:
            if key not in self._fetches:
                self._fetches[key] = self._background.submit(lambda: self.finder.fetch(source))

    def speculate(self, candidate: Candidate) -> None:
        """Start :meth:`examine` now for a file pip may use, from the sha256 the index gave
        for it, before (or without) pip downloading it.

        The answer is used only for a candidate with the same name, project, version, URL,
        advert and sha256: a file whose bytes turn out to have another hash is examined
        afresh. A resolver that tries many versions would make this unbounded, so it stops
        after :data:`MAX_SPECULATIVE` files; the rest are examined when pip has them.
        """
        if not candidate.sha256 or candidate.problem or not candidate.project:
            return
        key = _examined_key(candidate)
        with self._lock:
            if key in self._examined or len(self._examined) >= MAX_SPECULATIVE:
                return
            self._examined[key] = self._ahead.submit(lambda: self.examine(candidate))

    def submit(self, candidate: Candidate) -> Pending[Found]:
        """:meth:`examine` on a background thread (or the one already under way)."""
        started = self.started(candidate)
        return started or self._background.submit(lambda: self.examine(candidate))

    def started(self, candidate: Candidate) -> Pending[Found] | None:
        with self._lock:
            return self._examined.get(_examined_key(candidate))

    def examine(self, candidate: Candidate) -> Found:
        """Find and verify (no policy): safe on any thread, never raises."""
        try:
            return self._evidence(candidate)
        except Exception as err:  # fail closed on anything we did not foresee
            return Evidence(EvidenceKind.INVALID, reason=f"internal error: {_brief(err)}"), None

    def _evidence(self, candidate: Candidate) -> Found:
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
        artifact = _artifact(candidate)
        try:
            found = self._find(candidate, artifact)
        except TrustError as err:
            return Evidence(EvidenceKind.INVALID, reason=f"trust root unusable: {err}"), None
        if not isinstance(found, Fetched):  # a fresh answer from the cache
            return Evidence(EvidenceKind.VERIFIED, identities=found.identities), found.url
        if found.kind == "none":
            return Evidence(EvidenceKind.MISSING, reason=found.reason), found.url
        if found.kind != "found":
            return Evidence(EvidenceKind.UNAVAILABLE, reason=found.reason), found.url
        window = None  # the index lets this answer be reused without asking until...
        if found.fresh_until and found.url is not None:
            window = (found.url, found.fresh_until, time.time())
        try:
            identities = self.prover.prove(artifact, found.body, window)
        except TrustError as err:
            return Evidence(EvidenceKind.INVALID, reason=f"trust root unusable: {err}"), found.url
        except Error as err:
            return Evidence(EvidenceKind.INVALID, reason=str(err)), found.url
        return Evidence(EvidenceKind.VERIFIED, identities=identities), found.url

    def _find(self, candidate: Candidate, artifact: Artifact) -> Fetched | _Fresh:
        """The provenance to prove, or what was proved when a fresh answer is cached."""
        source = self.finder.locate(candidate.ref())
        if isinstance(source, Fetched):
            return source  # nowhere to look: the answer itself
        fresh = None if source.local else self.prover.fresh(source.url, artifact)
        if fresh is not None:
            return _Fresh(fresh, source.url)
        return self._fetch(candidate, source)

    def _fetch(self, candidate: Candidate, source: Source) -> Fetched:
        key = candidate.ref()
        with self._lock:
            started = self._fetches.pop(key, None)
        if started is not None and started.running():
            return started.result()
        # Not picked up yet (it may be queued behind this very thread): fetch now.
        return self.finder.fetch(source)


class _Fresh(NamedTuple):
    identities: tuple[Identity, ...]
    url: str


def _artifact(candidate: Candidate) -> Artifact:
    return Artifact(candidate.filename, candidate.sha256, candidate.project, candidate.version)


def _examined_key(candidate: Candidate) -> tuple[Any, ...]:
    """What :meth:`Examiner.examine` depends on (not the origin, which only the report
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


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__
