"""pip's own view of a package index, for commands that ask about files without installing
them (``verify --lock``, ``lock --from-lock``, ``audit``).

The index options are read the way ``pip download`` reads them (its command line, the
environment, pip.conf), and pages are fetched with pip's session (proxies, certificates,
credentials, retries) and parsed with pip's own parser, in JSON or HTML: every link on a
project's page, whatever platform its wheels are for, with the sha256 the index gives and
the provenance it advertises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from pip_attest._errors import PipSeamError, UsageError
from pip_attest._pip import _adverts
from pip_attest._pip._state import STATE
from pip_attest._pip._version import check_version
from pip_attest._provenance import Advert


class IndexFile(NamedTuple):
    """A file an index page lists for a project."""

    filename: str
    url: str  # without its fragment
    sha256: str  # the index's, "" when it gives none
    advert: Advert | None
    page_url: str


def listed(link: Any, page_url: str) -> IndexFile:
    """What a page's link says of its file; the sha256 in lower case, as pip compares it."""
    url = link.url_without_fragment
    sha256 = link.hash if getattr(link, "hash_name", None) == "sha256" else ""
    return IndexFile(link.filename, url, (sha256 or "").lower(), STATE.adverts.get(url), page_url)


class Index:
    """The indexes ``pip_args`` name (``-i``, ``--extra-index-url``, ``--no-index`` and the
    rest of pip's index options), read through pip."""

    def __init__(self, pip_args: Sequence[str]) -> None:
        check_version()
        try:  # pip's internals: only when an index is asked about
            from pip._internal.commands import create_command
            from pip._internal.index.collector import LinkCollector, parse_links
            from pip._internal.models.link import Link
            from pip._internal.models.search_scope import SearchScope
        except Exception as err:
            raise PipSeamError(f"cannot import pip's internals: {err}") from err
        self._stack = contextlib.ExitStack()
        command: Any = create_command("download")
        try:
            options, rest = command.parse_args(list(pip_args))
        except SystemExit as err:  # optparse's error exit: a bad index option
            raise UsageError(f"pip rejects the index options {list(pip_args)}") from err
        if rest:
            raise UsageError(f"not index options: {' '.join(rest)}")
        self.session = self._stack.enter_context(command._build_session(options))
        self._collector = LinkCollector.create(self.session, options)
        self._parse_links = parse_links
        self._link = Link
        self._scope = SearchScope
        self._pages: dict[str, list[IndexFile] | None] = {}
        _adverts.wrap_links(Link)  # adverts are recorded as pages are parsed

    @property
    def index_urls(self) -> list[str]:
        return list(self._collector.search_scope.index_urls)

    def files(self, project: str, index_url: str | None = None) -> list[IndexFile] | None:
        """Every file the indexes list for ``project``: those of the options, or of
        ``index_url`` alone. None when a page could not be read (pip logs why)."""
        name = canonicalize_name(project)
        scope = self._collector.search_scope
        if index_url is not None:
            scope = self._scope.create(find_links=[], index_urls=[index_url], no_index=False)
        found: list[IndexFile] = []
        for location in scope.get_index_urls_locations(name):
            page = self._page(location)
            if page is None:
                return None
            found.extend(page)
        return found

    def _page(self, location: str) -> list[IndexFile] | None:
        if location not in self._pages:
            page = self._collector.fetch_response(self._link(location))
            if page is None:
                self._pages[location] = None
                return None
            self._pages[location] = [listed(link, location) for link in self._parse_links(page)]
        return self._pages[location]

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch_adverts(session: Any, index_url: str, project: str) -> None:
    """Read ``project``'s page on ``index_url`` with ``session``, so that its provenance
    adverts are known (pip records them as it parses). Best effort: a file whose advert
    stays unknown is looked for elsewhere, or is missing."""
    from pip._internal.index.collector import LinkCollector, parse_links
    from pip._internal.models.link import Link
    from pip._internal.models.search_scope import SearchScope

    scope = SearchScope.create(find_links=[], index_urls=[index_url], no_index=False)
    collector = LinkCollector(session=session, search_scope=scope)
    for location in scope.get_index_urls_locations(canonicalize_name(project)):
        page = collector.fetch_response(Link(location))
        if page is not None:
            for _ in parse_links(page):
                pass
