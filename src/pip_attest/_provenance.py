"""Finding and fetching provenance, the way an installer finds it.

Three sources, in order (PEP 740, "Provenance objects"):

1. the provenance URL the index page advertised for the file (``files[].provenance`` in
   PEP 691 JSON, ``data-provenance`` in PEP 503 HTML), captured while pip parsed the page;
2. the Integrity API (``/integrity/<project>/<version>/<filename>/provenance``) of PyPI or
   TestPyPI for files on their hosts, or of an index the user names with
   ``--integrity-api``, when the page said nothing about provenance;
3. ``FILE.provenance`` next to a local file (``--find-links DIR``, ``file://`` indexes).

This module returns raw bytes; parsing and cryptography happen in ``_verify`` so that a
cached result never pays for them. Every read is bounded in size and in time.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, NamedTuple, Protocol

from pip_attest._fileio import read_regular_file

# A real provenance object is a few kilobytes per attestation. Anything larger than this is
# refused unread (documented in the README).
MAX_PROVENANCE_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
# However long an index says its answer stays fresh, a verified answer is reused without
# asking again for at most a day (PyPI says 10 minutes).
MAX_FRESH_SECONDS = 24 * 60 * 60

# pip's own models name these hosts (pip._internal.models.index.PyPI / TestPyPI); they are
# repeated here so that this module needs no pip import.
PYPI_FILE_HOSTS = {
    "files.pythonhosted.org": "https://pypi.org",
    "test-files.pythonhosted.org": "https://test.pypi.org",
}
INTEGRITY_ACCEPT = "application/vnd.pypi.integrity.v1+json"


class Response(Protocol):
    status_code: int
    headers: Mapping[str, str]

    def iter_content(self, chunk_size: int) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class HttpSession(Protocol):
    def get(self, url: str, **kwargs: Any) -> Response: ...


class Advert(NamedTuple):
    """What the index page said about a file's provenance.

    ``url`` is None when the page explicitly said there is none (JSON ``null``). Pages that
    did not mention provenance at all produce no Advert.
    """

    url: str | None
    page_url: str
    # Set when two pages advertised different provenance for one file: trust neither.
    conflict: str = ""


FetchKind = Literal["found", "none", "error"]


class Fetched(NamedTuple):
    """The outcome of looking for a file's provenance.

    ``kind`` is ``found`` (``body`` holds the bytes), ``none`` (the sources agree there is
    no provenance) or ``error`` (it could not be fetched: fail closed).
    """

    kind: FetchKind
    body: bytes = b""
    url: str | None = None
    reason: str = ""
    # Until when (time.time()) the index lets this answer be reused without asking again,
    # from its Cache-Control header; 0 when it may not be.
    fresh_until: float = 0.0


class FileRef(NamedTuple):
    """A file whose provenance is looked for: where pip got it, what the index page said,
    and the project and version pip installs it as."""

    file_url: str
    filename: str
    advert: Advert | None
    project: str
    version: str


class Source(NamedTuple):
    """Where a file's provenance is read from: an http(s) URL, or a local file's URL."""

    url: str
    local: bool
    missing_ok: bool  # a 404 (or no such file) means "no provenance", not a fault


class ProvenanceFinder:
    def __init__(
        self,
        session: HttpSession | None,
        *,
        integrity_apis: Sequence[str] = (),
        timeout: float = 60.0,
    ) -> None:
        self._session = session
        self._integrity_apis = tuple(u.rstrip("/") for u in integrity_apis)
        self._timeout = timeout

    def locate(self, file: FileRef) -> Source | Fetched:
        """Where a file's provenance would be read from, without reading it; or, when
        there is nowhere to read it from, the outcome itself."""
        file_url, filename, advert = file.file_url, file.filename, file.advert
        scheme = urllib.parse.urlsplit(file_url).scheme.lower()
        if advert is not None and advert.conflict:
            return Fetched("error", reason=f"the index pages disagree: {advert.conflict}")
        if advert is not None and advert.url is not None:
            return self._advertised(advert, local_ok=scheme == "file")
        if scheme == "file":
            return Source(file_url + ".provenance", local=True, missing_ok=True)
        if scheme not in ("http", "https"):
            return Fetched("none", reason=f"{scheme or 'this'} link has no provenance source")
        api = self._integrity_api_for(file_url, stated_none=advert is not None)
        if api is None:
            return Fetched("none", reason="the index serves no provenance for this file")
        # The project and version pip installs the file as: PyPI files each upload under
        # exactly those, so a file that is not what pip takes it for finds nothing.
        url = (
            f"{api}/integrity/{urllib.parse.quote(file.project, safe='')}/"
            f"{urllib.parse.quote(file.version, safe='')}/"
            f"{urllib.parse.quote(filename, safe='')}/provenance"
        )
        return Source(url, local=False, missing_ok=True)

    def fetch(self, source: Source) -> Fetched:
        if source.local:
            return self._local(source.url, missing_ok=source.missing_ok)
        return self._http(source.url, missing_ok=source.missing_ok)

    def _integrity_api_for(self, file_url: str, *, stated_none: bool) -> str | None:
        """Which Integrity API to ask, if any.

        PyPI's own pages are authoritative: when PyPI says a file has no provenance, asking
        its Integrity API again would only repeat the answer. An API the user names is
        asked whenever the page advertised nothing, null included: that is how a mirror
        that strips provenance is checked against the index it mirrors.
        """
        host = (urllib.parse.urlsplit(file_url).hostname or "").lower()
        if self._integrity_apis:
            return self._integrity_apis[0]
        if host in PYPI_FILE_HOSTS and not stated_none:
            return PYPI_FILE_HOSTS[host]
        return None

    def _advertised(self, advert: Advert, *, local_ok: bool) -> Source | Fetched:
        try:
            url = urllib.parse.urljoin(advert.page_url, (advert.url or "").strip())
            scheme = urllib.parse.urlsplit(url).scheme.lower()
        except ValueError:  # "http://[::1/p": urlsplit refuses it
            return Fetched(
                "error",
                url=(advert.url or "")[:200],
                reason=f"the index advertises a provenance URL that is not valid: "
                f"{(advert.url or '')[:80]!r}",
            )
        if scheme == "file" and local_ok:
            return Source(url, local=True, missing_ok=False)
        if scheme not in ("http", "https"):
            return Fetched(
                "error",
                url=(advert.url or "")[:200],
                reason=f"the index advertises a provenance URL that is not http(s): "
                f"{(advert.url or '')[:80]!r}",
            )
        # The index promised provenance: a 404 now is not "unattested", it is a fault.
        return Source(url, local=False, missing_ok=False)

    def _local(self, url: str, *, missing_ok: bool) -> Fetched:
        path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
        try:
            body = read_regular_file(path, MAX_PROVENANCE_BYTES)
        except FileNotFoundError:
            if missing_ok:
                return Fetched("none", reason=f"no {os.path.basename(path)} next to the file")
            return Fetched("error", url=url, reason=f"advertised provenance {path} is missing")
        except OSError as err:
            if err.errno == errno.EFBIG:
                return Fetched("error", url=url, reason=_too_big(os.path.getsize(path)))
            return Fetched("error", url=url, reason=f"cannot read {path}: {err.strerror}")
        return Fetched("found", body=body, url=url)

    def _http(self, url: str, *, missing_ok: bool) -> Fetched:
        """Fetch within the time limit, whatever pip's session does meanwhile.

        The session retries (urllib3: 5xx and failed reads, each with the whole socket
        timeout again, and it sleeps as long as a Retry-After says), and a body read blocks
        until 64 KiB arrive: none of that stops at our limit. So the fetch runs in a daemon
        thread that is abandoned at the deadline; the install is refused then and there.
        """
        session = self._session
        if session is None:
            return Fetched("error", url=url, reason="no HTTP session to fetch provenance with")
        deadline = time.monotonic() + self._timeout
        outcome: list[Fetched] = []

        def fetch() -> None:
            try:
                outcome.append(self._http_unbounded(session, url, missing_ok, deadline))
            except BaseException as err:  # reported, never lost with the thread
                outcome.append(
                    Fetched("error", url=url, reason=f"cannot fetch provenance: {_brief(err)}")
                )

        worker = threading.Thread(target=fetch, name="pip-attest-provenance", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        if outcome:
            return outcome[0]
        return Fetched(
            "error", url=url, reason=f"provenance download took longer than {self._timeout:g}s"
        )

    def _http_unbounded(
        self, session: HttpSession, url: str, missing_ok: bool, deadline: float
    ) -> Fetched:
        origin = urllib.parse.urlsplit(url)
        for hop in range(MAX_REDIRECTS + 1):
            try:
                response = session.get(
                    url,
                    # identity: urllib3 1.26 (pip 23.3) inflates a whole read at once, so a
                    # few kilobytes of "gzip, gzip" become gigabytes before any size check.
                    headers={
                        "Accept": f"{INTEGRITY_ACCEPT}, application/json;q=0.9",
                        "Accept-Encoding": "identity",
                    },
                    stream=True,
                    allow_redirects=False,
                    timeout=min(self._timeout, 30.0),
                )
            except Exception as err:  # requests/urllib3 errors of every kind: fail closed
                return Fetched("error", url=url, reason=f"cannot fetch provenance: {_brief(err)}")
            try:
                if response.status_code in (301, 302, 303, 307, 308):
                    next_url = _redirect(url, origin, response.headers.get("Location", ""))
                    if isinstance(next_url, Fetched):
                        return next_url
                    url = next_url
                    continue
                refused = _refused(response, url, missing_ok)
                if refused is not None:
                    _drain(response)
                    return refused
                fetched = self._read(response, url, deadline)
                if fetched.kind == "found" and hop == 0:
                    # Only an answer to the URL itself: a redirect has its own lifetime.
                    fresh = fresh_until(response.headers, time.time())
                    if fresh:
                        fetched = Fetched("found", fetched.body, fetched.url, fresh_until=fresh)
                return fetched
            finally:
                response.close()
        return Fetched("error", url=url, reason=f"more than {MAX_REDIRECTS} redirects")

    def _read(self, response: Response, url: str, deadline: float) -> Fetched:
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > MAX_PROVENANCE_BYTES:
            return Fetched("error", url=url, reason=_too_big(int(length)))
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > MAX_PROVENANCE_BYTES:
                    return Fetched("error", url=url, reason=_too_big(size, at_least=True))
                if time.monotonic() > deadline:
                    return Fetched(
                        "error",
                        url=url,
                        reason=f"provenance download took longer than {self._timeout:g}s",
                    )
                chunks.append(chunk)
        except Exception as err:
            return Fetched("error", url=url, reason=f"provenance download broke: {_brief(err)}")
        return Fetched("found", body=b"".join(chunks), url=url)


# A refusal's body (PyPI's 404 page, say) is read when it is this small and its length is
# stated, so that the connection goes back to the pool: closing it unread drops it, and the
# next request pays a new TLS handshake.
_DRAIN_BYTES = 64 * 1024


def _drain(response: Response) -> None:
    length = response.headers.get("Content-Length", "")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    # A chunked body is read by its chunks, whatever length is stated: it may never end.
    chunked = "Transfer-Encoding" in response.headers
    if (
        length.isdigit()
        and int(length) <= _DRAIN_BYTES
        and encoding in ("", "identity")
        and not chunked
    ):
        # A read that fails drops the connection, as closing it unread would have; so
        # does stopping at the bound, whatever the body turns out to be.
        with contextlib.suppress(Exception):
            read = 0
            for chunk in response.iter_content(_DRAIN_BYTES):
                read += len(chunk)
                if read > _DRAIN_BYTES:
                    break


def _redirect(url: str, origin: urllib.parse.SplitResult, location: str) -> str | Fetched:
    """Where a redirect leads: a URL on the same origin, or the refusal."""
    try:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
    except ValueError:
        return Fetched("error", url=url, reason=f"bad redirect Location {location[:80]!r}")
    if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
        # repr: the host is the index's text, escape sequences and all.
        where = f"{target.scheme}://{target.netloc}"[:120]
        reason = f"provenance request redirected to another origin ({where!r})"
        return Fetched("error", url=url, reason=reason)
    return target.geturl()


def _refused(response: Response, url: str, missing_ok: bool) -> Fetched | None:
    """The outcome when the answer is not a provenance body to read; None when it is."""
    status = response.status_code
    if status == 404 and missing_ok:
        return Fetched("none", url=url, reason="the Integrity API has no provenance")
    if status != 200:
        return Fetched("error", url=url, reason=f"provenance request answered HTTP {status}")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return Fetched(
            "error",
            url=url,
            reason=f"provenance served with Content-Encoding {encoding[:40]!r} "
            "although none was asked for",
        )
    ctype = response.headers.get("Content-Type", "")
    if "json" not in ctype.lower():
        reason = f"provenance served as {ctype or 'no content type'!r}, not JSON"
        return Fetched("error", url=url, reason=reason)
    return None


def fresh_until(headers: Mapping[str, str], now: float) -> float:
    """Until when a response may be reused without asking the server again (RFC 9111
    §4.2): its ``Date`` plus ``max-age``, less any ``Age``, never more than
    :data:`MAX_FRESH_SECONDS` from now. 0 when it may not be reused (no ``max-age``,
    ``no-store``, ``no-cache``, anything unreadable).

    The ``Date`` counts, not the time of reading: a response pip's own HTTP cache has kept
    for nine of its ten minutes has one minute left.
    """
    directives: dict[str, str] = {}
    for part in headers.get("Cache-Control", "").split(","):
        name, _, value = part.strip().partition("=")
        name = name.strip().lower()
        if name in directives:
            return 0.0  # said twice (a proxy added its own?): RFC 9111 says treat as stale
        directives[name] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    max_age = _seconds(directives.get("max-age"))
    if not max_age:
        return 0.0
    age = _seconds(headers.get("Age")) or 0
    date = now
    if headers.get("Date"):
        import datetime  # email.utils costs milliseconds to import: only for a Date header
        import email.utils

        try:
            parsed = email.utils.parsedate_to_datetime(headers["Date"])
            if parsed.tzinfo is None:  # "-0000": UTC, not this machine's zone
                parsed = parsed.replace(tzinfo=datetime.timezone.utc)
            date = parsed.timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return 0.0
    start = min(date, now)  # a Date in the future (a skewed clock) buys nothing
    until = start + min(max_age, MAX_FRESH_SECONDS) - age
    return until if until > now else 0.0


def _seconds(value: str | None) -> int | None:
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    return min(int(value[:12]), 10**9) if len(value) <= 12 else 10**9


def _too_big(size: int, *, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"provenance is {more}{size} bytes, over the {MAX_PROVENANCE_BYTES}-byte limit"


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    status = re.search(r"too many (\d{3}) error responses", text)
    if status:  # urllib3 gave up retrying: say what the index answered, not the pool's repr
        code = status.group(1)
        return f"HTTP {code} on every try (too many {code} error responses)"
    return f"{type(err).__name__}: {text[:200]}"
