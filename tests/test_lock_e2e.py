"""``pip-attest lock`` and ``pip-attest install -r pylock.toml`` end to end.

Real pip (``pip lock`` on 26.3, ``--dry-run --report`` on 23.3.2) resolves from the loopback
index; provenance is verified by the unmodified sigstore verifier, against the real
abi3info attestations or the throwaway Sigstore's; the lock is read back with
``packaging.pylock``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from tests.support.index_server import IndexServer
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import Identity, ThrowawaySigstore, github
from tests.support.venvs import PIP_NEWEST, PIP_VERSIONS, Result, Venv

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]
WHEEL = "abi3info-2024.10.8-py3-none-any.whl"


def serve(
    index: IndexServer,
    sig: ThrowawaySigstore,
    tmp_path: Path,
    name: str,
    version: str,
    identity: Identity | None,
    source: str | None = None,
) -> None:
    wheel = make_wheel(tmp_path / f"{name}-{version}", name, version, module_source=source)
    prov = sig.provenance(wheel, identity) if identity else None
    index.add_file(wheel, provenance=prov, metadata=True)


def lock(
    venv: Venv, index: IndexServer, project: Path, *args: str, root: Path | None = None
) -> Result:
    trust = ("--trust-root", str(root)) if root else ()
    return venv.pip_attest("lock", "-i", index.simple_url, *trust, *args, cwd=project)


def read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    Pylock.from_dict(doc)  # a valid PEP 751 lock, or this raises
    return doc


def identities(doc: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {p["name"]: p.get("attestation-identities", []) for p in doc["packages"]}


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_lock_records_the_real_identity_and_is_deterministic(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path, pip_version: str
) -> None:
    index.add_file(
        real / WHEEL, provenance=(real / f"{WHEEL}.provenance").read_bytes(), metadata=True
    )
    venv = make_venv(pip_version)
    project = tmp_path / "project"
    project.mkdir()

    result = lock(venv, index, project, "abi3info")

    assert result.returncode == 0, result.output
    lock_file = project / "pylock.toml"
    doc = read(lock_file)
    assert identities(doc) == {
        "abi3info": [
            {"kind": "GitHub", "repository": "woodruffw/abi3info", "workflow": "release.yml"}
        ]
    }
    [pkg] = doc["packages"]
    assert pkg["version"] == "2024.10.8"
    assert pkg["wheels"][0]["hashes"]["sha256"] == (
        "b0236c6707783f93971274101e119055192cef0925f5b7cebdad03c69dc5a499"
    )
    if pip_version == PIP_NEWEST:
        # 'pip lock', verified against the index's sha256: the wheel was never downloaded.
        assert f"/files/{WHEEL}" not in index.paths()
    assert index.paths().count(f"/provenance/{WHEEL}") == 1
    first = lock_file.read_bytes()
    again = lock(venv, index, project, "abi3info")
    assert again.returncode == 0, again.output
    assert lock_file.read_bytes() == first
    assert "is up to date" in again.stderr

    # And the lock installs, on this pip, with exactly that file.
    target = make_venv(pip_version)
    installed = target.pip_attest("install", "-r", str(lock_file), cwd=project)
    assert installed.returncode == 0, installed.output
    assert "abi3info" in target.installed()


def test_edited_identity_in_the_lock_is_refused(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path
) -> None:
    index.add_file(
        real / WHEEL, provenance=(real / f"{WHEEL}.provenance").read_bytes(), metadata=True
    )
    venv = make_venv()
    project = tmp_path / "project"
    project.mkdir()
    assert lock(venv, index, project, "abi3info").returncode == 0
    lock_file = project / "pylock.toml"
    lock_file.write_text(
        lock_file.read_text().replace("woodruffw/abi3info", "someone-else/abi3info")
    )

    result = venv.pip_attest("install", "-r", "pylock.toml", cwd=project)

    assert result.returncode == 1, result.output
    assert (
        "unexpected-publisher: signed by github:woodruffw/abi3info/release.yml, but abi3info "
        "is locked in pylock.toml, signed by github:someone-else/abi3info/release.yml"
    ) in result.stderr
    assert "abi3info" not in venv.installed()


def test_lock_only_installs_locked_files(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, tmp_path, "lockedpkg", "1.0", github("example/lockedpkg"))
    venv = make_venv()
    project = tmp_path / "project"
    project.mkdir()
    assert lock(venv, index, project, "lockedpkg", root=minted_root).returncode == 0

    # The same version's file swapped on the index, validly signed by the right publisher.
    identity = github("example/lockedpkg")
    swapped = "import os  # other bytes\n"
    serve(index, sigstore_instance, tmp_path / "swap", "lockedpkg", "1.0", identity, swapped)
    result = venv.pip_attest(
        "install", "--trust-root", str(minted_root), "-r", "pylock.toml", cwd=project
    )
    assert result.returncode != 0, result.output
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in result.output
    assert "lockedpkg" not in venv.installed()


def test_locked_package_that_lost_its_attestation_is_a_downgrade(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    wheel = make_wheel(tmp_path, "lostpkg", "1.0")
    index.add_file(
        wheel,
        provenance=sigstore_instance.provenance(wheel, github("example/lostpkg")),
        metadata=True,
    )
    venv = make_venv()
    project = tmp_path / "project"
    project.mkdir()
    assert lock(venv, index, project, "lostpkg", root=minted_root).returncode == 0
    index.add_file(wheel, metadata=True)  # the mirror now strips provenance

    installing = venv.pip_attest(
        "install", "--trust-root", str(minted_root), "-r", "pylock.toml", cwd=project
    )
    assert installing.returncode == 1, installing.output
    assert "lostpkg 1.0 (lostpkg-1.0-py3-none-any.whl): downgrade:" in installing.stderr
    assert "lostpkg is locked in pylock.toml" in installing.stderr
    assert "lostpkg" not in venv.installed()

    before = (project / "pylock.toml").read_bytes()
    relock = lock(venv, index, project, "lostpkg", root=minted_root)
    assert relock.returncode == 1, relock.output
    assert "downgrade" in relock.stderr
    assert "pylock.toml was not written" in relock.stderr
    assert (project / "pylock.toml").read_bytes() == before


def test_changed_publisher_needs_accept_publisher_to_relock(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, tmp_path, "movingpkg", "1.0", github("example/movingpkg"))
    venv = make_venv()
    project = tmp_path / "project"
    project.mkdir()
    assert lock(venv, index, project, "movingpkg", root=minted_root).returncode == 0
    before = (project / "pylock.toml").read_bytes()
    serve(index, sigstore_instance, tmp_path, "movingpkg", "2.0", github("neworg/movingpkg"))

    result = lock(venv, index, project, "movingpkg", root=minted_root)
    assert result.returncode == 1, result.output
    assert "signed by github:neworg/movingpkg/release.yml, but movingpkg is locked in " in (
        result.stderr
    )
    assert (
        "re-run your 'pip-attest lock' command for pylock.toml with --accept-publisher "
        "movingpkg=github:neworg/movingpkg/release.yml"
    ) in result.stderr
    assert (project / "pylock.toml").read_bytes() == before

    accept = ("--accept-publisher", "movingpkg=github:neworg/movingpkg/release.yml")
    result = lock(venv, index, project, *accept, "movingpkg", root=minted_root)
    assert result.returncode == 0, result.output
    repos = [i["repository"] for i in identities(read(project / "pylock.toml"))["movingpkg"]]
    assert repos == ["example/movingpkg", "neworg/movingpkg"]


def test_check_and_unattested_packages(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, tmp_path, "app-a", "1.0", github("example/app-a"))
    serve(index, sigstore_instance, tmp_path, "plainpkg", "1.0", None)
    venv = make_venv()
    project = tmp_path / "project"
    project.mkdir()
    reqs = project / "requirements.in"
    reqs.write_text("app-a\n")
    assert lock(venv, index, project, "-r", "requirements.in", root=minted_root).returncode == 0

    fresh = lock(venv, index, project, "--check", "-r", "requirements.in", root=minted_root)
    assert fresh.returncode == 0, fresh.output
    assert "pylock.toml is up to date" in fresh.stderr

    reqs.write_text("app-a\nplainpkg\n")
    before = (project / "pylock.toml").read_bytes()
    stale = lock(venv, index, project, "--check", "-r", "requirements.in", root=minted_root)
    assert stale.returncode == 1, stale.output
    assert "pylock.toml is stale" in stale.stderr
    assert '+name = "plainpkg"' in stale.stderr
    assert (project / "pylock.toml").read_bytes() == before

    strict = lock(
        venv, index, project, "--require-attestations", "-r", "requirements.in", root=minted_root
    )
    assert strict.returncode == 1, strict.output
    assert "plainpkg 1.0 (plainpkg-1.0-py3-none-any.whl): missing" in strict.stderr

    loose = lock(
        venv, index, project, "--format", "json", "-r", "requirements.in", root=minted_root
    )
    assert loose.returncode == 0, loose.output
    assert "1 file had no attestation" in loose.stderr
    report = json.loads(loose.stdout)
    assert (report["command"], report["changed"]) == ("lock", True)
    assert identities(read(project / "pylock.toml"))["plainpkg"] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "not valid TOML"),
        ('lock-version = "1.0"\n', "not a valid PEP 751 lock file"),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "a"\nversion = "1"\n'
            'wheels = [{ name = "a-1-py3-none-any.whl", url = "http://x/a-1-py3-none-any.whl", '
            f'hashes = {{ sha256 = "{"0" * 64}" }} }}]\n'
            '[[packages.attestation-identities]]\nkind = "Nope"\n',
            "unknown publisher kind 'Nope'",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "a"\nversion = "1"\n'
            'wheels = [{ name = "a-1-py3-none-any.whl", url = "http://x/a-1-py3-none-any.whl", '
            'hashes = { md5 = "00" } }]\n',
            "every file needs a sha256 hash",
        ),
    ],
)
def test_bad_lock_files_are_usage_errors(
    make_venv: MakeVenv, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "pylock.toml").write_text(content)
    venv = make_venv()
    result = venv.pip_attest("install", "-r", "pylock.toml", cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_extra_locks_the_projects_optional_dependencies(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    wheelhouse: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, tmp_path, "app-a", "1.0", github("example/app-a"))
    serve(index, sigstore_instance, tmp_path, "app-b", "1.0", github("example/app-b"))
    index.add_file(next(wheelhouse.glob("flit_core-*.whl")))  # the project's build backend
    project = tmp_path / "myapp"
    (project / "myapp").mkdir(parents=True)
    (project / "myapp" / "__init__.py").write_text('"""My app."""\n__version__ = "0.1"\n')
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core>=3.2,<4"]\nbuild-backend = "flit_core.buildapi"\n'
        '[project]\nname = "myapp"\nversion = "0.1"\ndescription = "x"\n'
        'dependencies = ["app-b"]\n[project.optional-dependencies]\nextra1 = ["app-a"]\n'
    )
    venv = make_venv()

    result = lock(venv, index, project, "--extra", "extra1", root=minted_root)

    assert result.returncode == 0, result.output
    locked = identities(read(project / "pylock.toml"))
    assert sorted(locked) == ["app-a", "app-b"]  # the project itself is not an index file
    assert locked["app-a"][0]["repository"] == "example/app-a"


@pytest.mark.parametrize(
    ("spelling", "written"),
    [
        (("-opylock.dev.toml",), "pylock.dev.toml"),
        (("-o=pylock.dev.toml",), "pylock.dev.toml"),
        # pip's own output option, abbreviated or grouped: pip-attest's lock still wins.
        (("--outp", "pylock.evil.toml"), "pylock.toml"),
        (("-qo", "pylock.evil.toml"), "pylock.toml"),
    ],
)
def test_every_spelling_of_the_output_gets_the_checked_lock(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    spelling: tuple[str, ...],
    written: str,
) -> None:
    serve(index, sigstore_instance, tmp_path, "app-a", "1.0", github("example/app-a"))
    venv = make_venv()
    project = tmp_path / "project"
    project.mkdir()

    result = lock(venv, index, project, *spelling, "app-a", root=minted_root)

    assert result.returncode == 0, result.output
    assert sorted(p.name for p in project.iterdir()) == [written]
    assert identities(read(project / written))["app-a"] == [
        {"kind": "GitHub", "repository": "example/app-a", "workflow": "release.yml"}
    ]
