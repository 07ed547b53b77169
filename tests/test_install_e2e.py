"""``pip-attest install`` end to end: a real pip, in a real venv, from a real index on
127.0.0.1, verifying real production-signed attestations (the abi3info fixtures)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.index_server import Fault, IndexServer
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_VERSIONS, Venv

pytestmark = pytest.mark.e2e

MakeVenv = Callable[..., Venv]
WHEEL = "abi3info-2024.10.8-py3-none-any.whl"
SDIST = "abi3info-2024.10.8.tar.gz"
IDENTITY = "github:woodruffw/abi3info/release.yml"


def shows(summary: str, filename: str, identity: str) -> bool:
    """The end-of-run summary lists ``filename`` as verified, signed by ``identity``."""
    pattern = rf"verified\s+\S+ \S+\s+{re.escape(filename)}\s+{re.escape(identity)}$"
    return re.search(pattern, summary, re.M) is not None


def _tamper_wheel(data: bytes) -> bytes:
    """The same wheel with one module's code changed: still a valid wheel, other bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("__init__.py"):
                body += b"\nimport os  # injected\n"
            dst.writestr(info, body)
    return out.getvalue()


def serve_real(index: IndexServer, real: Path, *names: str, **kwargs: object) -> None:
    for name in names:
        prov = (real / f"{name}.provenance").read_bytes()
        index.add_file(real / name, provenance=prov, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_installs_real_wheel_with_its_identity(
    make_venv: MakeVenv, index: IndexServer, real: Path, pip_version: str
) -> None:
    serve_real(index, real, WHEEL, SDIST)
    venv = make_venv(pip_version)

    result = venv.pip_attest("install", "--index-url", index.simple_url, "abi3info==2024.10.8")

    assert result.returncode == 0, result.output
    assert "abi3info" in venv.installed()
    assert "1 verified" in result.stderr
    assert shows(result.stderr, WHEEL, IDENTITY)
    # The provenance URL advertised on the index page was the one fetched.
    assert f"/provenance/{WHEEL}" in index.paths()


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_installs_real_sdist_verified_before_build(
    make_venv: MakeVenv, index: IndexServer, real: Path, wheelhouse: Path, pip_version: str
) -> None:
    serve_real(index, real, WHEEL, SDIST)
    # abi3info's sdist builds with flit_core: serve it (unattested) so the build can run.
    index.add_file(_flit_core_wheel(wheelhouse))
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "--index-url", index.simple_url, "--no-binary", "abi3info", "abi3info==2024.10.8"
    )

    assert result.returncode == 0, result.output
    assert "abi3info" in venv.installed()
    assert shows(result.stderr, SDIST, IDENTITY)
    # The build dependency was checked too, by the subprocess pip that installed it.
    assert re.search(r"missing\s+flit-core \S+\s+flit_core-\S+ \[build-dependency\]", result.stderr)


def test_html_index_with_data_provenance(make_venv: MakeVenv, real: Path) -> None:
    with IndexServer(formats=("html",)) as html_index:
        serve_real(html_index, real, WHEEL)
        venv = make_venv()
        result = venv.pip_attest("install", "-i", html_index.simple_url, "abi3info")
    assert result.returncode == 0, result.output
    assert shows(result.stderr, WHEEL, IDENTITY)
    assert "abi3info" in venv.installed()


