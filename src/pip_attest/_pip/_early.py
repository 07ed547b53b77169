"""Starting checks early, before pip needs their verdicts (optimisations only: the checks
decide), and the adverts of the index a lock names."""

from __future__ import annotations

import contextlib
from typing import Any

from pip_attest._candidate import Candidate
from pip_attest._model import Origin
from pip_attest._pip._index import fetch_adverts
from pip_attest._pip._reqs import Seen, installs_file
from pip_attest._pip._state import STATE, checker


def index_candidate(seen: Seen) -> Candidate:
    """A file as the index describes it, before pip has its bytes."""
    origin = Origin.LOCAL if seen.url.startswith("file:") else Origin.INDEX
    return Candidate(
        seen.filename,
        seen.index_sha256,
        seen.url,
        seen.project,
        seen.version,
        advert=STATE.adverts.get(seen.url),
        origin=origin,
        problem=seen.problem,
    )


def _early(req: Any) -> Candidate | None:
    seen = STATE.ledger.describe(req)
    if seen.tree or seen.source is not None or not seen.project or seen.problem:
        return None
    if not seen.url.startswith(("http:", "https:")):
        return None
    return index_candidate(seen)


def lock_index_adverts(seen: Seen) -> None:
    """For a file pip takes from a lock it read itself: read its project's page on the
    lock's index, else on pip's indexes (once each), so that its provenance advert is
    known."""
    if seen.project not in STATE.lock_indexes or STATE.session is None:
        return
    named = STATE.lock_indexes[seen.project]
    for index in [named] if named else STATE.index_urls:
        if seen.url in STATE.adverts:
            return
        if (index, seen.project) not in STATE.lock_pages:
            STATE.lock_pages.add((index, seen.project))
            fetch_adverts(STATE.session, index, seen.project)


def prefetch(reqs: list[Any]) -> None:
    """Start downloading the provenance of every file pip is about to download. Best
    effort: the checks decide."""
    for req in reqs:
        with contextlib.suppress(Exception):
            if not installs_file(req) or getattr(req, "local_file_path", None):
                continue
            candidate = _early(req)
            if candidate is not None:
                checker().prefetch(candidate)


def speculate(req: Any) -> None:
    """The resolver wants this file's metadata, so pip may use it: start checking its
    provenance now, against the sha256 the index gives. The check of pip's bytes later
    reuses this work only if their sha256 is that one. Best effort."""
    with contextlib.suppress(Exception):
        candidate = _early(req)
        if candidate is not None and candidate.sha256:
            checker().speculate(candidate)
