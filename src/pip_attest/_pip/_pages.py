"""A project's index pages for ``audit``, with what :class:`~pip_attest._pip._index.Index`
leaves out: *why* a page gave no files, and the ``--find-links`` locations.

pip's own page reader (``LinkCollector.fetch_response``) answers ``None`` for a page that
does not exist and for one it could not fetch alike, which is right for an installer (it
tries the next index) and wrong for an audit: a project the index does not list has no
provenance to find (*missing*), while an index that answered 503 may have had it (the
audit fails closed: *unavailable*). So pages are fetched here with pip's own request
(``_get_simple_response``: pip's session, headers and retries) and parsed with pip's own
parser (``parse_links``, which records each file's provenance advert), and the failure is
kept. ``--find-links`` folders are listed, and ``--find-links`` pages read, as pip does.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from pip_attest._errors import PipSeamError
from pip_attest._names import is_archive
from pip_attest._pip._index import Index, IndexFile, listed
from pip_attest._text import one_line


class ProjectPages(NamedTuple):
    """Every file the index pages and ``--find-links`` locations list for a project, and
    the pages that could not be read (``errors``: one line each)."""

    files: list[IndexFile]
    errors: list[str]
    searched: list[str]  # the locations asked, for messages


class Pages(Index):
    """:class:`Index`, plus pages whose failures are reported (see the module's doc)."""

    def __init__(self, pip_args: Sequence[str]) -> None:
        super().__init__(pip_args)
        try:  # pip's internals, the same in every supported release (23.3 to 26.3)
            from pip._internal.exceptions import NetworkConnectionError
            from pip._internal.index import collector
            from pip._internal.utils.urls import path_to_url, url_to_path
        except Exception as err:
            raise PipSeamError(f"cannot import pip's internals: {err}") from err
        for name in ("_get_simple_response", "_make_index_content", "parse_links"):
            if not callable(getattr(collector, name, None)):
                raise PipSeamError(f"pip's index reader has no {name}(): unsupported pip")
        self._collector_module: Any = collector
        self._http_error: Any = NetworkConnectionError
        self._path_to_url = path_to_url
        self._url_to_path = url_to_path

    @property
    def find_links(self) -> list[str]:
        return list(getattr(self._collector, "find_links", []) or [])

    def project(self, project: str, keep: Callable[[str], bool] | None = None) -> ProjectPages:
        """The files listed for ``project``. ``keep`` guesses which file names matter: a JSON
        page's other files are not turned into pip's links (a project with thousands of
        files costs pip's parser a second), unless it keeps none. Local folders list only
        the files it keeps."""
        name = canonicalize_name(project)
        files: list[IndexFile] = []
        errors: list[str] = []
        searched: list[str] = []
        for location in self._collector.search_scope.get_index_urls_locations(name):
            searched.append(location)
            self._read_page(location, files, errors, keep)
        for location in self.find_links:
            searched.append(location)
            self._read_find_links(location, files, errors, keep)
        return ProjectPages(files, errors, searched)

    def _read_page(
        self,
        url: str,
        files: list[IndexFile],
        errors: list[str],
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            # file:// indexes: pip's reader (a missing folder is a project not listed).
            page = self._collector.fetch_response(self._link(url))
            if page is not None:
                files.extend(self._parsed(page, url, keep))
            return
        collector = self._collector_module
        try:
            response = collector._get_simple_response(url, session=self.session)
            page = collector._make_index_content(response, cache_link_parsing=False)
            files.extend(self._parsed(page, url, keep))
        except self._http_error as err:
            status = getattr(getattr(err, "response", None), "status_code", None)
            if status in (404, 410):
                return  # the index does not list the project
            errors.append(f"{url}: {one_line(err)}")
        except Exception as err:  # network, retries exhausted, not an index page, bad JSON
            errors.append(f"{url}: {one_line(err)}")

    def _parsed(
        self, page: Any, page_url: str, keep: Callable[[str], bool] | None
    ) -> list[IndexFile]:
        return [listed(link, page_url) for link in self._links(page, keep)]

    def _links(self, page: Any, keep: Callable[[str], bool] | None) -> Iterable[Any]:
        """pip's links of a page. For a PEP 691 JSON page with ``keep``, the page's JSON is
        read here, as ``parse_links`` reads it, and only the kept files become links; when
        it keeps none, all of them do (``keep`` is a quick guess, never the decision)."""
        content_type = str(getattr(page, "content_type", "")).lower()
        if keep is None or not content_type.startswith("application/vnd.pypi.simple.v1+json"):
            every: Iterable[Any] = self._collector_module.parse_links(page)  # a list: eager
            return every
        data = json.loads(page.content)
        entries = data.get("files", []) if isinstance(data, dict) else []
        links = []
        for entry in entries if isinstance(entries, list) else []:
            filename = entry.get("filename") if isinstance(entry, dict) else None
            if isinstance(filename, str) and keep(filename):
                link = self._link.from_json(entry, page.url)
                if link is not None:
                    links.append(link)
        return links or self._links(page, None)

    def _read_find_links(
        self,
        location: str,
        files: list[IndexFile],
        errors: list[str],
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        """A ``--find-links`` location: a folder of files, one file, or a page of links."""
        path = location
        if location.startswith("file:"):
            path = self._url_to_path(location)
        elif urllib.parse.urlsplit(location).scheme.lower() in ("http", "https"):
            self._read_page(location, files, errors, keep)
            return
        if os.path.isdir(path):
            try:
                names = sorted(os.listdir(path))
            except OSError as err:
                errors.append(f"{location}: {err.strerror or err}")
                return
            for filename in names:
                full = os.path.join(path, filename)
                if keep is not None and not keep(filename):
                    continue
                if is_archive(filename) and os.path.isfile(full):
                    files.append(IndexFile(filename, self._path_to_url(full), "", None, location))
        elif os.path.isfile(path) and is_archive(os.path.basename(path)):
            url = self._path_to_url(path)
            files.append(IndexFile(os.path.basename(path), url, "", None, location))
        elif not os.path.exists(path):
            errors.append(f"{location}: no such file or folder")
