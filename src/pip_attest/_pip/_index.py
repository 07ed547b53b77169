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
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from pip_attest._errors import PipSeamError, UsageError
from pip_attest._pip import _early
from pip_attest._pip._state import STATE
from pip_attest._provenance import Advert


class IndexFile(NamedTuple):
    """A file an index page lists for a project."""

    filename: str
    url: str  # without its fragment
    sha256: str  # the index's, "" when it gives none
    advert: Advert | None
    page_url: str


class Index:
    """The indexes ``pip_args`` name (``-i``, ``--extra-index-url``, ``--no-index`` and the
    rest of pip's index options), read through pip."""

    def __init__(self, pip_args: Sequence[str]) -> None:
        from pip_attest._pip._seam import check_version

        check_version()
        try:  # pip's internals: only when an index is asked about
            from pip._internal.commands import create_command
            from pip._internal.index.collector import LinkCollector, parse_links
            from pip._internal.models.link import Link
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
        _early.wrap_links(Link)  # adverts are recorded as pages are parsed

    @property
    def index_urls(self) -> list[str]:
        return list(self._collector.search_scope.index_urls)

    def files(self, project: str) -> list[IndexFile]:
        """Every file the indexes list for ``project`` (none when a page cannot be read)."""
        found: list[IndexFile] = []
        name = canonicalize_name(project)
        for location in self._collector.search_scope.get_index_urls_locations(name):
            page = self._collector.fetch_response(self._link(location))
            if page is None:
                continue
            for link in self._parse_links(page):
                url = link.url_without_fragment
                sha256 = link.hash if getattr(link, "hash_name", None) == "sha256" else ""
                advert = STATE.adverts.get(url)
                found.append(IndexFile(link.filename, url, sha256 or "", advert, location))
        return found

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def opened(pip_args: Sequence[str]) -> Iterator[Index]:
    index = Index(pip_args)
    try:
        yield index
    finally:
        index.close()
