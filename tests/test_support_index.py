"""The test index and package factory do what other tests rely on: real pip agrees.

The e2e tests run a real pip in a real venv against :class:`IndexServer`, twice: with the
venv's own pip (what ``ensurepip`` bundles: an old one) and with this test run's pip
through ``--python`` (a new one). The rest talks HTTP to the server directly.
"""

from __future__ import annotations

import base64
import dataclasses
import email.parser
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.support.index_server import HTML_TYPE, INTEGRITY_TYPE, JSON_TYPE, Fault, IndexServer
from tests.support.packages import make_graph, make_sdist, make_wheel

PROVENANCE = {"version": 1, "attestation_bundles": []}


# -- helpers ---------------------------------------------------------------------------


def isolated_env() -> dict[str, str]:
    """The environment with pip's configuration cut off: no PIP_* and no config files."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    # Also reaches the build-dependency subprocess, which pip starts without the flag
    # (pip 23.x then asks the index for /simple/pip/).
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_CACHE_DIR"] = "1"
    return env


def fetch(
    server: IndexServer, path: str, headers: Mapping[str, str] | None = None, method: str = "GET"
) -> tuple[int, Message, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def fetch_json(server: IndexServer, path: str) -> dict[str, Any]:
    status, headers, body = fetch(server, path, {"Accept": JSON_TYPE})
    assert status == 200
    assert headers["Content-Type"] == JSON_TYPE
    doc = json.loads(body)
    assert isinstance(doc, dict)
    return doc


def json_files(server: IndexServer, project: str) -> dict[str, dict[str, Any]]:
    """The JSON project page's files, by filename."""
    return {f["filename"]: f for f in fetch_json(server, f"/simple/{project}/")["files"]}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))
        elif tag == "meta":
            found = dict(attrs)
            self.meta[found.get("name") or ""] = found.get("content")


def parse_html(body: bytes) -> _Links:
    parser = _Links()
    parser.feed(body.decode())
    parser.close()
    return parser


def site_packages(venv: Path) -> Path:
    (path,) = venv.glob("lib/python*/site-packages")
    return path


def installed(venv: Path) -> set[str]:
    """Names (as in METADATA) of the distributions installed in ``venv``."""
    names = set()
    for info in site_packages(venv).glob("*.dist-info"):
        headers = email.parser.Parser().parsestr((info / "METADATA").read_text())
        names.add(headers["Name"])
    return names


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[IndexServer]:
    with IndexServer() as index:
        yield index
    assert index.errors == []


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real venv for this module (``ensurepip`` takes seconds); tests use own names."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, env=isolated_env())
    return path


@dataclasses.dataclass(frozen=True)
class Pip:
    label: str
    argv: list[str]


@pytest.fixture(params=["venv-pip", "runner-pip"])
def pip(request: pytest.FixtureRequest, venv: Path) -> Pip:
    """A pip for ``venv``: its bundled pip, or this run's own pip through ``--python``."""
    python = str(venv / "bin" / "python")
    if request.param == "venv-pip":
        return Pip(request.param, [python, "-m", "pip"])
    return Pip(request.param, [sys.executable, "-m", "pip", "--python", python])


def run_pip(pip: Pip, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*pip.argv, *args], env=isolated_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# -- the package factory ---------------------------------------------------------------


