"""_provenance: facts it repeats from pip (so that it needs no pip import), and how it uses
pip's session."""

from __future__ import annotations

from typing import cast

from pip_attest._provenance import (
    PYPI_FILE_HOSTS,
    FileRef,
    HttpSession,
    ProvenanceFinder,
    Source,
)
from tests.support.index_server import Fault, IndexServer


def test_pypi_hosts_agree_with_pips_own_models() -> None:
    from pip._internal.models.index import PyPI, TestPyPI

    expected = {
        PyPI.file_storage_domain: PyPI.url.rstrip("/"),
        TestPyPI.file_storage_domain: TestPyPI.url.rstrip("/"),
    }
    assert expected == PYPI_FILE_HOSTS


def test_answers_without_provenance_keep_the_connection() -> None:
    """An Integrity API's 404 is read to its end, so that pip's session reuses the
    connection: against PyPI each dropped one costs a TLS handshake (about 37 ms of CPU,
    measured), for every file that has no attestation."""
    from pip._internal.network.session import PipSession

    with IndexServer() as api:
        session = cast("HttpSession", PipSession())
        finder = ProvenanceFinder(session, integrity_apis=[api.url], timeout=10)
        outcomes = []
        for n in range(5):
            name = f"demo-{n}.0-py3-none-any.whl"
            ref = FileRef(f"{api.url}/files/{name}", name, None, "demo", f"{n}.0")
            source = finder.locate(ref)
            assert isinstance(source, Source)
            outcomes.append(finder.fetch(source).kind)

        assert outcomes == ["none"] * 5
        assert api.connections_of("/integrity/") == 1


def test_a_refusal_whose_body_never_ends_is_not_read_on() -> None:
    """A 404 that states a small Content-Length but comes chunked is read by its chunks,
    whatever the length said: one that never ends must not be read on (a thread reading
    until, and after, the time limit, which turned 'no provenance' into a timeout)."""
    import time

    from pip._internal.network.session import PipSession

    with IndexServer() as api:
        name = "demo-1.0-py3-none-any.whl"
        endless = Fault(
            status=404,
            oversize=1 << 40,
            chunked=True,
            content_length=False,
            headers=(("Content-Length", "10"),),
        )
        api.fault(f"/integrity/demo/1.0/{name}/provenance", endless)
        session = cast("HttpSession", PipSession(retries=0))
        finder = ProvenanceFinder(session, integrity_apis=[api.url], timeout=5)
        source = finder.locate(FileRef(f"{api.url}/files/{name}", name, None, "demo", "1.0"))
        assert isinstance(source, Source)

        started = time.monotonic()
        outcome = finder.fetch(source)

        assert outcome.kind == "none", outcome.reason
        assert time.monotonic() - started < 2