def test_integrity_api_when_the_page_does_not_advertise(
    make_venv: MakeVenv, index: IndexServer, real: Path
) -> None:
    serve_real(index, real, WHEEL, advertise_provenance=False)
    venv = make_venv()

    result = venv.pip_attest(
        "install", "-i", index.simple_url, "--integrity-api", index.url, "abi3info"
    )

    assert result.returncode == 0, result.output
    assert shows(result.stderr, WHEEL, IDENTITY)
    assert index.integrity_path(WHEEL) in index.paths()


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_tampered_wheel_is_refused_and_nothing_installed(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path, pip_version: str
) -> None:
    tampered = tmp_path / WHEEL
    tampered.write_bytes(_tamper_wheel((real / WHEEL).read_bytes()))
    # The index lists the tampered file's own sha256, so pip's hash check passes.
    index.add_file(tampered, provenance=(real / f"{WHEEL}.provenance").read_bytes())
    venv = make_venv(pip_version)

    result = venv.pip_attest("install", "-i", index.simple_url, "abi3info")

    assert result.returncode == 1, result.output
    assert "digest mismatch" in result.stderr
    assert f"abi3info 2024.10.8 ({WHEEL}): invalid" in result.stderr
    assert "Traceback" not in result.output
    assert "abi3info" not in venv.installed()


def test_dry_run_reports_every_file_it_would_install(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path
) -> None:
    """--dry-run stops before pip's gate; the files checked in the background still count."""
    tampered = tmp_path / WHEEL
    tampered.write_bytes(_tamper_wheel((real / WHEEL).read_bytes()))
    index.add_file(tampered, provenance=(real / f"{WHEEL}.provenance").read_bytes())
    venv = make_venv()

    result = venv.pip_attest("install", "--dry-run", "-i", index.simple_url, "abi3info")

    assert result.returncode == 1, result.output
    assert f"invalid  abi3info 2024.10.8  {WHEEL}" in result.stderr
    assert "abi3info" not in venv.installed()


def test_provenance_answering_500_fails_closed(
    make_venv: MakeVenv, index: IndexServer, real: Path
) -> None:
    serve_real(index, real, WHEEL)
    index.fault(index.provenance_path(WHEEL), Fault(status=500))
    venv = make_venv()

    result = venv.pip_attest("install", "-i", index.simple_url, "--retries", "0", "abi3info")

    assert result.returncode == 1, result.output
    assert f"({WHEEL}): unavailable" in result.stderr and "500" in result.stderr
    assert "abi3info" not in venv.installed()


def test_unattested_package_warns_and_installs_unless_required(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path
) -> None:
    index.add_file(make_wheel(tmp_path, "plainpkg", "1.0"))
    venv = make_venv()

    warned = venv.pip_attest("install", "-i", index.simple_url, "plainpkg")
    assert warned.returncode == 0, warned.output
    assert "missing" in warned.stderr and "warning: 1 file had no attestation" in warned.stderr
    assert "plainpkg" in venv.installed()

    strict = make_venv()
    refused = strict.pip_attest(
        "install", "-i", index.simple_url, "--require-attestations", "plainpkg"
    )
    assert refused.returncode == 1, refused.output
    assert "plainpkg 1.0 (plainpkg-1.0-py3-none-any.whl): missing" in refused.stderr
    assert "--allow-unattested plainpkg" in refused.stderr
    assert "plainpkg" not in strict.installed()


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_two_packages_second_fails_neither_installed(
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    sigstore_instance: ThrowawaySigstore,
    pip_version: str,
) -> None:
    serve_real(index, real, WHEEL)
    bad = make_wheel(tmp_path, "secondpkg", "1.0")
    # Attested by a valid signature over *another* file's digest.
    index.add_file(
        bad,
        provenance=sigstore_instance.provenance_for(bad.name, "0" * 64, github("o/secondpkg")),
    )
    venv = make_venv(pip_version)

    result = venv.pip_attest("install", "-i", index.simple_url, "abi3info", "secondpkg")

    assert result.returncode == 1, result.output
    assert "secondpkg 1.0 (secondpkg-1.0-py3-none-any.whl): invalid" in result.stderr
    assert venv.installed().isdisjoint({"abi3info", "secondpkg"})