def test_make_wheel_is_valid_normalised_and_reproducible(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "a", "My.Cool_Pkg", "01.0", requires=["dep>=1; python_version>'3'"]
    )
    assert wheel.name == "my_cool_pkg-1.0-py3-none-any.whl"
    again = make_wheel(
        tmp_path / "b", "My.Cool_Pkg", "01.0", requires=["dep>=1; python_version>'3'"]
    )
    assert again.read_bytes() == wheel.read_bytes()

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert names[0] == "my_cool_pkg.py"
        assert names[-1] == "my_cool_pkg-1.0.dist-info/RECORD"
        metadata = email.parser.Parser().parsestr(
            zf.read("my_cool_pkg-1.0.dist-info/METADATA").decode()
        )
        assert metadata["Name"] == "My.Cool_Pkg"
        assert metadata["Version"] == "1.0"
        assert metadata.get_all("Requires-Dist") == ["dep>=1; python_version>'3'"]
        assert b"Tag: py3-none-any" in zf.read("my_cool_pkg-1.0.dist-info/WHEEL")
        for line in zf.read(names[-1]).decode().splitlines():
            path, digest, size = line.split(",")
            if path == names[-1]:
                assert digest == size == ""
                continue
            data = zf.read(path)
            assert size == str(len(data))
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()


def test_make_wheel_module_source(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "thing", "2", module_source="X = 1\n")
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("thing.py") == b"X = 1\n"


