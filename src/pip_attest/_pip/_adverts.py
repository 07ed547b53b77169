"""The provenance each file's index page advertises: pip drops the PEP 740 ``provenance``
key (JSON) and ``data-provenance`` attribute (HTML) when it makes a ``Link``, so
``Link.from_json`` and ``Link.from_element`` are wrapped to keep a URL → advert table."""

from __future__ import annotations

import functools
from typing import Any

from pip_attest._pip._state import STATE
from pip_attest._provenance import Advert

_MARK = "__pip_attest_wrapped__"


def wrap_links(link_cls: Any) -> None:
    """Keep each file's provenance advert while pip parses index pages. Idempotent."""
    if getattr(link_cls.from_json.__func__, _MARK, False):
        return
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

    setattr(wrapped_json, _MARK, True)
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
