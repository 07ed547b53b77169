"""A real package index on 127.0.0.1: PEP 503/691 pages, PEP 740 provenance, faults.

``IndexServer`` serves files added with :meth:`IndexServer.add_file`:

- ``/simple/`` and ``/simple/<project>/``: JSON (PEP 691, API 1.3 with PEP 700's
  ``versions`` and ``size`` and PEP 740's ``provenance``) or HTML (PEP 503 with
  ``data-provenance``), chosen from the ``Accept`` header the way PyPI does;
- ``/files/<filename>``: the distribution's bytes;
- ``/files/<filename>.metadata``: its core metadata (PEP 658), for wheels added with
  ``metadata=True``;
- ``/provenance/<filename>`` and PyPI's Integrity API form
  ``/integrity/<project>/<version>/<filename>/provenance``: the provenance body.

:meth:`IndexServer.fault` makes any path misbehave (status codes, slow or cut-off or
oversized bodies, connection resets, redirects), optionally only the first N times.
Every request is logged in :attr:`IndexServer.requests`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import html
import io
import json
import socket
import struct
import sys
import threading
import traceback
import zipfile
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

__all__ = ["Fault", "IndexServer"]

Format = Literal["json", "html"]

API_VERSION = "1.3"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
INTEGRITY_TYPE = "application/vnd.pypi.integrity.v1+json"

# What each media type a client may ask for gets (PEP 691 "Version + Format Selection").
_MEDIA_TYPES: dict[str, tuple[Format, str]] = {
    JSON_TYPE: ("json", JSON_TYPE),
    "application/vnd.pypi.simple.latest+json": ("json", JSON_TYPE),
    HTML_TYPE: ("html", HTML_TYPE),
    "application/vnd.pypi.simple.latest+html": ("html", HTML_TYPE),
    "text/html": ("html", "text/html"),
}

_CHUNK = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """How one path misbehaves. Fields combine; unset fields leave that part normal.

    Order of effects: wait ``delay``; ``hangup``, or pick the status and headers
    (``status``, ``redirect``, ``retry_after``, ``headers``); pick the body (``body``, else
    ``oversize`` bytes, else the normal body; ``content_type`` overrides its type); then
    deliver it (``truncate``, ``reset`` or ``drip``, else normally).
    """

    # Answer with this status instead (403, 404, 410, 429, 500, 503, …).
    status: int | None = None
    # Sent as a Retry-After header, as given (seconds or an HTTP date).
    retry_after: int | str | None = None
    # Seconds to wait before answering anything.
    delay: float = 0.0
    # Announce the full Content-Length, send only this many bytes, then close (FIN).
    truncate: int | None = None
    # Instead of the body, stream this many bytes: an endless JSON string's prefix.
    oversize: int | None = None
    # Send half the body, then reset the connection (RST, via SO_LINGER 0).
    reset: bool = False
    # Answer 302 (or ``status``, if set) with this Location. Loops are allowed.
    redirect: str | None = None
    content_type: str | None = None
    body: bytes | None = None
    # Send one ``drip_chunk``-byte piece every ``drip`` seconds.
    drip: float | None = None
    drip_chunk: int = 1024
    # False: no Content-Length; the body ends when the server closes the connection.
    content_length: bool = True
    # Apply to the first N matching requests only, then serve normally.
    times: int | None = None
    # Extra response headers, e.g. (("Content-Encoding", "gzip"),) for a compressed body.
    headers: tuple[tuple[str, str], ...] = ()
    # Read the request, then close the connection without answering at all.
    hangup: bool = False
    # Send the body with Transfer-Encoding: chunked, each piece framed; a Content-Length in
    # ``headers`` is sent too (a reader then trusts the chunks, not the length).
    chunked: bool = False


@dataclasses.dataclass(slots=True)
class _FaultSlot:
    fault: Fault
    remaining: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class _File:
    filename: str
    project: NormalizedName
    version: Version
    data: bytes
    sha256: str
    provenance: bytes | None
    provenance_url: object
    advertise_provenance: bool
    requires_python: str | None
    yanked: bool | str
    metadata: bytes | None


@dataclasses.dataclass(slots=True)
class _Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _parse_filename(filename: str) -> tuple[NormalizedName, Version]:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename) as err:
        raise ValueError(f"not a distribution file name: {filename}") from err
    return name, version


_ARCHIVES = (
    *(".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz"),
    *(".tar.lz", ".tar.lzma", ".zip", ".whl"),
)


def _pip_style(filename: str, project: str) -> tuple[NormalizedName, Version]:
    """``project`` and the version that follows its name in ``filename``, as pip's index
    reader finds it (a wheel's version is its second dash-separated part)."""
    name = canonicalize_name(project)
    stem = next((filename[: -len(e)] for e in _ARCHIVES if filename.endswith(e)), None)
    if stem is None:
        raise ValueError(f"not an archive pip accepts: {filename}")
    if filename.endswith(".whl"):
        return name, Version(stem.split("-")[1].replace("_", "-"))
    for i, char in enumerate(stem):
        if char == "-" and canonicalize_name(stem[:i]) == name:
            return name, Version(stem[i + 1 :])
    raise ValueError(f"{filename} does not name {project}")


def _wheel_metadata(data: bytes, filename: str) -> bytes:
    """The wheel's ``.dist-info/METADATA``. Real wheels spell that folder as their project
    does (``PySocks-1.7.1.dist-info``): it is found the way pip finds it, by canonical name
    (``pip._internal.utils.wheel.wheel_dist_info_dir``)."""
    name, _, _, _ = parse_wheel_filename(filename)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.namelist():
            folder, _, rest = info.partition("/")
            stem = folder.removesuffix(".dist-info")
            named = canonicalize_name(stem.rpartition("-")[0]) == name
            if rest == "METADATA" and stem != folder and named:
                return zf.read(info)
    raise ValueError(f"{filename} has no {name}-*.dist-info/METADATA")


def _negotiate(accept: str | None, formats: set[Format]) -> tuple[Format, str] | None:
    """The (format, content type) to serve for an Accept header, or None (406).

    Highest q wins; on a tie the client's order wins. No header, or ``*/*`` alone,
    gets HTML, as PyPI does for old clients.
    """
    if not accept:
        accept = "*/*"
    best: tuple[float, int, Format, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media == "*/*":
            choice: tuple[Format, str] | None = (
                ("html", HTML_TYPE) if "html" in formats else ("json", JSON_TYPE)
            )
        else:
            choice = _MEDIA_TYPES.get(media.lower())
        if choice is None or choice[0] not in formats or quality <= 0:
            continue
        if best is None or quality > best[0]:
            best = (quality, position, *choice)
    return None if best is None else (best[2], best[3])


def _junk(size: int) -> Iterator[bytes]:
    """``size`` bytes of a JSON document that never ends, made a chunk at a time."""
    head = b'{"version": 1, "attestation_bundles": [{"padding": "'[:size]
    yield head
    remaining = size - len(head)
    block = b"A" * _CHUNK
    while remaining > 0:
        yield block[: min(remaining, _CHUNK)]
        remaining -= _CHUNK


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads are the ones server_close() joins (on every Python
    # we support); IndexServer.close() unblocks them first, so the join is quick.
    daemon_threads = False
    block_on_close = True
    # socketserver's default backlog is 5: a burst of parallel connects past that waits
    # for a SYN retry (a whole second on Linux).
    request_queue_size = 128
    index: IndexServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return  # a client that resets or drops its connection is not a server bug
        self.index.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pip-attest-test-index/1"
    # A safety net only: close() shuts live connections down itself.
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.index._track(self.connection)

    def finish(self) -> None:
        self.server.index._untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is IndexServer.requests; stderr stays quiet

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        index = self.server.index
        path = unquote(urlsplit(self.path).path)
        index._log(self.command, self.path, dict(self.headers.items()), self.client_address)
        if index.latency and index._closing.wait(index.latency):
            self.close_connection = True
            return
        fault = index._take_fault(path)
        if fault is not None and fault.delay and index._closing.wait(fault.delay):
            self.close_connection = True
            return
        response = index._route(self.path, self.headers.get("Accept"))
        if index.pypi_caching and response.status == 200:
            response = _pypi_caching(response, path, self.headers.get("If-None-Match"))
        if fault is None:
            self._send(response, [response.body], len(response.body), head=head)
            return
        self._send_faulty(response, fault, head=head)

    def _send_faulty(self, response: _Response, fault: Fault, *, head: bool) -> None:
        if fault.hangup:
            self.close_connection = True
            return
        if fault.redirect is not None:
            response = _Response(fault.status or 302, "text/plain", b"redirect\n")
            response.headers["Location"] = fault.redirect
        elif fault.status is not None:
            try:
                reason = HTTPStatus(fault.status).phrase
            except ValueError:
                reason = "Fault"
            response = _Response(fault.status, "text/plain", f"{reason}\n".encode())
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        response.headers.update(fault.headers)
        if fault.content_type is not None:
            response.content_type = fault.content_type
        chunks: Iterable[bytes]
        if fault.body is not None:
            chunks, length = [fault.body], len(fault.body)
        elif fault.oversize is not None:
            chunks, length = _junk(fault.oversize), fault.oversize
        else:
            chunks, length = [response.body], len(response.body)

        if fault.truncate is not None:
            chunks = _limit(chunks, fault.truncate)
            self.close_connection = True
        if fault.reset:
            chunks = _limit(chunks, length // 2)
        if fault.drip is not None:
            chunks = _rechunk(chunks, max(1, fault.drip_chunk))
        self._send(
            response,
            chunks,
            length if fault.content_length else None,
            head=head,
            drip=fault.drip,
            chunked=fault.chunked,
        )
        if fault.reset:
            self._reset()

    def _send(
        self,
        response: _Response,
        chunks: Iterable[bytes],
        length: int | None,
        *,
        head: bool,
        drip: float | None = None,
        chunked: bool = False,
    ) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if head:
            return
        closing = self.server.index._closing
        try:
            for number, chunk in enumerate(chunks):
                if drip is not None and number and closing.wait(drip):
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            # The client gave up (a bounded reader, a timeout) or close() cut the
            # connection: both are normal here.
            self.close_connection = True

    def _reset(self) -> None:
        """Close with an RST: SO_LINGER on with a zero timeout discards unsent data."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket: close it too, so close() is real now,
        # before socketserver's shutdown_request() could send a FIN.
        self.rfile.close()
        self.connection.close()


def _cut(conn: socket.socket) -> None:
    """Wake a handler blocked reading (keep-alive) or writing on ``conn``."""
    with contextlib.suppress(OSError):  # its handler may have closed it already
        conn.shutdown(socket.SHUT_RDWR)


def _limit(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    for chunk in chunks:
        if limit <= 0:
            return
        yield chunk[:limit]
        limit -= len(chunk)


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    for chunk in chunks:
        for start in range(0, len(chunk), size):
            yield chunk[start : start + size]


class IndexServer:
    """A PEP 503/691 index with PEP 740 provenance, on 127.0.0.1 and a free port.

    It starts serving at once, from a daemon thread. Use it as a context manager, or call
    :meth:`close`, which also cuts any open connection so shutdown never hangs.
    """

    def __init__(
        self,
        *,
        formats: Iterable[Format] = ("json", "html"),
        pypi_caching: bool = False,
        latency: float = 0.0,
    ) -> None:
        """``pypi_caching``: send the caching headers PyPI sends (pages and provenance fresh
        for 10 minutes, files for ever, an ETag on pages and a 304 to a matching
        ``If-None-Match``), so that HTTP caches behave as they do against PyPI. Off by
        default: most tests want every request to reach the server.

        ``latency``: seconds every response waits before it starts (a CI runner talking to
        a CDN), on top of any fault's own delay."""
        self.formats: set[Format] = set(formats)
        self.pypi_caching = pypi_caching
        self.latency = latency
        # Hex digests in upper case on the project pages, as some indexes write them.
        self.upper_case_hashes = False
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._faults: dict[str, _FaultSlot] = {}
        self._requests: list[tuple[str, str, dict[str, str]]] = []
        self._peers: list[tuple[str, object]] = []
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        # Tracebacks of unexpected exceptions in handler threads; tests can assert none.
        self.errors: list[str] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.index = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.simple_url = f"{self.url}/simple/"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps close() quick: serve_forever notices shutdown only between polls.
            kwargs={"poll_interval": 0.01},
            name=f"index-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> IndexServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, cut open connections, wait for every handler thread."""
        if self._closing.is_set():
            return
        self._server.shutdown()
        with self._lock:
            self._closing.set()
            connections = list(self._connections)
        for conn in connections:
            _cut(conn)
        self._server.server_close()
        self._thread.join()

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            closing = self._closing.is_set()
        if closing:
            _cut(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    # -- content ----------------------------------------------------------------------

    def add_file(
        self,
        path: Path,
        *,
        provenance: dict[str, Any] | bytes | None = None,
        provenance_url: object = None,
        advertise_provenance: bool = True,
        requires_python: str | None = None,
        yanked: bool | str = False,
        metadata: bool = False,
        project: str | None = None,
        filename: str | None = None,
    ) -> None:
        """Serve ``path`` (read now) under its project. Adding the same name again swaps it.

        ``filename``: serve the bytes under this name instead of the file's own (a renamed
        archive, say ``NAME-1.0.tgz``). ``project``: list the file on this project's page
        instead of the one its name parses to with packaging (for names only pip parses:
        ``.tgz``, ``NAME-1.0-1.tar.gz``, legacy wheel names); its version is then read the
        way pip reads it, from what follows ``PROJECT-`` in the name.

        ``provenance`` is served as given (bytes) or as JSON (a dict). The project page
        advertises ``<url>/provenance/<filename>``, or ``provenance_url`` verbatim (any JSON
        value in the PEP 691 form, as text in ``data-provenance``; None means unset), unless
        ``advertise_provenance`` is False (a mirror that strips it). ``metadata=True``
        serves and advertises the wheel's core metadata (PEP 658/714).
        """
        filename = filename or path.name
        if project is None:
            project, version = _parse_filename(filename)
        else:
            project, version = _pip_style(filename, project)
        data = path.read_bytes()
        if isinstance(provenance, dict):
            provenance = json.dumps(provenance).encode()
        core_metadata = None
        if metadata:
            if not filename.endswith(".whl"):
                raise ValueError(f"metadata=True needs a wheel, got {filename}")
            core_metadata = _wheel_metadata(data, filename)
        entry = _File(
            filename=filename,
            project=project,
            version=version,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            provenance=provenance,
            provenance_url=provenance_url,
            advertise_provenance=advertise_provenance,
            requires_python=requires_python,
            yanked=yanked,
            metadata=core_metadata,
        )
        with self._lock:
            self._files[filename] = entry

    def file_url(self, filename: str) -> str:
        return f"{self.url}/files/{quote(filename)}"

    def provenance_path(self, filename: str) -> str:
        return f"/provenance/{filename}"

    def integrity_path(self, filename: str) -> str:
        """PyPI's Integrity API path for ``filename``'s provenance."""
        project, version = _parse_filename(filename)
        return f"/integrity/{project}/{version}/{filename}/provenance"

    def project_path(self, project: str) -> str:
        return f"/simple/{canonicalize_name(project)}/"

    # -- faults and the request log ------------------------------------------------

    def fault(self, path: str, fault: Fault) -> None:
        """Make requests for ``path`` (exact, without query; percent-decoded) misbehave."""
        with self._lock:
            self._faults[unquote(path)] = _FaultSlot(fault, fault.times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, request target as sent, headers) of every request so far: a copy."""
        with self._lock:
            return list(self._requests)

    def paths(self) -> list[str]:
        """The decoded paths (no query) of every request so far, in order."""
        return [unquote(urlsplit(target).path) for _, target, _ in self.requests]

    def connections_of(self, prefix: str) -> int:
        """How many client connections carried the requests whose path starts with
        ``prefix``: pip's session reuses a connection it got back whole."""
        with self._lock:
            peers = list(self._peers)
        return len({peer for path, peer in peers if path.startswith(prefix)})

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._peers.clear()

    def _log(self, method: str, target: str, headers: dict[str, str], peer: object) -> None:
        with self._lock:
            self._requests.append((method, target, headers))
            self._peers.append((unquote(urlsplit(target).path), peer))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            slot = self._faults.get(path)
            if slot is None:
                return None
            if slot.remaining is not None:
                if slot.remaining <= 0:
                    return None
                slot.remaining -= 1
            return slot.fault

    # -- routing --------------------------------------------------------------------

    def _route(self, target: str, accept: str | None) -> _Response:
        parts = urlsplit(target)
        path = unquote(parts.path)
        # PEP 691 lets clients pick the format by URL too; PyPI reads ?format=.
        requested = parse_qs(parts.query).get("format")
        if requested:
            accept = requested[0]
        segments = path.strip("/").split("/")
        with self._lock:
            files = list(self._files.values())
        if path == "/simple/":
            return self._index_page(files, accept)
        if segments[0] == "simple" and len(segments) == 2:
            project = canonicalize_name(segments[1])
            wanted = f"/simple/{project}/"
            if path != wanted:
                # PyPI redirects a non-normalised name (and a missing slash) to the canonical URL.
                response = _Response(301, "text/plain", b"")
                response.headers["Location"] = self.url + wanted
                return response
            return self._project_page(project, files, accept)
        by_name = {f.filename: f for f in files}
        if segments[0] == "files" and len(segments) == 2:
            filename = segments[1]
            if filename.endswith(".metadata"):
                meta = by_name.get(filename.removesuffix(".metadata"))
                if meta is not None and meta.metadata is not None:
                    return _Response(200, "application/octet-stream", meta.metadata)
            elif filename in by_name:
                return _Response(200, "application/octet-stream", by_name[filename].data)
        if segments[0] == "provenance" and len(segments) == 2:
            entry = by_name.get(segments[1])
            if entry is not None and entry.provenance is not None:
                return _Response(200, "application/json", entry.provenance)
        if segments[0] == "integrity" and len(segments) == 5 and segments[4] == "provenance":
            entry = by_name.get(segments[3])
            if (
                entry is not None
                and entry.provenance is not None
                and segments[1] == entry.project
                and segments[2] == str(entry.version)
            ):
                return _Response(200, INTEGRITY_TYPE, entry.provenance)
        return _Response(404, "text/plain", b"Not Found\n")

    def _negotiated(self, accept: str | None) -> tuple[Format, str] | _Response:
        choice = _negotiate(accept, self.formats)
        if choice is None:
            return _Response(406, "text/plain", b"Not Acceptable\n")
        return choice

    def _index_page(self, files: list[_File], accept: str | None) -> _Response:
        choice = self._negotiated(accept)
        if isinstance(choice, _Response):
            return choice
        kind, content_type = choice
        projects = sorted({f.project for f in files})
        if kind == "json":
            doc = {
                "meta": {"api-version": API_VERSION},
                "projects": [{"name": p} for p in projects],
            }
            return _vary(_Response(200, content_type, json.dumps(doc).encode()))
        links = "".join(f'<a href="/simple/{p}/">{p}</a><br>\n' for p in projects)
        return _vary(_Response(200, content_type, _html("Simple index", links)))

    def _advertised(self, entry: _File) -> object:
        """The ``provenance`` value of the JSON form: a URL, None, or a test's odd value."""
        if not entry.advertise_provenance:
            return None
        if entry.provenance_url is not None:
            return entry.provenance_url
        if entry.provenance is None:
            return None
        return f"{self.url}/provenance/{quote(entry.filename)}"

    def _project_page(
        self, project: NormalizedName, files: list[_File], accept: str | None
    ) -> _Response:
        mine = sorted((f for f in files if f.project == project), key=lambda f: f.filename)
        if not mine:
            return _Response(404, "text/plain", b"Not Found\n")
        choice = self._negotiated(accept)
        if isinstance(choice, _Response):
            return choice
        kind, content_type = choice
        if kind == "json":
            doc = {
                "meta": {"api-version": API_VERSION},
                "name": project,
                "versions": [str(v) for v in sorted({f.version for f in mine})],
                "files": [self._json_file(f) for f in mine],
            }
            return _vary(_Response(200, content_type, json.dumps(doc).encode()))
        links = "".join(self._html_link(f) for f in mine)
        return _vary(_Response(200, content_type, _html(f"Links for {project}", links)))

    def _json_file(self, entry: _File) -> dict[str, Any]:
        item: dict[str, Any] = {
            "filename": entry.filename,
            "url": self.file_url(entry.filename),
            "hashes": {"sha256": self._listed_sha256(entry)},
            "size": len(entry.data),
            "yanked": entry.yanked,
            "provenance": self._advertised(entry),
        }
        if entry.requires_python is not None:
            item["requires-python"] = entry.requires_python
        if entry.metadata is not None:
            digest = {"sha256": hashlib.sha256(entry.metadata).hexdigest()}
            # PEP 714's name, and PEP 658's old one for clients that predate it.
            item["core-metadata"] = item["dist-info-metadata"] = digest
        return item

    def _listed_sha256(self, entry: _File) -> str:
        return entry.sha256.upper() if self.upper_case_hashes else entry.sha256

    def _html_link(self, entry: _File) -> str:
        attrs = {"href": f"{self.file_url(entry.filename)}#sha256={self._listed_sha256(entry)}"}
        if entry.requires_python is not None:
            attrs["data-requires-python"] = entry.requires_python
        if entry.yanked is not False:
            attrs["data-yanked"] = "" if entry.yanked is True else str(entry.yanked)
        advertised = self._advertised(entry)
        if advertised is not None:
            attrs["data-provenance"] = str(advertised)
        if entry.metadata is not None:
            digest = f"sha256={hashlib.sha256(entry.metadata).hexdigest()}"
            attrs["data-core-metadata"] = attrs["data-dist-info-metadata"] = digest
        rendered = " ".join(f'{key}="{html.escape(value)}"' for key, value in attrs.items())
        return f"<a {rendered}>{html.escape(entry.filename)}</a><br>\n"


def _html(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}</body>\n</html>\n"
    ).encode()


# What PyPI (warehouse) sends: simple pages and the Integrity API are cached for 10 minutes
# (``cache_control(10 * 60)``), files on files.pythonhosted.org for about 11 years.
_PAGE_CACHE = "max-age=600, public"
_FILE_CACHE = "max-age=365000000, immutable, public"


def _pypi_caching(response: _Response, path: str, if_none_match: str | None) -> _Response:
    if path.startswith("/files/"):
        response.headers["Cache-Control"] = _FILE_CACHE
        return response
    response.headers["Cache-Control"] = _PAGE_CACHE
    if path.startswith("/simple/"):
        etag = f'"{hashlib.sha256(response.body).hexdigest()[:32]}"'
        response.headers["ETag"] = etag
        if if_none_match == etag:
            return _Response(304, response.content_type, b"", response.headers)
    return response


def _vary(response: _Response) -> _Response:
    response.headers["Vary"] = "Accept"
    return response