def test_sdist_backend_builds_the_same_wheel_and_logs_hooks(tmp_path: Path) -> None:
    marker = tmp_path / "marker.log"
    sdist = make_sdist(
        tmp_path / "dist",
        "Sd.Pkg",
        "1.0",
        requires=["dep"],
        build_requires=["helper"],
        marker=marker,
    )
    assert sdist.name == "sd_pkg-1.0.tar.gz"
    again = make_sdist(
        tmp_path / "again",
        "Sd.Pkg",
        "1.0",
        requires=["dep"],
        build_requires=["helper"],
        marker=marker,
    )
    assert again.read_bytes() == sdist.read_bytes()
    tree = tmp_path / "src"
    with tarfile.open(sdist) as tf:
        for member in tf.getmembers():
            assert member.isfile()
            assert member.name.startswith("sd_pkg-1.0/")
            extracted = tf.extractfile(member)
            assert extracted is not None
            target = tree / member.name.removeprefix("sd_pkg-1.0/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(extracted.read())
    pyproject = (tree / "pyproject.toml").read_text()
    assert 'requires = ["helper"]' in pyproject
    assert 'backend-path = ["_backend"]' in pyproject
    assert not marker.exists()

    # Drive the hooks the way pip's build subprocess does: cwd is the tree.
    out = tmp_path / "out"
    out.mkdir()
    script = (
        "import sys; sys.path.insert(0, '_backend'); import pip_attest_test_backend as b; "
        f"print(b.prepare_metadata_for_build_wheel({str(out)!r})); "
        f"print(b.build_wheel({str(out)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tree, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["sd_pkg-1.0.dist-info", "sd_pkg-1.0-py3-none-any.whl"]
    expected = make_wheel(tmp_path / "wheel", "Sd.Pkg", "1.0", requires=["dep"])
    assert (out / expected.name).read_bytes() == expected.read_bytes()
    assert marker.read_text().splitlines() == ["prepare_metadata_for_build_wheel", "build_wheel"]


def test_make_sdist_rejects_relative_marker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        make_sdist(tmp_path, "x", "1", marker=Path("marker.log"))


def test_make_graph_is_a_connected_deterministic_dag(tmp_path: Path) -> None:
    root, wheels = make_graph(tmp_path / "a", 13, prefix="node", fanout=3)
    _, again = make_graph(tmp_path / "b", 13, prefix="node", fanout=3)
    assert [w.read_bytes() for w in wheels] == [w.read_bytes() for w in again]
    assert root == "node-0"
    assert wheels[0].name.startswith("node_0-")
    assert len(wheels) == 13

    edges: dict[str, list[str]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            (meta,) = (n for n in zf.namelist() if n.endswith("/METADATA"))
            headers = email.parser.Parser().parsestr(zf.read(meta).decode())
        edges[headers["Name"]] = [Requirement(r).name for r in headers.get_all("Requires-Dist", [])]
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges[name])
    assert seen == set(edges)
    parents = [sum(name in deps for deps in edges.values()) for name in edges]
    assert max(parents) == 2  # shared dependencies: a DAG, not just a tree


# -- real pip against the index -------------------------------------------------------


@pytest.mark.e2e
def test_pip_installs_a_graph_from_the_index(
    tmp_path: Path, server: IndexServer, venv: Path, pip: Pip
) -> None:
    prefix = f"graph-{pip.label}"  # each pip gets its own projects in the shared venv
    root, wheels = make_graph(tmp_path, 5, prefix=prefix)
    for wheel in wheels:
        server.add_file(wheel, provenance=PROVENANCE)
    run_pip(pip, "install", "--index-url", server.simple_url, root)
    assert {f"{prefix}-{i}" for i in range(5)} <= installed(venv)
    fetched = {path for path in server.paths() if path.startswith("/files/")}
    assert fetched == {f"/files/{wheel.name}" for wheel in wheels}


@pytest.mark.e2e
def test_pip_builds_an_sdist_with_a_build_dependency_from_the_index(
    tmp_path: Path, server: IndexServer, venv: Path, pip: Pip
) -> None:
    name = f"built-{pip.label}"
    marker = tmp_path / "marker.log"
    helper = make_wheel(tmp_path, f"{name}-helper", "2.0")
    sdist = make_sdist(tmp_path, name, "1.0", build_requires=[f"{name}-helper>=2"], marker=marker)
    server.add_file(helper)
    server.add_file(sdist)
    run_pip(pip, "install", "--index-url", server.simple_url, name)
    assert name in installed(venv)
    assert f"{name}-helper" not in installed(venv)  # it went into the build env only
    assert f"/files/{helper.name}" in server.paths()
    assert "build_wheel" in marker.read_text().splitlines()
    module = name.replace("-", "_")
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "1.0"


@pytest.mark.e2e
def test_pip_builds_an_sdist_offline_from_find_links(tmp_path: Path, venv: Path) -> None:
    marker = tmp_path / "marker.log"
    make_wheel(tmp_path, "offline-helper", "1.0")
    make_sdist(tmp_path, "offline-built", "1.0", build_requires=["offline-helper"], marker=marker)
    pip = Pip("venv-pip", [str(venv / "bin" / "python"), "-m", "pip"])
    run_pip(pip, "install", "--no-index", "--find-links", str(tmp_path), "offline-built")
    assert "offline-built" in installed(venv)
    assert marker.read_text().splitlines() == [
        "get_requires_for_build_wheel",
        "prepare_metadata_for_build_wheel",
        "build_wheel",
    ]


# -- pages -----------------------------------------------------------------------------


def test_json_project_page_carries_provenance(tmp_path: Path, server: IndexServer) -> None:
    wheel = make_wheel(tmp_path, "Demo", "1.0")
    sdist = make_sdist(tmp_path, "Demo", "1.0")
    newer = make_wheel(tmp_path, "demo", "1.1")
    server.add_file(wheel, provenance=PROVENANCE, requires_python=">=3.8")
    server.add_file(sdist)
    server.add_file(newer, provenance=b"raw", yanked="broken")

    doc = fetch_json(server, "/simple/demo/")
    assert doc["meta"] == {"api-version": "1.3"}
    assert doc["name"] == "demo"
    assert doc["versions"] == ["1.0", "1.1"]
    files = {f["filename"]: f for f in doc["files"]}
    first = files[wheel.name]
    assert first["url"] == f"{server.url}/files/{wheel.name}"
    assert first["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert first["size"] == wheel.stat().st_size
    assert first["requires-python"] == ">=3.8"
    assert first["provenance"] == f"{server.url}/provenance/{wheel.name}"
    assert first["yanked"] is False
    assert files[sdist.name]["provenance"] is None
    assert files[newer.name]["yanked"] == "broken"

    assert fetch_json(server, "/simple/") == {
        "meta": {"api-version": "1.3"},
        "projects": [{"name": "demo"}],
    }


def test_html_project_page_carries_data_provenance(tmp_path: Path, server: IndexServer) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    sdist = make_sdist(tmp_path, "demo", "1.0")
    server.add_file(wheel, provenance=PROVENANCE, requires_python="<4,>=3.8")
    server.add_file(sdist)
    status, headers, body = fetch(server, "/simple/demo/", {"Accept": "text/html"})
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    page = parse_html(body)
    assert page.meta["pypi:repository-version"] == "1.3"
    links = {str(link["href"]): link for link in page.links}
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    link = links[f"{server.url}/files/{wheel.name}#sha256={digest}"]
    assert link["data-provenance"] == f"{server.url}/provenance/{wheel.name}"
    assert link["data-requires-python"] == "<4,>=3.8"
    (sdist_link,) = (v for k, v in links.items() if sdist.name in k)
    assert "data-provenance" not in sdist_link


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, HTML_TYPE),
        ("*/*", HTML_TYPE),
        ("text/html", "text/html"),
        (HTML_TYPE, HTML_TYPE),
        ("application/vnd.pypi.simple.latest+json", JSON_TYPE),
        # What pip sends.
        (f"{JSON_TYPE}, {HTML_TYPE}; q=0.1, text/html; q=0.01", JSON_TYPE),
        (f"{JSON_TYPE}; q=0.1, text/html", "text/html"),
    ],
)
def test_content_negotiation(
    tmp_path: Path, server: IndexServer, accept: str | None, expected: str
) -> None:
    server.add_file(make_wheel(tmp_path, "demo", "1.0"))
    status, headers, _ = fetch(server, "/simple/demo/", {"Accept": accept} if accept else {})
    assert (status, headers["Content-Type"], headers["Vary"]) == (200, expected, "Accept")


