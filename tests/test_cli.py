"""The command line: version, usage errors, ``trust show/update``, ``status``, and the
install option splitter. Run in-process through ``pip_attest._cli.main``; one subprocess
checks ``python -m pip_attest`` itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from importlib.resources import files
from pathlib import Path

import pytest

from pip_attest._cli import main, split_install_args
from pip_attest._errors import UsageError
from tests.support.cli import Run
from tests.support.tuf_repo import TufRepo

_STORE = files("sigstore._store")
EMBEDDED_PRODUCTION = (
    _STORE.joinpath("https%3A%2F%2Ftuf-repo-cdn.sigstore.dev").joinpath("trusted_root.json")
).read_bytes()
EMBEDDED_STAGING = (
    _STORE.joinpath("https%3A%2F%2Ftuf-repo-cdn.sigstage.dev").joinpath("trusted_root.json")
).read_bytes()
KEY_LINE = re.compile(
    r"  (fulcio|rekor|ctlog|tsa) +\S+  valid \d{4}-\d\d-\d\d \.\. (\d{4}-\d\d-\d\d|now)"
)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def one_error_line(run: Run) -> str:
    """Exit 2, nothing on stdout, exactly one ``pip-attest: error: …`` line on stderr."""
    assert run.code == 2, run
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("pip-attest: error: ")
    return lines[0]


# -- version and usage --------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"pip-attest {metadata.version('pip-attest')}\n"


def test_python_m_pip_attest_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip_attest", "-V"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == f"pip-attest {metadata.version('pip-attest')}\n"
    assert done.stderr == ""


def test_no_command_prints_usage_and_exits_2(cli: Callable[..., Run]) -> None:
    run = cli()
    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("usage: pip-attest ")
    for command in ("install", "verify", "trust", "status"):
        assert re.search(rf"^    {command} ", run.err, re.MULTILINE), run.err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: pip-attest ")
    assert "invalid choice: 'frobnicate'" in err


def test_verify_missing_file_is_one_line(cli: Callable[..., Run], tmp_path: Path) -> None:
    missing = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    line = one_error_line(cli("verify", missing))
    assert line == f"pip-attest: error: {missing}: no such file"


def test_verify_with_a_malformed_publisher_is_one_line(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    dist = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    dist.write_bytes(b"wheel")
    line = one_error_line(cli("verify", dist, "--publisher", "octo/demo/release.yml"))
    assert "invalid publisher identity 'octo/demo/release.yml'" in line
    assert "github:OWNER/REPO/WORKFLOW[@ENVIRONMENT]" in line


def test_verify_with_a_missing_trust_root_is_one_line(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    dist = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    dist.write_bytes(b"wheel")
    missing = tmp_path / "nowhere" / "trusted_root.json"
    line = one_error_line(cli("verify", dist, "--trust-root", missing))
    assert line == f"pip-attest: error: trust root {missing}: no such file"


def test_verify_with_a_broken_trust_root_is_one_line(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    dist = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    dist.write_bytes(b"wheel")
    broken = tmp_path / "trusted_root.json"
    broken.write_text('{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}')
    line = one_error_line(cli("verify", dist, "--trust-root", broken))
    assert f"{broken}: not a usable Sigstore trusted root" in line


# -- trust show / update ------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    path: str
    source: str
    sha256: str
    age: str
    keys: list[str]


def parse_show(out: str) -> Shown:
    lines = out.splitlines()
    labels = ("trust root: ", "source:     ", "sha256:     ", "age:        ")
    for line, label in zip(lines, labels, strict=False):
        assert line.startswith(label), out
    assert lines[4] == "keys:", out
    keys = lines[5:]
    assert keys, out
    for key in keys:
        assert KEY_LINE.fullmatch(key), key
    path, source, sha256, age = (line.split(": ", 1)[1].strip() for line in lines[:4])
    return Shown(path=path, source=source, sha256=sha256, age=age, keys=keys)


def test_trust_show_seeds_the_embedded_production_root(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    run = cli("trust", "show")

    assert run.code == 0
    shown = parse_show(run.out)
    own = tmp_path / "xdg-data" / "pip-attest" / "trust" / "trusted_root.json"
    assert shown.path == str(own)
    assert shown.source == "sigstore-embedded"
    assert shown.sha256 == hashlib.sha256(EMBEDDED_PRODUCTION).hexdigest()
    assert shown.age == "0 days"
    assert "  fulcio  https://fulcio.sigstore.dev  valid 2022-04-13 .. now" in shown.keys
    assert any(k.startswith("  rekor   https://rekor.sigstore.dev  valid ") for k in shown.keys)
    assert any(k.startswith("  ctlog ") for k in shown.keys)


def test_trust_show_of_a_given_root(cli: Callable[..., Run], tmp_path: Path) -> None:
    root = tmp_path / "staging.json"
    root.write_bytes(EMBEDDED_STAGING)
    run = cli("trust", "show", "--trust-root", root)
    assert run.code == 0
    shown = parse_show(run.out)
    assert shown.path == str(root)
    assert shown.source == f"file:{root}"
    assert shown.sha256 == hashlib.sha256(EMBEDDED_STAGING).hexdigest()
    assert shown.age == "unknown"  # nobody recorded when this file was fetched
    assert any("sigstage.dev" in k for k in shown.keys)


@pytest.fixture
def tuf(tmp_path: Path) -> Iterator[TufRepo]:
    """A signed TUF repository on 127.0.0.1 that serves the *staging* trusted root."""
    with TufRepo(tmp_path / "tuf", EMBEDDED_STAGING) as repo:
        yield repo


def test_trust_update_changes_what_trust_show_prints(cli: Callable[..., Run], tuf: TufRepo) -> None:
    before = parse_show(cli("trust", "show").out)
    assert before.source == "sigstore-embedded"

    run = cli("trust", "update", "--tuf-url", tuf.url, "--bootstrap-root", tuf.root_json_path)

    assert run.code == 0, run.err
    assert run.err == f"updated the trust root from {tuf.url}\n"
    updated = parse_show(run.out)
    after = parse_show(cli("trust", "show").out)
    assert after == updated
    assert after.path == before.path
    assert after.source == tuf.url
    assert after.sha256 == hashlib.sha256(EMBEDDED_STAGING).hexdigest() != before.sha256
    assert after.age == "0 days"
    assert after.keys != before.keys
    assert any("sigstage.dev" in k for k in after.keys)
    assert Path(after.path).read_bytes() == EMBEDDED_STAGING


def test_trust_update_from_a_closed_port_changes_nothing(
    cli: Callable[..., Run], tuf: TufRepo
) -> None:
    before = cli("trust", "show").out
    root = Path(parse_show(before).path)
    root_bytes = root.read_bytes()
    url = tuf.url
    tuf.stop()  # the port now refuses connections

    run = cli("trust", "update", "--tuf-url", url, "--bootstrap-root", tuf.root_json_path)

    line = one_error_line(run)
    assert line.startswith(f"pip-attest: error: could not update the trust root from {url}: ")
    assert cli("trust", "show").out == before
    assert root.read_bytes() == root_bytes


def test_trust_update_refuses_a_custom_root(
    cli: Callable[..., Run], tuf: TufRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trust update`` refreshes pip-attest's own copy, never a file the user named."""
    custom = tmp_path / "mine.json"
    custom.write_bytes(EMBEDDED_PRODUCTION)
    monkeypatch.setenv("PIP_ATTEST_TRUST_ROOT", str(custom))
    run = cli("trust", "update", "--tuf-url", tuf.url, "--bootstrap-root", tuf.root_json_path)
    assert "only refreshes pip-attest's own cached copy" in one_error_line(run)
    assert custom.read_bytes() == EMBEDDED_PRODUCTION


