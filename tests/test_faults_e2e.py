"""Index faults on the provenance request (issue 8): every one ends fail-closed.

A real pip, in a real venv, installs one small attested wheel from the loopback index while
the index misbehaves on the provenance URL (or advertises a bad one). Every case must end
with exit 1, a one-line reason, nothing installed, within its time bound.

Which faults pip's session retries is a fact of pip, not of pip-attest: provenance is
fetched through pip's ``PipSession``, whose urllib3 ``Retry`` (``--retries``, default 5)
retries 500, 502, 503, 520 and 527 and failed connections or reads with a 0.25 s backoff
factor, and honours ``Retry-After`` on 413, 429 and 503. The ``requests`` column of each
case pins that down: how many times the provenance URL was asked for.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tests.conftest import _template
from tests.support.bounded import Outcome, Runner, assert_clean_refusal, run_bounded, selected
from tests.support.index_server import Fault, IndexServer
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_NEWEST, PIP_OLDEST, Venv, layered_venv

pytestmark = pytest.mark.e2e

PROJECT = "faulty-demo"
FILENAME = "faulty_demo-1.0-py3-none-any.whl"
NO_RETRIES = ("--retries", "0")


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _gzip(chunks: Iterator[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    return b"".join(packer.compress(chunk) for chunk in chunks) + packer.flush()


def _zeros(megabytes: int) -> Iterator[bytes]:
    yield b'{"version": 1, "padding": "'
    for _ in range(megabytes):
        yield b"0" * (1 << 20)


def double_gzip_bomb(megabytes: int) -> bytes:
    """A few kilobytes that ``Content-Encoding: gzip, gzip`` turns into ``megabytes`` MiB."""
    return _gzip(iter([_gzip(_zeros(megabytes))]))


@dataclass(frozen=True)
class IndexFault:
    """One way the index misbehaves, and the refusal it must produce.

    ``fault`` applies to the provenance URL (``where="integrity"``: to the Integrity API
    URL, which the page then does not advertise). ``advert`` replaces the advertised
    provenance value; it gets the index (to name its port). ``requests`` is how many times
    the URL must have been asked for; ``seconds`` bounds the whole run (pip's start-up of
    about a second included).
    """

    # The key phrase of the reason; a tuple lists wordings that are all right (a bomb is
    # refused for its size today, for its Content-Encoding once only identity is asked for).
    phrase: str | tuple[str, ...]
    fault: Fault | None = None
    status: str = "unavailable"
    args: tuple[str, ...] = NO_RETRIES
    advert: Callable[[IndexServer], object] | None = None
    formats: tuple[Literal["json", "html"], ...] = ("json", "html")  # see Formats
    where: Literal["provenance", "integrity"] = "provenance"
    requests: int | None = None
    seconds: float = 15.0
    pip: str = PIP_NEWEST


def _advert(value: object) -> Callable[[IndexServer], object]:
    return lambda index: value


Formats = tuple[Literal["json", "html"], ...]
_HTML: Formats = ("html",)
_GAVE_UP = ("cannot fetch provenance", "provenance download took longer than 1s")
# Refused for its size after at most one 64 KiB read, or for being encoded at all.
_BOMB = ("provenance is more than 2162688 bytes, over the", "served with Content-Encoding")


def _origin(where: str) -> tuple[str, ...]:
    """The redirect refusal, with the host shown as it is or quoted."""
    return (f"redirected to another origin ({where})", f"redirected to another origin ({where!r})")


_JSON: Formats = ("json",)
_LOOP = Fault(redirect=f"/provenance/{FILENAME}")
_RETRY_2 = ("--retries", "2")
_TIMEOUT_1 = ("--provenance-timeout", "1")

# fmt: off
FAULTS: dict[str, IndexFault | tuple[IndexFault, pytest.MarkDecorator]] = {
    # -- HTTP errors: 4xx are never retried; 5xx are retried by pip's session ------------
    "http-403": IndexFault("provenance request answered HTTP 403", Fault(status=403),
                           requests=1),
    "http-404": IndexFault("provenance request answered HTTP 404", Fault(status=404),
                           requests=1),
    "http-410": IndexFault("provenance request answered HTTP 410", Fault(status=410),
                           requests=1),
    "http-429": IndexFault("provenance request answered HTTP 429", Fault(status=429),
                           requests=1),
    "http-500": IndexFault("too many 500 error responses", Fault(status=500), requests=1),
    "http-502": IndexFault("too many 502 error responses", Fault(status=502), requests=1),
    "http-503": IndexFault("too many 503 error responses", Fault(status=503), requests=1),
    "http-403-retries-2": IndexFault("answered HTTP 403", Fault(status=403), args=_RETRY_2,
                                     requests=1),
    "http-404-retries-2": IndexFault("answered HTTP 404", Fault(status=404), args=_RETRY_2,
                                     requests=1),
    "http-429-retries-2": IndexFault("answered HTTP 429", Fault(status=429), args=_RETRY_2,
                                     requests=1),
    "http-500-retries-2": IndexFault("too many 500 error responses", Fault(status=500),
                                     args=_RETRY_2, requests=3),
    "http-502-retries-2": IndexFault("too many 502 error responses", Fault(status=502),
                                     args=_RETRY_2, requests=3),
    "http-503-retries-2": IndexFault("too many 503 error responses", Fault(status=503),
                                     args=_RETRY_2, requests=3),
    "http-500-default-retries": IndexFault("too many 500 error responses", Fault(status=500),
                                           args=(), requests=6, seconds=25),
    "http-429-retry-after-1": IndexFault("answered HTTP 429", Fault(status=429, retry_after=1),
                                         args=_RETRY_2, requests=3),
    "http-503-retry-after-1": IndexFault("too many 503 error responses",
                                         Fault(status=503, retry_after=1), args=_RETRY_2,
                                         requests=3),
    "http-503-retry-after-3600": IndexFault("provenance download took longer than 2s",
                                            Fault(status=503, retry_after=3600),
                                            args=("--retries", "1", "--provenance-timeout", "2"),
                                            seconds=5),
    # -- time: a silent server, a slow body ----------------------------------------------
    "response-timeout": IndexFault(_GAVE_UP, Fault(delay=10),
                                   args=(*NO_RETRIES, *_TIMEOUT_1), requests=1, seconds=8),
    # Read timeouts are retried, but --provenance-timeout bounds the whole download.
    "response-timeout-retried": IndexFault(_GAVE_UP, Fault(delay=10),
                                           args=(*_RETRY_2, *_TIMEOUT_1), seconds=12),
    "response-timeouts-past-the-limit": IndexFault("provenance download took longer than 1s",
                                                   Fault(delay=10),
                                                   args=("--retries", "3", *_TIMEOUT_1),
                                                   seconds=4),
    "slow-body": IndexFault("provenance download took longer than 1s",
                            Fault(drip=0.3, drip_chunk=2048), args=(*NO_RETRIES, *_TIMEOUT_1),
                            requests=1, seconds=8),
    "slowloris-body": IndexFault("provenance download took longer than 1s",
                                 Fault(drip=0.5, drip_chunk=256),
                                 args=(*NO_RETRIES, *_TIMEOUT_1), seconds=4),
    # -- the connection ------------------------------------------------------------------
    "reset-mid-body": IndexFault("provenance download broke", Fault(reset=True), requests=1),
    "reset-mid-body-retries-2": IndexFault("provenance download broke", Fault(reset=True),
                                           args=_RETRY_2, requests=1),
    "truncated-body": IndexFault("provenance download broke", Fault(truncate=100), requests=1),
    "truncated-body-pip-23": IndexFault("provenance is not valid JSON", Fault(truncate=100),
                                        status="invalid", requests=1, pip=PIP_OLDEST),
    "hang-up-without-answer": IndexFault("cannot fetch provenance", Fault(hangup=True),
                                         requests=1),
    "hang-up-retried": IndexFault("cannot fetch provenance", Fault(hangup=True), args=_RETRY_2,
                                  requests=3),
    "connection-refused": IndexFault(
        "cannot fetch provenance",
        advert=lambda index: f"http://127.0.0.1:{_closed_port()}/provenance/{FILENAME}"),
    # -- redirects -----------------------------------------------------------------------
    "redirect-loop": IndexFault("more than 5 redirects", _LOOP, requests=6),
    "redirect-loop-retries-2": IndexFault("more than 5 redirects", _LOOP, args=_RETRY_2,
                                          requests=6),
    "redirect-to-another-host": IndexFault(_origin("http://localhost:1"),
                                           Fault(redirect="http://localhost:1/p"), requests=1),
    "redirect-to-https": IndexFault(_origin("https://127.0.0.1"),
                                    Fault(redirect="https://127.0.0.1/p"), requests=1),
    "redirect-to-file": IndexFault(_origin("file://"), Fault(redirect="file:///etc/passwd"),
                                   requests=1),
    "redirect-in-origin-to-404": IndexFault("answered HTTP 404",
                                            Fault(redirect="/nowhere", status=307), requests=1),
    "redirect-with-escape-sequences": IndexFault("redirected to another origin",
                   Fault(redirect="http://evil\x1bc\x07.example/"), requests=1),
    # -- what the body is ----------------------------------------------------------------
    "content-type-html": IndexFault("provenance served as 'text/html', not JSON",
                                    Fault(content_type="text/html"), requests=1),
    "content-type-missing": IndexFault("provenance served as 'no content type', not JSON",
                                       Fault(content_type=""), requests=1),
    "body-50-mib": IndexFault("provenance is 52428800 bytes, over the 2097152-byte limit",
                              Fault(oversize=50 << 20), requests=1),
    "body-50-mib-unannounced": IndexFault("provenance is more than 2162688 bytes, over the",
                                          Fault(oversize=50 << 20, content_length=False),
                                          requests=1),
    "gzip-bomb": IndexFault(
        _BOMB,
        Fault(body=_gzip(_zeros(50)), headers=(("Content-Encoding", "gzip"),)), requests=1),
    "double-gzip-bomb": IndexFault(
        _BOMB,
        Fault(body=double_gzip_bomb(256), headers=(("Content-Encoding", "gzip, gzip"),)),
        requests=1),
    "double-gzip-bomb-pip-23": IndexFault(
            _BOMB,
            Fault(body=double_gzip_bomb(256), headers=(("Content-Encoding", "gzip, gzip"),)),
            requests=1, pip=PIP_OLDEST),
    "empty-body": IndexFault("provenance is not valid JSON", Fault(body=b""), status="invalid",
                             requests=1),
    # -- what the page advertises ----------------------------------------------------------
    "advert-not-a-url": IndexFault("answered HTTP 404", advert=_advert("not a url"),
                                   formats=_HTML),
    "advert-file-url": IndexFault("not http(s): 'file:///etc/passwd'",
                                  advert=_advert("file:///etc/passwd"), formats=_HTML),
    "advert-javascript-url": IndexFault("not http(s): 'javascript:alert(1)'",
                                        advert=_advert("javascript:alert(1)"), formats=_HTML),
    "advert-data-url": IndexFault("not http(s): 'data:application/json,{}'",
                                  advert=_advert("data:application/json,{}"), formats=_HTML),
    "advert-ftp-url": IndexFault("not http(s): 'ftp://127.0.0.1/p'",
                                 advert=_advert("ftp://127.0.0.1/p"), formats=_HTML),
    "advert-empty": IndexFault("answered HTTP 406", advert=_advert(""), formats=_HTML),
    "advert-invalid-url": IndexFault("provenance URL that is not valid", advert=_advert("http://[::1/p"),
                   formats=_HTML),
    "advert-json-number": IndexFault("answered HTTP 404", advert=_advert(123), formats=_JSON),
    "advert-json-object": IndexFault("answered HTTP 404", advert=_advert({"url": "/x"}),
                                     formats=_JSON),
    "advert-json-javascript-url": IndexFault("not http(s): 'javascript:alert(1)'",
                                             advert=_advert("javascript:alert(1)"),
                                             formats=_JSON),
    # -- the Integrity API, asked because the page advertises nothing -----------------------
    "integrity-api-500": IndexFault("cannot fetch provenance: HTTP 500 on every try",
                                    Fault(status=500),
                                    where="integrity", requests=1),
    "integrity-api-html": IndexFault("provenance served as 'text/html', not JSON",
                                     Fault(content_type="text/html"), where="integrity",
                                     requests=1),
    "integrity-api-404-required": IndexFault(
        "the Integrity API has no provenance", Fault(status=404), status="missing",
        where="integrity", args=(*NO_RETRIES, "--require-attestations"), requests=1),
}
# fmt: on


def _params() -> list[object]:
    out: list[object] = []
    for name, spec in FAULTS.items():
        if isinstance(spec, tuple):
            out.append(pytest.param(name, marks=spec[1], id=name))
        else:
            out.append(pytest.param(name, id=name))
    return out


def _spec(name: str) -> IndexFault:
    spec = FAULTS[name]
    return spec[0] if isinstance(spec, tuple) else spec


# -- fixtures: one wheel, its valid provenance, one venv per pip ---------------------------


@dataclass(frozen=True)
class Served:
    wheel: Path
    provenance: bytes
    root: Path


@pytest.fixture(scope="module")
def served(
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Served:
    wheel = make_wheel(tmp_path_factory.mktemp("faulty"), PROJECT, "1.0")
    assert wheel.name == FILENAME
    provenance = sigstore_instance.provenance(wheel, github("octo/faulty-demo"))
    return Served(wheel, json.dumps(provenance).encode(), minted_root)


@pytest.fixture(scope="module")
def venvs(
    templates: dict[str, Path],
    wheelhouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Venv]:
    """One venv per pip release for the module: no fault may install anything into it."""
    made: dict[str, Venv] = {}

    def venv(pip_version: str) -> Venv:
        if pip_version not in made:
            template = _template(pip_version, templates, wheelhouse, tmp_path_factory)
            where = tmp_path_factory.mktemp(f"faults-{pip_version}")
            (where / "home").mkdir()
            made[pip_version] = layered_venv(where / "venv", template, where / "home", pip_version)
        return made[pip_version]

    return venv


def run_fault(name: str, served: Served, venv: Venv) -> Outcome:
    spec = _spec(name)
    with IndexServer(formats=spec.formats) as index:
        advert = spec.advert(index) if spec.advert is not None else None
        index.add_file(
            served.wheel,
            provenance=served.provenance,
            provenance_url=advert,
            advertise_provenance=spec.where == "provenance",
        )
        extra: list[str] = []
        if spec.where == "integrity":
            path = index.integrity_path(FILENAME)
            extra = ["--integrity-api", index.url]
        else:
            path = index.provenance_path(FILENAME)
        if spec.fault is not None:
            index.fault(path, spec.fault)
        args = ["install", "-i", index.simple_url, "--trust-root", str(served.root)]
        # Killed soon after its bound: a case that overstays has failed already.
        outcome = run_bounded(venv, [*args, *extra, *spec.args, PROJECT], spec.seconds + 2)
        asked = index.paths().count(path)
    return Outcome(
        outcome.returncode,
        outcome.stdout,
        outcome.stderr,
        outcome.seconds,
        frozenset(venv.installed()),
        (("requests", asked),),
    )


@pytest.fixture(scope="module")
def fault_runs(
    request: pytest.FixtureRequest, served: Served, venvs: Callable[[str], Venv]
) -> Iterator[Runner]:
    # The slow cases first, so that the quick ones fill the other worker meanwhile.
    names = sorted(
        selected(request, "test_index_fault_fails_closed"), key=lambda n: -_spec(n).seconds
    )
    # Build each venv before the workers start, so two never race to make one.
    for pip_version in sorted({_spec(n).pip for n in names}):
        venvs(pip_version)
    runner = Runner(lambda name: run_fault(name, served, venvs(_spec(name).pip)), names)
    yield runner
    runner.close()


@pytest.mark.parametrize("name", _params())
def test_index_fault_fails_closed(name: str, fault_runs: Runner) -> None:
    spec = _spec(name)
    outcome = fault_runs.get(name)
    phrases = (spec.phrase,) if isinstance(spec.phrase, str) else spec.phrase
    phrase = next((p for p in phrases if p in outcome.output), phrases[0])

    refusal, row = assert_clean_refusal(outcome, phrase, lines=2)

    assert f"{PROJECT} 1.0 ({FILENAME}): {spec.status}: " in refusal, refusal
    assert row.split()[0] == spec.status, row
    assert "pip-attest refused 1 file; nothing was installed." in outcome.stderr
    assert not outcome.installed, outcome.installed
    assert outcome.seconds <= spec.seconds, f"{outcome.seconds:.1f}s > {spec.seconds}s"
    if spec.requests is not None:
        assert outcome.get("requests") == spec.requests, outcome.get("requests")


def test_control_the_same_index_without_a_fault_installs(
    served: Served, make_venv: Callable[..., Venv]
) -> None:
    """The fault cases share this wheel, provenance and trust root: unbroken, they pass."""
    venv = make_venv()
    with IndexServer() as index:
        index.add_file(served.wheel, provenance=served.provenance)
        args = ["install", "-i", index.simple_url, "--trust-root", str(served.root), PROJECT]
        outcome = run_bounded(venv, [*args, *NO_RETRIES], 60)
    assert outcome.returncode == 0, outcome.output
    assert PROJECT in venv.installed()


def test_bombs_are_what_they_claim() -> None:
    """The bodies above really inflate to what their names say (checked without urllib3)."""
    assert len(gzip.decompress(_gzip(_zeros(50)))) > 50 << 20
    bomb = double_gzip_bomb(256)
    assert len(bomb) < 64 << 10
    inner = gzip.decompress(bomb)
    inflater = zlib.decompressobj(31)
    assert len(inflater.decompress(inner, 4 << 20)) == 4 << 20  # and more to come


# -- a local page (--find-links FILE.html) advertising a local file ------------------------


def _links_page(folder: Path, wheel: Path, advert: str) -> Path:
    (folder / wheel.name).write_bytes(wheel.read_bytes())
    page = folder / "links.html"
    page.write_text(
        f'<!DOCTYPE html><html><body><a href="{wheel.name}" data-provenance="{advert}">'
        f"{wheel.name}</a></body></html>\n"
    )
    return page


@pytest.mark.parametrize(
    ("advert", "phrase"),
    [
        pytest.param("/dev/zero", "/dev/zero", id="dev-zero"),
        pytest.param(
            "gone\x1b[2J\x1b[32m.json",
            "is missing",
            id="missing-file-named-with-escapes",
        ),
        pytest.param(
            "provenance.fifo",
            "provenance.fifo: not a regular file",
            id="fifo",
        ),
    ],
)
def test_local_page_advert_fails_closed(
    advert: str,
    phrase: str,
    served: Served,
    venvs: Callable[[str], Venv],
    tmp_path: Path,
) -> None:
    """A local page's advert is read from disk: an endless or blocking file must be refused
    at once (not read until memory runs out, or waited on forever), and a file name is the
    page's text, shown escaped."""
    os.mkfifo(tmp_path / "provenance.fifo")
    page = _links_page(tmp_path, served.wheel, advert)
    args = ["install", "--no-index", "--find-links", str(page), "--trust-root", str(served.root)]

    outcome = run_bounded(venvs(PIP_NEWEST), [*args, PROJECT], 8)

    refusal, _ = assert_clean_refusal(outcome, phrase, lines=2)
    assert f"({FILENAME}): unavailable: " in refusal, refusal
    assert not venvs(PIP_NEWEST).installed()