def test_head_sends_headers_only(tmp_path: Path, server: IndexServer) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    server.add_file(wheel)
    status, headers, body = fetch(server, f"/files/{wheel.name}", method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, str(wheel.stat().st_size), b"")


def test_formats_limit_what_is_served(tmp_path: Path) -> None:
    with IndexServer(formats=["json"]) as server:
        server.add_file(make_wheel(tmp_path, "demo", "1.0"))
        assert fetch(server, "/simple/demo/", {"Accept": "text/html"})[0] == 406
        status, headers, _ = fetch(server, "/simple/demo/", {"Accept": "*/*"})
        assert (status, headers["Content-Type"]) == (200, JSON_TYPE)
        server.formats = {"html"}
        query = f"/simple/demo/?format={JSON_TYPE}"
        assert fetch(server, query, {"Accept": "text/html"})[0] == 406


def test_unnormalised_project_redirects_and_unknown_is_404(
    tmp_path: Path, server: IndexServer
) -> None:
    server.add_file(make_wheel(tmp_path, "Demo.Pkg", "1.0"))
    status, headers, _ = fetch(server, "/simple/Demo.Pkg")
    assert (status, headers["Location"]) == (301, f"{server.url}/simple/demo-pkg/")
    assert fetch(server, "/simple/nope/")[0] == 404
    assert fetch(server, "/files/nope-1.0.tar.gz")[0] == 404


def test_provenance_and_integrity_paths_serve_the_body(tmp_path: Path, server: IndexServer) -> None:
    wheel = make_wheel(tmp_path, "Demo_Pkg", "1.0")
    server.add_file(wheel, provenance=PROVENANCE)
    body = json.dumps(PROVENANCE).encode()
    integrity = f"/integrity/demo-pkg/1.0/{wheel.name}/provenance"
    assert server.integrity_path(wheel.name) == integrity
    status, headers, got = fetch(server, integrity, {"Accept": INTEGRITY_TYPE})
    assert (status, headers["Content-Type"], got) == (200, INTEGRITY_TYPE, body)
    assert fetch(server, f"/provenance/{wheel.name}")[2] == body
    assert fetch(server, f"/integrity/demo-pkg/2.0/{wheel.name}/provenance")[0] == 404
    assert fetch(server, f"/integrity/Demo_Pkg/1.0/{wheel.name}/provenance")[0] == 404


