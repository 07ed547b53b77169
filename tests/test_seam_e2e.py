"""What the seam must catch, end to end: sdists before their build code runs, build
dependencies installed by pip's subprocess, wheels from pip's cache, whole dependency
graphs, and pips it cannot guard. Attestations are minted by the throwaway Sigstore and
checked by the unmodified sigstore verifier against its test trust root."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.packages import make_graph, make_sdist, make_wheel
from tests.support.throwaway_sigstore import Faults, ThrowawaySigstore, github
from tests.support.venvs import PIP_UNSUPPORTED, PIP_VERSIONS, Venv

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]


def attest(
    index: IndexServer,
    sig: ThrowawaySigstore,
    path: Path,
    repo: str | None = None,
    faults: Faults | None = None,
) -> None:
    name = path.name.split("-")[0]
    identity = github(repo or f"example/{name}")
    index.add_file(path, provenance=sig.provenance(path, identity, faults=faults or Faults()))


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_sdist_with_bad_attestation_never_runs_its_build_code(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path, "evilsdist", "1.0", marker=marker)
    attest(index, sigstore_instance, sdist, faults=Faults(subject_digest="ab" * 32))
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), "evilsdist"
    )

    assert result.returncode == 1, result.output
    assert "evilsdist 1.0 (evilsdist-1.0.tar.gz): invalid: digest mismatch" in result.stderr
    assert not marker.exists(), "the sdist's build backend ran before verification"
    assert "evilsdist" not in venv.installed()


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_tampered_build_dependency_aborts_before_the_build(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path, "appsdist", "1.0", build_requires=["buildhelper"], marker=marker)
    attest(index, sigstore_instance, sdist)
    helper = make_wheel(tmp_path, "buildhelper", "1.0")
    # A valid signature from the right publisher, over another file's bytes.
    index.add_file(
        helper,
        provenance=sigstore_instance.provenance_for(
            helper.name, "cd" * 32, github("example/buildhelper")
        ),
    )
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), "appsdist"
    )

    assert result.returncode == 1, result.output
    assert "buildhelper 1.0 (buildhelper-1.0-py3-none-any.whl): invalid" in result.output
    assert not marker.exists(), "the sdist's backend ran although its build dependency failed"
    assert venv.installed().isdisjoint({"appsdist", "buildhelper"})


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_attested_build_dependency_is_reported(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path, "appsdist", "1.0", build_requires=["buildhelper"], marker=marker)
    attest(index, sigstore_instance, sdist)
    attest(index, sigstore_instance, make_wheel(tmp_path, "buildhelper", "1.0"))
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install",
        "-i",
        index.simple_url,
        "--trust-root",
        str(minted_root),
        "--require-attestations",
        "--format",
        "json",
        "appsdist",
    )

    assert result.returncode == 0, result.output
    files = {f["filename"]: f for f in json.loads(result.stdout)["files"]}
    helper = files["buildhelper-1.0-py3-none-any.whl"]
    assert helper["origin"] == "build-dependency"
    assert helper["identities"] == ["github:example/buildhelper/release.yml"]
    assert files["appsdist-1.0.tar.gz"]["status"] == "verified"
    assert "appsdist" in venv.installed()
    assert "buildhelper" not in venv.installed()  # it lived only in the build environment
    assert marker.exists(), "the marker that the refusal tests rely on never fires"


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_wheel_cache_hit_is_verified_through_its_source_sdist(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    sdist = make_sdist(tmp_path, "cachedpkg", "1.0")
    attest(index, sigstore_instance, sdist)
    first = make_venv(pip_version)
    args = ("install", "-i", index.simple_url, "--trust-root", str(minted_root), "cachedpkg")
    assert first.pip_attest(*args).returncode == 0

    # Same caches, new venv: pip takes the wheel it built last time from its cache.
    second = make_venv(pip_version, home=first.home)
    result = second.pip_attest(*args, "--format", "json")

    assert result.returncode == 0, result.output
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["origin"] == "wheel-cache"
    assert entry["filename"] == "cachedpkg-1.0.tar.gz"
    assert entry["status"] == "verified"
    assert "cachedpkg" in second.installed()

    # A cache entry that records another source digest than the attested sdist is refused.
    for origin in (first.home / "cache" / "pip" / "wheels").rglob("origin.json"):
        data = json.loads(origin.read_text())
        data["archive_info"]["hashes"] = {"sha256": "ef" * 32}
        data["archive_info"].pop("hash", None)
        origin.write_text(json.dumps(data))
    third = make_venv(pip_version, home=first.home)
    refused = third.pip_attest(*args)
    assert refused.returncode == 1, refused.output
    assert "cachedpkg 1.0 (cachedpkg-1.0.tar.gz): invalid: pip's cached wheel" in refused.stderr
    assert "records another source file than the index lists" in refused.stderr
    assert "cachedpkg" not in third.installed()


def test_thirty_package_graph_installs_and_one_bad_attestation_installs_nothing(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    root, wheels = make_graph(tmp_path, 30)
    for wheel in wheels:
        attest(index, sigstore_instance, wheel)
    venv = make_venv()
    args = ("install", "-i", index.simple_url, "--trust-root", str(minted_root), root)

    ok = venv.pip_attest(*args, "--require-attestations")
    assert ok.returncode == 0, ok.output
    assert "checked 30 files: 30 verified" in ok.stderr
    assert len(venv.installed()) == 30

    # One package deep in the graph now carries a proof that does not verify.
    victim = wheels[17]
    attest(index, sigstore_instance, victim, faults=Faults(bad_inclusion_proof=True))
    fresh = make_venv()
    refused = fresh.pip_attest(*args)
    assert refused.returncode == 1, refused.output
    assert f"({victim.name}): invalid" in refused.stderr
    assert fresh.installed() == set()


def test_unsupported_pip_is_refused_with_exit_2(
    make_venv: MakeVenv, index: IndexServer, wheelhouse: Path, real: Path
) -> None:
    venv = make_venv()
    downgrade = venv.pip(
        "install", "--no-index", "--find-links", str(wheelhouse), f"pip=={PIP_UNSUPPORTED}"
    )
    assert downgrade.returncode == 0, downgrade.output
    wheel = "abi3info-2024.10.8-py3-none-any.whl"
    index.add_file(real / wheel, provenance=(real / f"{wheel}.provenance").read_bytes())

    result = venv.pip_attest("install", "-i", index.simple_url, "abi3info")

    assert result.returncode == 2, result.output
    assert f"pip {PIP_UNSUPPORTED} is not supported" in result.stderr
    assert ">=23.3" in result.stderr
    assert "Traceback" not in result.output
    assert "abi3info" not in venv.installed()
    assert index.paths() == []  # pip never even started
