"""The bypasses of issue 16, end to end: each one tried with a real pip, in a real venv,
against the loopback index, after the fix.

Every test asserts the exit code, the one line the user sees, that nothing was installed,
and, where an sdist is involved, that none of its build code ran (the make_sdist marker).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.version import Version

from tests.support.index_server import IndexServer
from tests.support.packages import make_sdist, make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_OLDEST, PIP_VERSIONS, Result, Venv

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]

PROJECT = "abi3info"
IDENTITY = "github:woodruffw/abi3info/release.yml"
PIN = f"{PROJECT}={IDENTITY}"
REAL_WHEEL = "abi3info-2024.10.8-py3-none-any.whl"
ENFORCE = {"PIP_ATTEST_ENFORCE": "1"}


# -- helpers -------------------------------------------------------------------------------


def serve_real(
    index: IndexServer, real: Path, name: str = REAL_WHEEL, *, metadata: bool = False
) -> None:
    provenance = (real / f"{name}.provenance").read_bytes()
    index.add_file(real / name, provenance=provenance, metadata=metadata)


def refusal(result: Result) -> str:
    """The one line pip-attest gives for the refused file (exactly one)."""
    lines = [line.strip() for line in result.stderr.splitlines() if "): " in line]
    lines = [line for line in lines if line.split(" ", 1)[0] in (PROJECT, "flit-core", "evil")]
    assert len(lines) >= 1, result.output
    return lines[0]


class BuildRan(AssertionError):
    """Build code of an sdist ran although it was not verified."""


def never_built(marker: Path) -> None:
    ran = marker.read_text() if marker.exists() else ""
    if ran:
        raise BuildRan(f"build code of an unverified sdist ran: {ran.split()}")


# The renamed spellings of issue 16 §1: (name served, version pip installs it as, kind).
# The kinds: "gz", "tar", "bz2", "xz" are sdists repacked that way; "wheel" a wheel.
SPELLINGS = {
    "tgz": ("abi3info-2024.10.9.tgz", "2024.10.9", "gz"),
    "tar": ("abi3info-2024.10.9.tar", "2024.10.9", "tar"),
    "tar.bz2": ("abi3info-2024.10.9.tar.bz2", "2024.10.9", "bz2"),
    "tar.xz": ("abi3info-2024.10.9.tar.xz", "2024.10.9", "xz"),
    "post-dash": ("abi3info-2024.10.9-1.tar.gz", "2024.10.9.post1", "gz"),
    "legacy-wheel": ("abi3info-2024.10.9_1-py3-none-any.whl", "2024.10.9.post1", "wheel"),
}
# Legacy wheel names exist for pip before 25.3 only (pip 25.3+ never takes the file).
SPELLING_CASES = [
    pytest.param(pip, spelling, id=f"{pip}-{spelling}")
    for pip in PIP_VERSIONS
    for spelling in SPELLINGS
    if spelling != "legacy-wheel" or pip == PIP_OLDEST
]


def unattested_abi3info(tmp_path: Path, spelling: str, marker: Path) -> tuple[Path, str, str]:
    """An unattested abi3info file in the given spelling, built so that pip could really
    install it (its metadata names the version pip reads from the name): (path, name
    served, version)."""
    served, version, kind = SPELLINGS[spelling]
    where = tmp_path / f"evil-{spelling}"
    if kind == "wheel":
        return make_wheel(where, PROJECT, version, module_source="EVIL = True\n"), served, version
    sdist = make_sdist(where, PROJECT, version, marker=marker)
    raw = gzip.decompress(sdist.read_bytes())
    packed = {
        "gz": sdist.read_bytes(),
        "tar": raw,
        "bz2": bz2.compress(raw),
        "xz": lzma.compress(raw, format=lzma.FORMAT_XZ),
    }[kind]
    out = where / served
    out.write_bytes(packed)
    return out, served, version


def pin_or_record(
    source: str, make_venv: MakeVenv, index: IndexServer, pip_version: str
) -> tuple[Venv, tuple[str, ...]]:
    """A venv in which abi3info is expected to be attested, by a pin (the returned flags) or
    by a first-seen record left by a verified install of the real 2024.10.8 wheel."""
    if source == "pin":
        return make_venv(pip_version), ("--publisher", PIN)
    first = make_venv(pip_version)
    done = first.pip_attest("install", "-i", index.simple_url, f"{PROJECT}==2024.10.8")
    assert done.returncode == 0, done.output
    listed = first.pip_attest("trust", "list", "--format", "json")
    assert IDENTITY in listed.stdout, listed.output
    return make_venv(pip_version, home=first.home), ()


# -- 1. renamed archives -------------------------------------------------------------------


@pytest.mark.parametrize("source", ["pin", "first-seen"])
@pytest.mark.parametrize(("pip_version", "spelling"), SPELLING_CASES)
def test_renamed_unattested_archive_is_a_downgrade(
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    spelling: str,
    source: str,
) -> None:
    serve_real(index, real)
    marker = tmp_path / "build-ran"
    path, served, version = unattested_abi3info(tmp_path, spelling, marker)
    index.add_file(path, filename=served, project=PROJECT)
    venv, flags = pin_or_record(source, make_venv, index, pip_version)

    result = venv.pip_attest("install", "-i", index.simple_url, *flags, f"{PROJECT}=={version}")

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(f"{PROJECT} {version} ({served}): downgrade: "), line
    assert f"signed by {IDENTITY}" in line
    assert "nothing was installed" in result.stderr
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_direct_url_to_a_file_named_after_another_project_is_invalid(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path, pip_version: str
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path / "evil", PROJECT, "2024.10.9", marker=marker)
    index.add_file(sdist, filename="evil-1.0.tar.gz")
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "--publisher", PIN, f"{PROJECT} @ {index.file_url('evil-1.0.tar.gz')}"
    )

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(f"{PROJECT} (evil-1.0.tar.gz): invalid: "), line
    assert "'evil-1.0.tar.gz' does not name project abi3info" in line
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize(("pip_version", "spelling"), SPELLING_CASES)
def test_renamed_archive_under_the_enforcement_hook(
    installed_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    spelling: str,
) -> None:
    serve_real(index, real)
    marker = tmp_path / "build-ran"
    path, served, version = unattested_abi3info(tmp_path, spelling, marker)
    index.add_file(path, filename=served, project=PROJECT)
    venv = installed_venv(pip_version)
    env = {**ENFORCE, "PIP_ATTEST_PUBLISHER": PIN}

    result = venv.pip("install", "-i", index.simple_url, f"{PROJECT}=={version}", env=env)

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(f"{PROJECT} {version} ({served}): downgrade: "), line
    assert "nothing was installed" in result.stderr
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_direct_url_named_after_another_project_under_the_enforcement_hook(
    installed_venv: MakeVenv, index: IndexServer, tmp_path: Path, pip_version: str
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path / "evil", PROJECT, "2024.10.9", marker=marker)
    index.add_file(sdist, filename="evil-1.0.tar.gz")
    venv = installed_venv(pip_version)
    env = {**ENFORCE, "PIP_ATTEST_PUBLISHER": PIN}

    result = venv.pip("install", f"{PROJECT} @ {index.file_url('evil-1.0.tar.gz')}", env=env)

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(f"{PROJECT} (evil-1.0.tar.gz): invalid: "), line
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_build_dependency_served_as_tgz_is_a_downgrade(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    marker = tmp_path / "build-ran"
    app = make_sdist(
        tmp_path / "app", "appsdist", "1.0", build_requires=["flit_core"], marker=marker
    )
    index.add_file(app, provenance=sigstore_instance.provenance(app, github("example/appsdist")))
    # A flit_core that runs its own (marked) build code, under a name packaging cannot parse.
    backend = make_sdist(tmp_path / "flit", "flit_core", "3.9.0", marker=marker)
    index.add_file(backend, filename="flit_core-3.9.0.tgz", project="flit_core")
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install",
        "-i",
        index.simple_url,
        "--trust-root",
        str(minted_root),
        "--publisher",
        "flit_core=github:pypa/flit/publish.yml",
        "appsdist",
    )

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith("flit-core 3.9.0 (flit_core-3.9.0.tgz): downgrade: "), line
    assert "flit-core is pinned" in line
    assert venv.installed().isdisjoint({"appsdist", "flit-core"})
    never_built(marker)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_lock_edited_to_point_at_a_tgz_is_a_downgrade(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path, pip_version: str
) -> None:
    serve_real(index, real, metadata=True)
    venv = make_venv(pip_version)
    project = tmp_path / "project"
    project.mkdir()
    locked = venv.pip_attest("lock", "-i", index.simple_url, PROJECT, cwd=project)
    assert locked.returncode == 0, locked.output
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path / "evil", PROJECT, "2024.10.8", marker=marker)
    index.add_file(sdist, filename="abi3info-2024.10.8.tgz", project=PROJECT)
    lock_file = project / "pylock.toml"
    genuine = hashlib.sha256((real / REAL_WHEEL).read_bytes()).hexdigest()
    evil = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert genuine in lock_file.read_text()
    lock_file.write_text(lock_file.read_text().replace(genuine, evil))

    result = venv.pip_attest("install", "-r", "pylock.toml", cwd=project)

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(f"{PROJECT} 2024.10.8 (abi3info-2024.10.8.tgz): downgrade: "), line
    assert "abi3info is locked in pylock.toml" in line
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_relock_after_a_post_release_sdist_appears_is_refused_before_its_build(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path, pip_version: str
) -> None:
    serve_real(index, real, metadata=True)
    venv = make_venv(pip_version)
    project = tmp_path / "project"
    project.mkdir()
    args = ("lock", "-i", index.simple_url, "--publisher", PIN, PROJECT)
    assert venv.pip_attest(*args, cwd=project).returncode == 0
    before = (project / "pylock.toml").read_bytes()
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path / "evil", PROJECT, "2024.10.9.post1", marker=marker)
    index.add_file(sdist, filename="abi3info-2024.10.9-1.tar.gz", project=PROJECT)

    result = venv.pip_attest(*args, cwd=project)

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(
        f"{PROJECT} 2024.10.9.post1 (abi3info-2024.10.9-1.tar.gz): downgrade: "
    ), line
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    assert (project / "pylock.toml").read_bytes() == before
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize(
    ("served", "source"),
    [
        pytest.param("evil-1.0.tar.gz", "pin", id="other-name-pin"),
        pytest.param("evil-1.0.tar.gz", "first-seen", id="other-name-first-seen"),
        pytest.param("abi3info-2024.10.1.tar.gz", "pin", id="older-name-pin"),
        pytest.param("abi3info-2024.10.1.tar.gz", "first-seen", id="older-name-first-seen"),
    ],
)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_egg_fragment_on_a_find_links_page_names_the_version_pip_takes(
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    served: str,
    source: str,
) -> None:
    """pip reads a link's project and version from its ``#egg=`` fragment, when it has one,
    instead of from the file name (LinkEvaluator.evaluate_link)."""
    serve_real(index, real)
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path / "evil", PROJECT, "2024.10.9", marker=marker)
    index.add_file(sdist, filename=served, project=PROJECT if served.startswith(PROJECT) else None)
    page = tmp_path / "links.html"
    link = f"{index.file_url(served)}#egg={PROJECT}-2024.10.9"
    page.write_text(f'<html><body><a href="{link}">{served}</a></body></html>\n')
    venv, flags = pin_or_record(source, make_venv, index, pip_version)

    result = venv.pip_attest(
        "install",
        "-i",
        index.simple_url,
        *flags,
        "--find-links",
        str(page),
        f"{PROJECT}==2024.10.9",
    )

    assert result.returncode == 1, result.output
    line = refusal(result)
    assert line.startswith(f"{PROJECT} "), line
    assert f"({served}): " in line and ("): invalid: " in line or "): downgrade: " in line), line
    assert "nothing was installed" in result.stderr
    assert PROJECT not in venv.installed()
    never_built(marker)


# pip lock exists from pip 25.1 on.
COMMAND_CASES = [
    pytest.param(pip, command, id=f"{pip}-{command}")
    for pip in PIP_VERSIONS
    for command in ("wheel", "download", "lock")
    if command != "lock" or Version(pip) >= Version("25.1")
]


@pytest.mark.parametrize(("pip_version", "command"), COMMAND_CASES)
def test_renamed_archive_through_pip_wheel_download_and_lock_under_the_hook(
    installed_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    command: str,
) -> None:
    """Each builds an sdist's metadata (pip wheel builds the wheel too) and writes files."""
    serve_real(index, real)
    marker = tmp_path / "build-ran"
    path, served, version = unattested_abi3info(tmp_path, "tgz", marker)
    index.add_file(path, filename=served, project=PROJECT)
    venv = installed_venv(pip_version)
    out = tmp_path / "out"
    where = {"wheel": ["-w", str(out)], "download": ["-d", str(out)]}.get(
        command, ["-o", str(out / "pylock.toml")]
    )
    env = {**ENFORCE, "PIP_ATTEST_PUBLISHER": PIN}

    result = venv.pip(command, *where, "-i", index.simple_url, f"{PROJECT}=={version}", env=env)

    assert result.returncode == 1, result.output
    assert refusal(result).startswith(f"{PROJECT} {version} ({served}): downgrade: ")
    assert not out.exists() or list(out.iterdir()) == []
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_renamed_archive_requested_with_an_extra(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path, pip_version: str
) -> None:
    """pip prepares ``abi3info[cli]`` through the base candidate (DESIGN.md §8, extras)."""
    serve_real(index, real)
    marker = tmp_path / "build-ran"
    path, served, version = unattested_abi3info(tmp_path, "post-dash", marker)
    index.add_file(path, filename=served, project=PROJECT)
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "-i", index.simple_url, "--publisher", PIN, f"{PROJECT}[cli]=={version}"
    )

    assert result.returncode == 1, result.output
    assert refusal(result).startswith(f"{PROJECT} {version} ({served}): downgrade: ")
    assert PROJECT not in venv.installed()
    never_built(marker)


@pytest.mark.parametrize("served", ["abi3info-2024.10.9.tar.gz", "abi3info-2024.10.9.tgz"])
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_a_genuinely_attested_sdist_replayed_under_a_newer_name_is_invalid(
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    served: str,
) -> None:
    """The real 2024.10.8 sdist with its real provenance, by the pinned publisher, served
    as 2024.10.9: the attestation's subject must name the project and version pip takes."""
    sdist = "abi3info-2024.10.8.tar.gz"
    provenance = (real / f"{sdist}.provenance").read_bytes()
    index.add_file(real / sdist, filename=served, project=PROJECT, provenance=provenance)
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "-i", index.simple_url, "--publisher", PIN, f"{PROJECT}==2024.10.9"
    )

    assert result.returncode == 1, result.output
    assert refusal(result) == (
        f"{PROJECT} 2024.10.9 ({served}): invalid: attestation is for another file: got "
        f"'{sdist}', expected '{served}' -> do not install this file; run 'pip-attest verify' "
        "on it for details and report it to the index"
    )
    assert PROJECT not in venv.installed()
    # Its build would start by installing its backend, flit_core, from the index.
    assert index.project_path("flit_core") not in index.paths()