def test_stripped_and_overridden_provenance_urls(tmp_path: Path, server: IndexServer) -> None:
    stripped = make_wheel(tmp_path, "demo", "1.0")
    odd = make_wheel(tmp_path, "demo", "2.0")
    garbage = 'javascript:alert("x")<\'&>'
    server.add_file(stripped, provenance=PROVENANCE, advertise_provenance=False)
    server.add_file(odd, provenance_url=garbage)

    files = json_files(server, "demo")
    assert files[stripped.name]["provenance"] is None
    assert files[odd.name]["provenance"] == garbage
    links = parse_html(fetch(server, "/simple/demo/", {"Accept": "text/html"})[2]).links
    by_name = {str(link["href"]).split("/")[-1].split("#")[0]: link for link in links}
    assert "data-provenance" not in by_name[stripped.name]
    assert by_name[odd.name]["data-provenance"] == garbage
    # Stripped from the page, still there for whoever asks the path.
    assert fetch(server, f"/provenance/{stripped.name}")[0] == 200


def test_re_adding_a_file_swaps_its_bytes_and_hash(tmp_path: Path, server: IndexServer) -> None:
    first = make_wheel(tmp_path / "a", "demo", "1.0")
    swapped = make_wheel(tmp_path / "b", "demo", "1.0", module_source="EVIL = True\n")
    server.add_file(first)
    server.add_file(swapped)
    (entry,) = json_files(server, "demo").values()
    assert entry["hashes"]["sha256"] == hashlib.sha256(swapped.read_bytes()).hexdigest()
    assert fetch(server, f"/files/{first.name}")[2] == swapped.read_bytes()


def test_core_metadata_is_served_when_asked(tmp_path: Path, server: IndexServer) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0", requires=["dep"])
    server.add_file(wheel, metadata=True)
    (entry,) = json_files(server, "demo").values()
    status, _, metadata = fetch(server, f"/files/{wheel.name}.metadata")
    assert status == 200
    assert b"Requires-Dist: dep" in metadata
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}


def test_request_log_under_parallel_requests(tmp_path: Path, server: IndexServer) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    server.add_file(wheel)
    results: list[int] = []

    def worker() -> None:
        results.append(fetch(server, f"/files/{wheel.name}", {"X-Test": "yes"})[0])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 16
    assert len(server.requests) == 16
    method, path, headers = server.requests[0]
    assert (method, path, headers["X-Test"]) == ("GET", f"/files/{wheel.name}", "yes")
    server.clear_requests()
    assert server.requests == []


# -- faults ----------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, server: IndexServer) -> tuple[IndexServer, str, bytes]:
    """A server with one provenance body: (server, its path, its bytes)."""
    wheel = make_wheel(tmp_path, "demo", "1.0")
    body = json.dumps({"version": 1, "attestation_bundles": [{"padding": "x" * 4000}]}).encode()
    server.add_file(wheel, provenance=body)
    return server, f"/provenance/{wheel.name}", body


@pytest.mark.parametrize("status", [403, 404, 410, 429, 500, 503])
def test_fault_status(served: tuple[IndexServer, str, bytes], status: int) -> None:
    server, path, _ = served
    server.fault(path, Fault(status=status, retry_after=7))
    got, headers, _ = fetch(server, path)
    assert (got, headers["Retry-After"]) == (status, "7")