# -- status -------------------------------------------------------------------------------


def test_status_json_reports_pip(cli: Callable[..., Run]) -> None:
    run = cli("status", "--format", "json")

    assert run.code == 0, run.err
    status = json.loads(run.out)
    assert status["pip_version"] == metadata.version("pip")
    assert status["pip_supported"] is True
    assert status["python"] == sys.executable
    assert status["enforcing"] is False  # PIP_ATTEST_ENFORCE is not set here
    assert status["trust_root_source"] == "sigstore-embedded"


def test_status_json_shows_pins_from_the_environment(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_ATTEST_PUBLISHER", "Demo_Pkg=github:octo/demo/release.yml@pypi")
    monkeypatch.setenv("PIP_ATTEST_REQUIRE", "1")
    status = json.loads(cli("status", "--format", "json").out)
    assert status["publishers"] == {"demo-pkg": ["github:octo/demo/release.yml@pypi"]}
    assert status["require_attestations"] is True


def test_status_with_a_bad_flag_value_in_the_environment(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_ATTEST_REQUIRE", "maybe")
    line = one_error_line(cli("status", "--format", "json"))
    assert "PIP_ATTEST_REQUIRE='maybe'" in line


# -- the install option splitter ----------------------------------------------------------


def test_split_keeps_pips_arguments_in_order() -> None:
    argv = [
        "-r",
        "requirements.txt",
        "--publisher",
        "demo=github:octo/demo/release.yml",
        "--index-url",
        "http://127.0.0.1:8080/simple",
        "-e",
        ".",
        "--require-attestations",
        "--upgrade",
        "--trust-root",
        "/tmp/root.json",
        "demo==1.0",
    ]
    ours, pip_args = split_install_args(argv)
    assert pip_args == [
        "-r",
        "requirements.txt",
        "--index-url",
        "http://127.0.0.1:8080/simple",
        "-e",
        ".",
        "--upgrade",
        "demo==1.0",
    ]
    assert ours == {
        "--publisher": ["demo=github:octo/demo/release.yml"],
        "--require-attestations": ["1"],
        "--trust-root": ["/tmp/root.json"],
    }


def test_split_flag_equals_value() -> None:
    ours, pip_args = split_install_args(
        [
            "--publisher=demo=github:octo/demo/release.yml@pypi",
            "--format=json",
            "--output=report.json",
            "--index-url=http://127.0.0.1/simple",
            "demo",
        ]
    )
    assert ours == {
        "--publisher": ["demo=github:octo/demo/release.yml@pypi"],  # split at the first '='
        "--format": ["json"],
        "--output": ["report.json"],
    }
    assert pip_args == ["--index-url=http://127.0.0.1/simple", "demo"]


def test_split_repeated_options_keep_every_value_in_order() -> None:
    ours, pip_args = split_install_args(
        [
            "--allow-unattested",
            "one",
            "--publisher",
            "a=google:a@example.com",
            "--allow-unattested=two",
            "--publisher=b=circleci:p/d",
            "x",
        ]
    )
    assert ours == {
        "--allow-unattested": ["one", "two"],
        "--publisher": ["a=google:a@example.com", "b=circleci:p/d"],
    }
    assert pip_args == ["x"]


def test_split_double_dash_ends_our_options() -> None:
    argv = ["--format", "json", "demo", "--", "--publisher", "x=y", "--require-attestations"]
    ours, pip_args = split_install_args(argv)
    assert ours == {"--format": ["json"]}
    assert pip_args == ["demo", "--", "--publisher", "x=y", "--require-attestations"]


@pytest.mark.parametrize(
    "option",
    ["--pub", "--publishers", "--publisher-x=1", "--trusted-host", "--format-control", "-o"],
)
def test_split_matches_exactly_never_by_prefix(option: str) -> None:
    ours, pip_args = split_install_args([option, "value", "demo"])
    assert ours == {}
    assert pip_args == [option, "value", "demo"]


@pytest.mark.parametrize(
    "flag",
    [
        "--allow-unattested",
        "--publisher",
        "--trust-root",
        "--integrity-api",
        "--provenance-timeout",
        "--format",
        "--output",
    ],
)
def test_split_missing_value_is_a_usage_error(flag: str) -> None:
    with pytest.raises(UsageError, match=f"^{flag} needs a value$"):
        split_install_args(["demo", flag])


@pytest.mark.parametrize(
    ("flag", "pip_option"),
    [
        ("--allow-unattested", "--upgrade"),
        ("--output", "--no-deps"),
        ("--publisher", "-r"),
    ],
)
def test_split_never_takes_a_pip_option_as_a_value(flag: str, pip_option: str) -> None:
    """README: "Our options are matched exactly (never by prefix), so none can swallow a pip
    option." ``--output --no-deps`` would write the report to a file named ``--no-deps`` and
    silently drop ``--no-deps`` from pip's command line."""
    with pytest.raises(UsageError, match=f"^{flag} needs a value"):
        split_install_args([flag, pip_option, "demo"])


def test_split_switch_with_a_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="^--require-attestations takes no value$"):
        split_install_args(["--require-attestations=yes", "demo"])


def test_install_with_a_missing_value_exits_2_before_running_pip(cli: Callable[..., Run]) -> None:
    line = one_error_line(cli("install", "demo", "--publisher"))
    assert line == "pip-attest: error: --publisher needs a value"


def test_two_integrity_apis_are_a_usage_error(cli: Callable[..., Run], tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not read")
    run = cli(
        "verify",
        "--integrity-api",
        "http://127.0.0.1:9/a",
        "--integrity-api",
        "http://127.0.0.1:9/b",
        str(wheel),
    )
    assert one_error_line(run) == (
        "pip-attest: error: PIP_ATTEST_INTEGRITY_API (--integrity-api) names 2 URLs: give one"
    )


@pytest.mark.parametrize("command", ["install", "lock"])
def test_a_malformed_trust_root_is_a_usage_error_before_pip_runs(
    cli: Callable[..., Run], tmp_path: Path, command: str
) -> None:
    root = tmp_path / "trusted_root.json"
    root.write_text("{not json")
    run = cli(command, "--trust-root", str(root), "--no-index", "demo")
    line = one_error_line(run)
    assert line.startswith(f"pip-attest: error: trust root {root}: not a Sigstore trusted root")
