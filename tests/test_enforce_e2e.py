"""``PIP_ATTEST_ENFORCE=1``: plain ``pip install`` guarded through the ``.pth`` hook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.packages import make_sdist, make_wheel
from tests.support.throwaway_sigstore import Faults, ThrowawaySigstore, github
from tests.support.venvs import PIP_UNSUPPORTED, PIP_VERSIONS, Venv

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]


def serve(index: IndexServer, sig: ThrowawaySigstore, path: Path, faults: Faults) -> None:
    identity = github(f"example/{path.name.split('-')[0]}")
    index.add_file(path, provenance=sig.provenance(path, identity, faults=faults))


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_plain_pip_refuses_a_tampered_file_only_when_enforcing(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    wheel = make_wheel(tmp_path, "guarded", "1.0")
    serve(index, sigstore_instance, wheel, Faults(subject_digest="12" * 32))
    env = {"PIP_ATTEST_ENFORCE": "1", "PIP_ATTEST_TRUST_ROOT": str(minted_root)}

    enforced = make_venv(pip_version)
    refused = enforced.pip("install", "-i", index.simple_url, "guarded", env=env)
    assert refused.returncode == 1, refused.output
    assert "guarded 1.0 (guarded-1.0-py3-none-any.whl): invalid: digest mismatch" in refused.stderr
    assert "guarded" not in enforced.installed()

    # The same command without the variable: the hook is truly gated, pip installs.
    plain = make_venv(pip_version)
    allowed = plain.pip("install", "-i", index.simple_url, "guarded")
    assert allowed.returncode == 0, allowed.output
    assert "pip-attest" not in allowed.output
    assert "guarded" in plain.installed()


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_plain_pip_installs_a_valid_file_with_a_summary(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    serve(index, sigstore_instance, make_wheel(tmp_path, "guarded", "1.0"), Faults())
    venv = make_venv(pip_version)

    result = venv.pip(
        "install",
        "-i",
        index.simple_url,
        "guarded",
        env={"PIP_ATTEST_ENFORCE": "1", "PIP_ATTEST_TRUST_ROOT": str(minted_root)},
    )

    assert result.returncode == 0, result.output
    assert "pip-attest: checked 1 file: 1 verified" in result.stderr
    assert "github:example/guarded/release.yml" in result.stderr
    assert "guarded" in venv.installed()
    # pip 26.1+ blocks imports while it installs: the hook imported everything before.
    assert "Blocked import" not in result.output and "Unsafe import" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_plain_pip_refuses_a_bad_build_dependency_before_the_build(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path, "appsdist", "1.0", build_requires=["buildhelper"], marker=marker)
    serve(index, sigstore_instance, sdist, Faults())
    serve(
        index,
        sigstore_instance,
        make_wheel(tmp_path, "buildhelper", "1.0"),
        Faults(signature_over_other_payload=True),
    )
    venv = make_venv(pip_version)

    result = venv.pip(
        "install",
        "-i",
        index.simple_url,
        "appsdist",
        env={"PIP_ATTEST_ENFORCE": "1", "PIP_ATTEST_TRUST_ROOT": str(minted_root)},
    )

    assert result.returncode == 1, result.output
    assert "buildhelper 1.0 (buildhelper-1.0-py3-none-any.whl): invalid" in result.output
    assert not marker.exists()
    assert venv.installed().isdisjoint({"appsdist", "buildhelper"})


def test_venv_isolation_feature_is_refused_when_enforcing(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path
) -> None:
    index.add_file(make_wheel(tmp_path, "anything", "1.0"))
    venv = make_venv()

    result = venv.pip(
        "install",
        "-i",
        index.simple_url,
        "--use-feature=venv-isolation",
        "anything",
        env={"PIP_ATTEST_ENFORCE": "1"},
    )

    assert result.returncode == 2, result.output
    assert "venv-isolation" in result.stderr and "pip-attest" in result.stderr
    assert "anything" not in venv.installed()


def test_plain_pip_of_an_unsupported_version_is_stopped_when_enforcing(
    make_venv: MakeVenv, index: IndexServer, wheelhouse: Path, tmp_path: Path
) -> None:
    venv = make_venv()
    downgrade = venv.pip(
        "install", "--no-index", "--find-links", str(wheelhouse), f"pip=={PIP_UNSUPPORTED}"
    )
    assert downgrade.returncode == 0, downgrade.output
    index.add_file(make_wheel(tmp_path, "anything", "1.0"))

    result = venv.pip(
        "install", "-i", index.simple_url, "anything", env={"PIP_ATTEST_ENFORCE": "1"}
    )

    assert result.returncode == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"ERROR: pip-attest: pip {PIP_UNSUPPORTED} is not supported")
    assert "pip will not run unguarded" in line
    assert "anything" not in venv.installed()
    assert index.paths() == []  # pip never reached the index


def test_hook_imports_nothing_when_the_variable_is_unset(make_venv: MakeVenv) -> None:
    venv = make_venv()

    result = venv.run("-X", "importtime", "-c", "pass")

    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert result.returncode == 0
    assert not {m for m in imported if m.split(".")[0] in ("pip", "sigstore", "pip_attest")}
    # ...and with it set, the hook module itself is what loads, still without pip or sigstore.
    hooked = venv.run("-X", "importtime", "-c", "pass", env={"PIP_ATTEST_ENFORCE": "1"})
    loaded = {line.split("|")[-1].strip() for line in hooked.stderr.splitlines() if "|" in line}
    assert "pip_attest._pip._hook" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("pip", "sigstore")}


def test_venv_isolation_from_a_config_file_is_refused(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path
) -> None:
    """The option is judged from pip's parsed options, not only from the command line."""
    index.add_file(make_wheel(tmp_path, "anything", "1.0"))
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nuse-feature = venv-isolation\n")
    venv = make_venv()

    for run in (venv.pip, venv.pip_attest):
        result = run(
            "install",
            "-i",
            index.simple_url,
            "anything",
            env={"PIP_ATTEST_ENFORCE": "1", "PIP_CONFIG_FILE": str(config)},
        )
        assert result.returncode == 1, result.output
        assert "venv-isolation installs build dependencies with another Python" in result.stderr
        assert "Traceback" not in result.output
        assert "anything" not in venv.installed()


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
@pytest.mark.parametrize("mode", ["pip-attest", "enforce"])
def test_legacy_resolver_is_guarded_too(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    mode: str,
    pip_version: str,
) -> None:
    """pip's legacy resolver (pip < 25.3) never calls the gate: every file is judged as pip
    prepares it, and nothing is installed past a refusal."""
    good = make_wheel(tmp_path, "goodpkg", "1.0")
    serve(index, sigstore_instance, good, Faults())
    bad = make_wheel(tmp_path, "guarded", "1.0", requires=["goodpkg"])
    serve(index, sigstore_instance, bad, Faults(subject_digest="12" * 32))
    venv = make_venv(pip_version)
    args = ("install", "--use-deprecated=legacy-resolver", "-i", index.simple_url, "guarded")
    env = {"PIP_ATTEST_TRUST_ROOT": str(minted_root)}

    if mode == "enforce":
        result = venv.pip(*args, env={**env, "PIP_ATTEST_ENFORCE": "1"})
    else:
        result = venv.pip_attest(*args, env=env)

    assert result.returncode == 1, result.output
    assert "guarded 1.0 (guarded-1.0-py3-none-any.whl): invalid: digest mismatch" in result.stderr
    assert "Successfully installed" not in result.output
    assert venv.installed().isdisjoint({"guarded", "goodpkg"})