def test_fault_times_then_normal(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, body = served
    server.fault(path, Fault(status=503, times=2))
    assert [fetch(server, path)[0] for _ in range(3)] == [503, 503, 200]
    assert fetch(server, path)[2] == body
    server.fault(path, Fault(status=500))
    server.clear_faults()
    assert fetch(server, path)[0] == 200


def test_fault_delay(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, body = served
    server.fault(path, Fault(delay=0.3))
    start = time.monotonic()
    assert fetch(server, path)[2] == body
    assert time.monotonic() - start >= 0.3
    # A client that gives up first sees a timeout.
    server.fault(path, Fault(delay=1.0))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.2)
    try:
        conn.request("GET", path)
        with pytest.raises(TimeoutError):
            conn.getresponse()
    finally:
        conn.close()


def test_fault_truncate(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, body = served
    server.fault(path, Fault(truncate=100))
    with pytest.raises(http.client.IncompleteRead) as info:
        fetch(server, path)
    assert info.value.partial == body[:100]
    assert info.value.expected == len(body) - 100


def test_fault_oversize_streams_a_never_ending_json(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, _ = served
    size = 5 * 1024 * 1024 + 3
    server.fault(path, Fault(oversize=size))
    status, headers, got = fetch(server, path)
    assert (status, headers["Content-Length"], len(got)) == (200, str(size), size)
    assert got.startswith(b'{"version": 1, "attestation_bundles": [')
    with pytest.raises(json.JSONDecodeError):
        json.loads(got)


def test_fault_oversize_reader_may_stop_early(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, _ = served
    server.fault(path, Fault(oversize=50 * 1024 * 1024))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        assert len(conn.getresponse().read(1024 * 1024)) == 1024 * 1024
    finally:
        conn.close()  # the server's writer gets EPIPE and moves on quietly


def test_fault_reset(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, _ = served
    server.fault(path, Fault(reset=True))
    with pytest.raises(ConnectionResetError):
        fetch(server, path)


def test_fault_redirect_and_loop(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, body = served
    server.fault("/moved", Fault(redirect=path))
    status, headers, _ = fetch(server, "/moved")
    assert (status, headers["Location"]) == (302, path)
    with urllib.request.urlopen(server.url + "/moved", timeout=10) as response:
        assert response.read() == body

    server.fault("/loop-a", Fault(redirect="/loop-b", status=307))
    server.fault("/loop-b", Fault(redirect="/loop-a"))
    with pytest.raises(urllib.error.HTTPError, match="redirect") as info:
        urllib.request.urlopen(server.url + "/loop-a", timeout=10)
    info.value.close()


def test_fault_body_and_content_type(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, _ = served
    server.fault(path, Fault(body=b"<html>captive portal</html>", content_type="text/html"))
    status, headers, got = fetch(server, path)
    assert (status, headers["Content-Type"], got) == (
        200,
        "text/html",
        b"<html>captive portal</html>",
    )
    server.fault(path, Fault(status=200, content_type="application/x-nonsense"))
    assert fetch(server, path)[1]["Content-Type"] == "application/x-nonsense"


def test_fault_drip(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, _ = served
    server.fault(path, Fault(body=b"0123456789", drip=0.05, drip_chunk=2))
    start = time.monotonic()
    assert fetch(server, path)[2] == b"0123456789"
    assert time.monotonic() - start >= 0.2  # five chunks, four waits


def test_fault_without_content_length(served: tuple[IndexServer, str, bytes]) -> None:
    server, path, body = served
    server.fault(path, Fault(content_length=False))
    status, headers, got = fetch(server, path)
    assert (status, headers["Content-Length"], got) == (200, None, body)


def test_close_is_prompt_with_idle_and_dripping_connections(tmp_path: Path) -> None:
    server = IndexServer()
    server.add_file(make_wheel(tmp_path, "demo", "1.0"), provenance=b"x" * 100)
    server.fault("/provenance/demo-1.0-py3-none-any.whl", Fault(drip=5.0, drip_chunk=1))
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    slow = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        idle.request("GET", "/simple/")
        idle.getresponse().read()  # the connection stays open: keep-alive
        slow.request("GET", "/provenance/demo-1.0-py3-none-any.whl")
        response = slow.getresponse()
        start = time.monotonic()
        server.close()
        assert time.monotonic() - start < 2
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        idle.close()
        slow.close()
    assert server.errors == []
    server.close()  # idempotent
