"""Publisher policy end to end: first-seen records, downgrades, pins from pyproject.toml,
environment pins, required attestations and concurrent runs sharing one store.

Every run is a real ``pip-attest install`` in a fresh venv from the loopback index;
attestations are minted by the throwaway Sigstore (or are the real abi3info ones) and
checked by the unmodified sigstore verifier. Venvs that share ``home`` share the
first-seen store (it lives under the home's XDG data dir), like two projects on one
developer's machine.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.packages import make_sdist, make_wheel
from tests.support.throwaway_sigstore import Identity, ThrowawaySigstore, github
from tests.support.venvs import Venv

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]


def serve(
    index: IndexServer,
    sig: ThrowawaySigstore,
    tmp_path: Path,
    name: str,
    version: str,
    identity: Identity | None,
) -> Path:
    """Serve a wheel of ``name`` ``version``, signed by ``identity`` (None: unattested)."""
    wheel = make_wheel(tmp_path / f"{name}-{version}", name, version)
    index.add_file(wheel, provenance=sig.provenance(wheel, identity) if identity else None)
    return wheel


def install(venv: Venv, index: IndexServer, root: Path, *args: str, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    return venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(root), *args, cwd=cwd
    )


def records(venv: Venv) -> dict[str, list[str]]:
    """The first-seen store as ``trust list --format json`` shows it: project → identities."""
    result = venv.pip_attest("trust", "list", "--format", "json")
    assert result.returncode == 0, result.output
    doc = json.loads(result.stdout)
    return {p["project"]: [i["identity"] for i in p["identities"]] for p in doc["projects"]}


def test_changed_publisher_is_refused_until_accepted(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    old, new = github("example/tofupkg"), github("takeover/tofupkg")
    serve(index, sigstore_instance, tmp_path, "tofupkg", "1.0", old)
    first = make_venv()
    assert install(first, index, minted_root, "tofupkg==1.0").returncode == 0
    assert records(first) == {"tofupkg": ["github:example/tofupkg/release.yml"]}

    # A new release, signed by a publisher the project never used.
    serve(index, sigstore_instance, tmp_path, "tofupkg", "2.0", new)
    second = make_venv(home=first.home)
    result = install(second, index, minted_root, "tofupkg==2.0")

    assert result.returncode == 1, result.output
    assert (
        "tofupkg 2.0 (tofupkg-2.0-py3-none-any.whl): unexpected-publisher: signed by "
        "github:takeover/tofupkg/release.yml, but tofupkg was first seen attested at "
        "version 1.0, signed by github:example/tofupkg/release.yml" in result.stderr
    )
    assert "pip-attest trust accept tofupkg github:takeover/tofupkg/release.yml" in result.stderr
    assert "tofupkg" not in second.installed()

    # For one run only: installs, and the record does not change.
    once = make_venv(home=first.home)
    result = install(
        once,
        index,
        minted_root,
        "--accept-publisher",
        "tofupkg=github:takeover/tofupkg/release.yml",
        "tofupkg==2.0",
    )
    assert result.returncode == 0, result.output
    assert "tofupkg" in once.installed()
    assert records(first) == {"tofupkg": ["github:example/tofupkg/release.yml"]}

    # Accepted for good: the exact command from the message.
    accepted = first.pip_attest("trust", "accept", "tofupkg", "github:takeover/tofupkg/release.yml")
    assert accepted.returncode == 0, accepted.output
    assert "before: github:example/tofupkg/release.yml" in accepted.stdout
    third = make_venv(home=first.home)
    result = install(third, index, minted_root, "tofupkg==2.0")
    assert result.returncode == 0, result.output
    assert "tofupkg" in third.installed()


def test_project_that_stops_attesting_is_a_downgrade(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    identity = github("example/downpkg")
    serve(index, sigstore_instance, tmp_path, "downpkg", "1.0", identity)
    serve(index, sigstore_instance, tmp_path, "downpkg", "0.9", None)  # before attestations
    serve(index, sigstore_instance, tmp_path, "downpkg", "2.0", None)  # stolen-token upload
    first = make_venv()
    assert install(first, index, minted_root, "downpkg==1.0").returncode == 0

    later = make_venv(home=first.home)
    result = install(later, index, minted_root, "downpkg==2.0")
    assert result.returncode == 1, result.output
    assert "downpkg 2.0 (downpkg-2.0-py3-none-any.whl): downgrade:" in result.stderr
    assert "downpkg was first seen attested at version 1.0" in result.stderr
    assert "pip-attest trust forget downpkg" in result.stderr
    assert "downpkg" not in later.installed()

    # A release older than the first attested one predates the publisher: a warning only.
    older = make_venv(home=first.home)
    result = install(older, index, minted_root, "downpkg==0.9")
    assert result.returncode == 0, result.output
    assert "older than 1.0, downpkg's first attested version" in result.stderr
    assert "downpkg" in older.installed()


def test_real_abi3info_served_without_provenance_is_a_downgrade(
    make_venv: MakeVenv, index: IndexServer, real: Path
) -> None:
    old = "abi3info-2024.10.3-py3-none-any.whl"
    index.add_file(real / old, provenance=(real / f"{old}.provenance").read_bytes())
    # A mirror that strips provenance from the newer release.
    index.add_file(real / "abi3info-2024.10.8-py3-none-any.whl")
    first = make_venv()
    result = first.pip_attest("install", "-i", index.simple_url, "abi3info==2024.10.3")
    assert result.returncode == 0, result.output
    assert records(first) == {"abi3info": ["github:woodruffw/abi3info/release.yml"]}

    later = make_venv(home=first.home)
    result = later.pip_attest("install", "-i", index.simple_url, "abi3info==2024.10.8")

    assert result.returncode == 1, result.output
    assert "abi3info 2024.10.8 (abi3info-2024.10.8-py3-none-any.whl): downgrade:" in (result.stderr)
    assert "signed by github:woodruffw/abi3info/release.yml" in result.stderr
    assert "abi3info" not in later.installed()


def _project(tmp_path: Path, table: str) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\n\n' + table, encoding="utf-8"
    )
    return project


@pytest.mark.parametrize(
    ("pin", "ok"),
    [
        ("github:example/pinpkg/release.yml", True),
        ("github:example/pinpkg/other.yml", False),
        ("github:elsewhere/pinpkg/release.yml", False),
        ("github:example/pinpkg/release.yml@production", False),  # signed in "staging"
        ("github:example/pinpkg/release.yml@Staging", True),  # GitHub: case-insensitive
    ],
)
def test_pyproject_pin(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pin: str,
    ok: bool,
) -> None:
    signer = github("example/pinpkg", environment="staging")
    serve(index, sigstore_instance, tmp_path, "pinpkg", "1.0", signer)
    project = _project(tmp_path, f'[tool.pip-attest.publishers]\npinpkg = "{pin}"\n')
    venv = make_venv()

    result = install(venv, index, minted_root, "pinpkg", cwd=project)

    if ok:
        assert result.returncode == 0, result.output
        assert "pinpkg" in venv.installed()
    else:
        assert result.returncode == 1, result.output
        assert "unexpected-publisher: signed by github:example/pinpkg/release.yml@staging" in (
            result.stderr
        )
        assert f"pinpkg is pinned (file {project / 'pyproject.toml'})" in result.stderr
        assert "pinpkg" not in venv.installed()


def test_bad_policy_file_stops_before_pip(
    make_venv: MakeVenv, index: IndexServer, minted_root: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path, "[tool.pip-attest]\nrequire-attestation = true\n")
    venv = make_venv()

    result = install(venv, index, minted_root, "anything", cwd=project)

    assert result.returncode == 2, result.output
    assert "unknown key 'require-attestation'" in result.stderr
    assert "Traceback" not in result.output


def test_required_attestations_with_allowed_exceptions(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, tmp_path, "legacy-a", "1.0", None)
    serve(index, sigstore_instance, tmp_path, "legacy-b", "1.0", None)
    serve(index, sigstore_instance, tmp_path, "modern", "1.0", github("example/modern"))
    flags = ("--require-attestations", "--allow-unattested", "legacy-a")

    venv = make_venv()
    result = install(venv, index, minted_root, *flags, "legacy-a", "legacy-b", "modern")
    assert result.returncode == 1, result.output
    assert "legacy-b 1.0 (legacy_b-1.0-py3-none-any.whl): missing:" in result.stderr
    assert "--allow-unattested legacy-b" in result.stderr
    assert "legacy-a 1.0 (legacy_a" not in result.stderr.split("nothing was installed.")[1]
    assert venv.installed().isdisjoint({"legacy-a", "legacy-b", "modern"})

    venv = make_venv()
    result = install(venv, index, minted_root, *flags, "legacy-a", "modern")
    assert result.returncode == 0, result.output
    assert {"legacy-a", "modern"} <= venv.installed()

    # The same policy from pyproject.toml instead of flags.
    project = _project(
        tmp_path,
        '[tool.pip-attest]\nrequire-attestations = true\nallow-unattested = ["legacy-a"]\n',
    )
    venv = make_venv()
    result = install(venv, index, minted_root, "legacy-a", "legacy-b", cwd=project)
    assert result.returncode == 1, result.output
    assert "legacy-b 1.0 (legacy_b-1.0-py3-none-any.whl): missing:" in result.stderr
    # A flag beats the file.
    venv = make_venv()
    result = install(
        venv,
        index,
        minted_root,
        "--allow-unattested",
        "legacy-b",
        "legacy-a",
        "legacy-b",
        cwd=project,
    )
    assert result.returncode == 0, result.output


def test_eight_concurrent_installs_share_one_first_seen_store(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    names = [f"shared-{i}" for i in range(8)]
    for name in names:
        serve(index, sigstore_instance, tmp_path, name, "1.0", github(f"example/{name}"))
    venvs = [make_venv()]
    venvs += [make_venv(home=venvs[0].home) for _ in range(7)]

    # Each run installs two projects, so every record is written by two runs at once.
    procs = [
        subprocess.Popen(
            [
                str(v.python),
                "-m",
                "pip_attest",
                "install",
                "-i",
                index.simple_url,
                "--trust-root",
                str(minted_root),
                names[i],
                names[(i + 1) % 8],
            ],
            env=v.env(),
            cwd=v.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, v in enumerate(venvs)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]

    for i, (proc, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, err
        assert {names[i], names[(i + 1) % 8]} <= venvs[i].installed()
    assert records(venvs[0]) == {n: [f"github:example/{n}/release.yml"] for n in names}
    store = venvs[0].home / "data" / "pip-attest" / "first-seen"
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == sorted(
        f"{n}.json" for n in names
    )
    # No temporary file was left behind, every store file is whole, the shared verification
    # cache was used, and a later install still sees every record.
    assert not list(store.glob("*.tmp"))
    kept = [*store.glob("*.json"), *(venvs[0].home / "cache" / "pip-attest").rglob("*.json")]
    for path in kept:
        json.loads(path.read_bytes())
    assert len(venvs[0].verification_entries()) == 8
    serve(index, sigstore_instance, tmp_path, "shared-3", "2.0", github("takeover/shared-3"))
    result = install(make_venv(home=venvs[0].home), index, minted_root, "shared-3==2.0")
    assert result.returncode == 1, result.output
    assert "unexpected-publisher" in result.stderr


def test_plain_pip_with_enforce_reads_the_same_pyproject_policy(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, tmp_path, "pinpkg", "1.0", github("takeover/pinpkg"))
    project = _project(
        tmp_path, '[tool.pip-attest.publishers]\npinpkg = "github:example/pinpkg/release.yml"\n'
    )
    venv = make_venv()
    env = {"PIP_ATTEST_ENFORCE": "1", "PIP_ATTEST_TRUST_ROOT": str(minted_root)}

    result = venv.pip("install", "-i", index.simple_url, "pinpkg", env=env, cwd=project)

    assert result.returncode == 1, result.output
    assert "unexpected-publisher: signed by github:takeover/pinpkg/release.yml" in result.stderr
    assert "pinpkg" not in venv.installed()


def test_build_dependency_pin_holds_in_the_subprocess_pip(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path, "appsdist", "1.0", build_requires=["buildhelper"], marker=marker)
    index.add_file(sdist, provenance=sigstore_instance.provenance(sdist, github("example/app")))
    serve(index, sigstore_instance, tmp_path, "buildhelper", "1.0", github("takeover/helper"))
    # The pin lives in the user's project; pip installs build dependencies in a subprocess.
    project = _project(
        tmp_path,
        '[tool.pip-attest.publishers]\nbuildhelper = "github:example/helper/release.yml"\n',
    )
    venv = make_venv()

    result = install(venv, index, minted_root, "appsdist", cwd=project)

    assert result.returncode == 1, result.output
    assert (
        "buildhelper 1.0 (buildhelper-1.0-py3-none-any.whl): unexpected-publisher: signed by "
        "github:takeover/helper/release.yml" in result.stderr
    )
    assert not marker.exists(), "the sdist's build ran with a build dependency from a takeover"
    assert "appsdist" not in venv.installed()