def test_json_report(make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path) -> None:
    serve_real(index, real, WHEEL)
    venv = make_venv()

    result = venv.pip_attest("install", "-i", index.simple_url, "--format", "json", "abi3info")

    assert result.returncode == 0, result.output
    report = json.loads(result.stdout)  # pip's own output went to stderr
    assert report["outcome"] == "ok" and report["exit_code"] == 0
    assert report["summary"] == {"verified": 1}
    (entry,) = report["files"]
    assert entry["filename"] == WHEEL
    assert entry["identities"] == [IDENTITY]
    assert entry["publishers"] == [
        {"kind": "GitHub", "repository": "woodruffw/abi3info", "workflow": "release.yml"}
    ]

    out = tmp_path / "report.json"
    again = make_venv().pip_attest(
        "install", "-i", index.simple_url, "--format", "json", "--output", str(out), "abi3info"
    )
    assert again.returncode == 0, again.output
    assert json.loads(out.read_text())["files"][0]["status"] == "verified"


def _flit_core_wheel(wheelhouse: Path) -> Path:
    """flit_core, which abi3info's sdist needs to build (the wheelhouse carries it)."""
    return sorted(wheelhouse.glob("flit_core-*.whl"))[-1]


def test_find_links_directory_uses_provenance_next_to_the_file(
    make_venv: MakeVenv, real: Path, tmp_path: Path
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    for name in (WHEEL, f"{WHEEL}.provenance"):
        (links / name).write_bytes((real / name).read_bytes())
    venv = make_venv()

    result = venv.pip_attest("install", "--no-index", "--find-links", str(links), "abi3info")

    assert result.returncode == 0, result.output
    assert shows(result.stderr, WHEEL, IDENTITY)
    assert "abi3info" in venv.installed()

    # The same directory with the provenance of another release next to the wheel: refused.
    (links / f"{WHEEL}.provenance").write_bytes(
        (real / "abi3info-2024.10.3-py3-none-any.whl.provenance").read_bytes()
    )
    fresh = make_venv()
    refused = fresh.pip_attest("install", "--no-index", "--find-links", str(links), "abi3info")
    assert refused.returncode == 1, refused.output
    assert "attestation is for another file" in refused.stderr
    assert "abi3info" not in fresh.installed()


def test_two_pages_disagreeing_about_a_files_provenance_refuse_it(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path
) -> None:
    """The index advertises one provenance URL for the wheel, a find-links page another,
    for the same file URL. Neither is believed: not the index's (valid) one, and never a
    URL made up from the disagreement itself."""
    serve_real(index, real, WHEEL)
    page = tmp_path / "links.html"
    sha256 = hashlib.sha256((real / WHEEL).read_bytes()).hexdigest()
    other = f"{index.url}/provenance/elsewhere.json"
    page.write_text(
        f'<html><body><a href="{index.file_url(WHEEL)}#sha256={sha256}" '
        f'data-provenance="{other}">{WHEEL}</a></body></html>'
    )
    venv = make_venv()

    result = venv.pip_attest(
        "install", "--index-url", index.simple_url, "--find-links", str(page), "abi3info"
    )

    assert result.returncode == 1, result.output
    assert "the index pages disagree" in result.stderr
    assert "abi3info" not in venv.installed()
    assert [p for p in index.paths() if p.startswith("/provenance/")] == []


def test_the_report_and_pips_log_are_whole_when_pip_attest_exits(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path
) -> None:
    """pip-attest ends without the interpreter's teardown (pip_attest.__main__): all that
    pip and pip-attest wrote must still be there, and the exit code be pip-attest's."""
    serve_real(index, real, WHEEL, SDIST)
    venv = make_venv()
    log = tmp_path / "pip.log"

    result = venv.pip_attest(
        "install",
        "--format",
        "json",
        "--log",
        str(log),
        "--index-url",
        index.simple_url,
        "abi3info==2024.10.8",
    )

    assert result.returncode == 0, result.output
    assert [(f["filename"], f["status"]) for f in json.loads(result.stdout)["files"]] == [
        (WHEEL, "verified")
    ]
    assert "Successfully installed abi3info-2024.10.8" in log.read_text()
    assert "abi3info" in venv.installed()
