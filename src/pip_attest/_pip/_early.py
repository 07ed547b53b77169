"""Starting checks early, before pip needs their verdicts (optimisations only: the checks
decide), and the provenance adverts of the index pages pip reads."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from pip_attest._candidate import Candidate
from pip_attest._model import Origin
from pip_attest._pip._reqs import Seen, installs_file
from pip_attest._pip._state import STATE, checker
from pip_attest._provenance import Advert


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


def wrap_links(link_cls: Any) -> None:
    from_json = link_cls.from_json.__func__
    from_element = link_cls.from_element.__func__

    @functools.wraps(from_json)
    def wrapped_json(cls: Any, file_data: Any, page_url: str, *a: Any, **kw: Any) -> Any:
        link = from_json(cls, file_data, page_url, *a, **kw)
        if link is not None and isinstance(file_data, dict) and "provenance" in file_data:
            value = file_data["provenance"]
            _remember(link, None if value is None else str(value), page_url)
        return link

    @functools.wraps(from_element)
    def wrapped_element(cls: Any, attribs: Any, page_url: str, *a: Any, **kw: Any) -> Any:
        link = from_element(cls, attribs, page_url, *a, **kw)
        if link is not None and isinstance(attribs, dict) and "data-provenance" in attribs:
            # An attribute with no value is a malformed advert, not "no provenance".
            _remember(link, str(attribs["data-provenance"] or ""), page_url)
        return link

    link_cls.from_json = classmethod(wrapped_json)
    link_cls.from_element = classmethod(wrapped_element)


def _remember(link: Any, provenance: str | None, page_url: str) -> None:
    key = link.url_without_fragment
    advert = Advert(provenance, page_url)
    known = STATE.adverts.get(key)
    if known is not None and known.conflict:
        return  # once two pages disagree, no third page settles it
    if known is not None and known.url != provenance:
        # Two pages disagree about one file: trust neither.
        shown = f"{(known.url or '')[:100]!r} and {(provenance or '')[:100]!r}"
        advert = Advert(None, page_url, conflict=f"provenance advertised as {shown}")
    STATE.adverts[key] = advert
