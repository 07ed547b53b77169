"""Local inputs a user (or a hostile checkout) hands pip-attest (issue 16 §8): policy and
lock files that are not files, that never end, or that smuggle pip options; a report that
cannot be written after the install finished; an evidence kind the policy does not know.

Each answer is one line and an exit code, never a hang, a traceback or a silent pass.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pip_attest._config import Settings
from pip_attest._identity import parse_identity
from pip_attest._model import Status
from pip_attest._policy import Evidence, EvidenceKind, Policy
from pip_attest._toml import MAX_TOML_BYTES
from tests.support.cli import Run
from tests.support.index_server import IndexServer
from tests.support.packages import make_wheel
from tests.support.venvs import Venv

MakeVenv = Callable[..., Venv]
SHA = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"


def lock_text(index: str = "https://pypi.org/simple/", url: str = "") -> str:
    url = url or "https://files.pythonhosted.org/six-1.16.0-py2.py3-none-any.whl"
    return (
        'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "six"\n'
        f'version = "1.16.0"\nindex = "{index}"\n'
        f'wheels = [{{name = "six-1.16.0-py2.py3-none-any.whl", url = "{url}", '
        f'hashes = {{sha256 = "{SHA}"}}}}]\n'
    )


@pytest.mark.parametrize("flag", ["--policy", "-r"])
def test_dev_zero_is_refused_unread(cli: Callable[..., Run], flag: str, tmp_path: Path) -> None:
    """/dev/zero as a policy, or linked as pylock.toml: before, both read until memory ran
    out."""
    target = tmp_path / "pylock.toml"
    target.symlink_to("/dev/zero")
    name = "/dev/zero" if flag == "--policy" else str(target)

    result = cli("install", flag, name, "six")

    assert result.code == 2
    assert result.err.strip().endswith("not a regular file")
    assert result.err.count("\n") == 1


def test_a_fifo_named_pylock_toml_does_not_hang(cli: Callable[..., Run], tmp_path: Path) -> None:
    fifo = tmp_path / "pylock.toml"
    os.mkfifo(fifo)
    outcome: list[Run] = []
    worker = threading.Thread(target=lambda: outcome.append(cli("install", "-r", fifo, "six")))
    worker.start()
    worker.join(30)
    if worker.is_alive():  # release the reader, so that the test run itself can end
        with open(fifo, "w"):  # noqa: PTH123
            pass
        worker.join(5)
        pytest.fail("pip-attest waited on a FIFO named pylock.toml")
    assert outcome[0].code == 2
    assert "not a regular file" in outcome[0].err


def test_an_oversized_policy_is_refused(cli: Callable[..., Run], tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    with policy.open("wb") as f:
        f.truncate(MAX_TOML_BYTES + 1)  # sparse: costs no disk
    result = cli("install", "--policy", policy, "six")
    assert result.code == 2
    assert f"larger than {MAX_TOML_BYTES} bytes" in result.err


@pytest.mark.parametrize(
    ("index", "url"),
    [
        ("https://pypi.org/simple/\\n--extra-index-url https://evil.example/simple/", ""),
        ("https://pypi.org/simple/ --trusted-host evil.example", ""),
        ("ftp://evil.example/simple/", ""),
        ("https://pypi.org/simple/", "https://x.example/six.whl\\n-e /tmp/x"),
        ("https://pypi.org/simple/", "javascript:alert(1)"),
    ],
)
def test_lock_values_cannot_smuggle_pip_options(
    cli: Callable[..., Run], tmp_path: Path, index: str, url: str
) -> None:
    """pip-attest turns a lock into requirement lines for pip: a newline or a space in a
    value would have added lines of its own, pip options among them."""
    lock = tmp_path / "pylock.toml"
    lock.write_text(lock_text(index, url))

    result = cli("install", "-r", lock)

    assert result.code == 2
    assert "holds whitespace or control characters" in result.err or "URL" in result.err
    assert result.err.count("\n") == 1


def test_two_spellings_of_one_pinned_project_are_an_error(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pip-attest.publishers]\n"
        'abi3info = "github:woodruffw/abi3info/release.yml"\n'
        'ABI3INFO = "github:attacker/abi3info/release.yml"\n'
    )
    monkeypatch.chdir(tmp_path)

    result = cli("install", "six")

    assert result.code == 2
    assert "publishers names abi3info twice ('abi3info' and 'ABI3INFO')" in result.err


def test_an_evidence_kind_the_policy_does_not_know_blocks(tmp_path: Path) -> None:
    """A verdict never defaults to "verified": evidence of a kind the policy has no rule
    for (a bug upstream) blocks the install."""
    policy = Policy(Settings(first_seen_dir=tmp_path))
    signed = (parse_identity("github:example/app/release.yml"),)
    # The string a careless rule would take for VERIFIED, with a real identity.
    strange = Evidence("verified", identities=signed)  # type: ignore[arg-type]
    empty = Evidence(EvidenceKind.VERIFIED, identities=())
    assert not policy.judge("app", Evidence(EvidenceKind.VERIFIED, identities=signed)).blocking

    for evidence in (strange, empty):
        verdict = policy.judge("app", evidence, "1.0")
        assert verdict.blocking
        assert verdict.status is Status.INVALID
        assert "internal error" in verdict.reason


@pytest.mark.e2e
def test_a_report_that_cannot_be_written_after_the_install_says_so(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path
) -> None:
    """Installed, report not written: exit 4 and one line, not "internal error", exit 2."""
    index.add_file(make_wheel(tmp_path, "reported", "1.0"))
    venv = make_venv()
    script = (
        "import subprocess, sys\n"
        "with open('/dev/full', 'w') as full:\n"
        "    sys.exit(subprocess.run([sys.executable, '-m', 'pip_attest', *sys.argv[1:]],"
        " stdout=full).returncode)\n"
    )

    result = venv.run(
        "-c", script, "install", "-i", index.simple_url, "--format", "json", "reported"
    )

    assert result.returncode == 4, result.output
    assert "the report could not be written to standard output" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "reported" in venv.installed()
