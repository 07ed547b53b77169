"""``pip-attest verify`` and ``pip_attest._verify``: real production-signed data, then minted.

Real pairs come from ``../shared/fixtures/real`` (its MANIFEST.md names each identity); the
minted ones from the throwaway Sigstore (tests/support/throwaway_sigstore.py), verified
against its own ``trusted_root.json``. The verifier is never stubbed: every test runs the
CLI in-process and reads what a user would see, the exit code and the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pip_attest._errors import VerificationError
from pip_attest._verify import parse_provenance
from tests.support import throwaway_sigstore as ts
from tests.support.cli import Run

GITHUB_ABI3INFO = "github:woodruffw/abi3info/release.yml"
GITHUB_PYPI_ATTESTATIONS = "github:trailofbits/pypi-attestations/release.yml"
STAGING_EMAIL = "oidc:william@yossarian.net (issuer https://github.com/login/oauth)"


# -- running the CLI ----------------------------------------------------------------------


def assert_verified(run: Run, filename: str, identity: str) -> None:
    assert run.code == 0, run.out + run.err
    assert run.out.splitlines()[0] == "pip-attest: checked 1 file: 1 verified"
    row = run.row(filename)
    assert row.split()[0] == "verified"
    assert row.endswith(f"  {identity}"), row


def assert_refused(run: Run, filename: str, status: str, reason: str) -> str:
    """Exit 1, the file's row has ``status``, and its message contains ``reason``."""
    assert run.code == 1, run.out + run.err
    assert run.out.splitlines()[0] == f"pip-attest: checked 1 file: 1 {status}"
    row = run.row(filename)
    assert row.split()[0] == status
    assert reason in row, row
    return row


# -- the real pairs (MANIFEST.md) ---------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    dist: str
    attestation: str  # the provenance or bare attestation file
    identity: str  # the text form pip-attest must show
    staging: bool = False

    @property
    def bare(self) -> bool:
        return not self.attestation.endswith(".provenance")

    def root(self, real: Path) -> Path:
        name = "staging" if self.staging else "production"
        return real / f"trusted_root.{name}.json"

    def other_root(self, real: Path) -> Path:
        name = "production" if self.staging else "staging"
        return real / f"trusted_root.{name}.json"

    def args(self, real: Path, dist: Path | None = None) -> list[str | Path]:
        """verify arguments; ``.provenance`` files are found next to the dist by default."""
        args: list[str | Path] = ["verify", dist or real / self.dist]
        if self.bare or dist is not None:
            args += ["--provenance", real / self.attestation]
        return [*args, "--trust-root", self.root(real)]


PAIRS = {
    "pypi-attestations-0.0.30-whl": Pair(
        "pypi_attestations-0.0.30-py3-none-any.whl",
        "pypi_attestations-0.0.30-py3-none-any.whl.provenance",
        "github:pypi/pypi-attestations/release.yml@pypi",
    ),
    "abi3info-2024.10.8-whl": Pair(
        "abi3info-2024.10.8-py3-none-any.whl",
        "abi3info-2024.10.8-py3-none-any.whl.provenance",
        GITHUB_ABI3INFO,
    ),
    "abi3info-2024.10.8-sdist": Pair(
        "abi3info-2024.10.8.tar.gz", "abi3info-2024.10.8.tar.gz.provenance", GITHUB_ABI3INFO
    ),
    "abi3info-2024.10.3-whl": Pair(
        "abi3info-2024.10.3-py3-none-any.whl",
        "abi3info-2024.10.3-py3-none-any.whl.provenance",
        GITHUB_ABI3INFO,
    ),
    "sigstore-3.6.1-sdist": Pair(
        "sigstore-3.6.1.tar.gz",
        "sigstore-3.6.1.tar.gz.provenance",
        "github:sigstore/sigstore-python/release.yml",
    ),
    "pypi-attestations-0.0.19-provenance": Pair(
        "pypi_attestations-0.0.19.tar.gz",
        "pypi_attestations-0.0.19.tar.gz.provenance",
        GITHUB_PYPI_ATTESTATIONS,
    ),
    "pypi-attestations-0.0.19-publish": Pair(
        "pypi_attestations-0.0.19.tar.gz",
        "pypi_attestations-0.0.19.tar.gz.publish.attestation",
        GITHUB_PYPI_ATTESTATIONS,
    ),
    "pypi-attestations-0.0.19-slsa": Pair(
        "pypi_attestations-0.0.19.tar.gz",
        "pypi_attestations-0.0.19.tar.gz.slsa.attestation",
        GITHUB_PYPI_ATTESTATIONS,
    ),
    "pypi-attestations-0.0.16-publish": Pair(
        "pypi_attestations-0.0.16.tar.gz",
        "pypi_attestations-0.0.16.tar.gz.publish.attestation",
        GITHUB_PYPI_ATTESTATIONS,
    ),
    "gitlab-oidc-project-0.0.3": Pair(
        "gitlab_oidc_project-0.0.3.tar.gz",
        "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
        "gitlab:facutuesca/gitlab-oidc-project/.gitlab-ci.yml",
    ),
    "rfc8785-0.1.2-staging": Pair(
        "rfc8785-0.1.2-py3-none-any.whl",
        "rfc8785-0.1.2-py3-none-any.whl.publish.attestation",
        STAGING_EMAIL,
        staging=True,
    ),
}
PRODUCTION = {k: p for k, p in PAIRS.items() if not p.staging}


def by_pair(pairs: dict[str, Pair]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("pair", list(pairs.values()), ids=list(pairs))


@by_pair(PAIRS)
def test_real_pair_verifies_with_its_identity(
    real: Path, cli: Callable[..., Run], pair: Pair
) -> None:
    assert_verified(cli(*pair.args(real)), pair.dist, pair.identity)


def test_default_trust_root_is_production(real: Path, cli: Callable[..., Run]) -> None:
    """No --trust-root: the seeded cached copy (sigstore's embedded production root)."""
    pair = PAIRS["abi3info-2024.10.8-whl"]
    assert_verified(cli("verify", real / pair.dist), pair.dist, pair.identity)
    staging = PAIRS["rfc8785-0.1.2-staging"]
    run = cli("verify", real / staging.dist, "--provenance", real / staging.attestation)
    assert_refused(run, staging.dist, "invalid", "signature check failed")


@by_pair(PAIRS)
def test_flipped_byte_is_a_digest_mismatch(
    real: Path, cli: Callable[..., Run], pair: Pair, tmp_path: Path
) -> None:
    tampered = tmp_path / pair.dist  # same filename: only the bytes differ
    data = bytearray((real / pair.dist).read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))

    run = cli(*pair.args(real, dist=tampered))

    sha256 = hashlib.sha256(data).hexdigest()
    assert_refused(run, pair.dist, "invalid", f"digest mismatch: the file's sha256 is {sha256}")


# Another file's attestation, each a replay an attacker could serve: another version of the
# same project, the wheel's for the sdist of the same release, another project altogether.
REPLAYS = {
    "pypi-attestations-0.0.30-whl": "abi3info-2024.10.8-py3-none-any.whl.provenance",
    "abi3info-2024.10.8-whl": "abi3info-2024.10.3-py3-none-any.whl.provenance",
    "abi3info-2024.10.8-sdist": "abi3info-2024.10.8-py3-none-any.whl.provenance",
    "abi3info-2024.10.3-whl": "abi3info-2024.10.8-py3-none-any.whl.provenance",
    "sigstore-3.6.1-sdist": "pypi_attestations-0.0.19.tar.gz.provenance",
    "pypi-attestations-0.0.19-provenance": "pypi_attestations-0.0.16.tar.gz.publish.attestation",
    "pypi-attestations-0.0.16-publish": "pypi_attestations-0.0.19.tar.gz.slsa.attestation",
    "gitlab-oidc-project-0.0.3": "sigstore-3.6.1.tar.gz.provenance",
    "rfc8785-0.1.2-staging": "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
}


@pytest.mark.parametrize(("key", "other"), list(REPLAYS.items()), ids=list(REPLAYS))
def test_another_files_attestation_is_refused(
    real: Path, cli: Callable[..., Run], key: str, other: str
) -> None:
    pair = PAIRS[key]
    run = cli(
        "verify",
        real / pair.dist,
        "--provenance",
        real / other,
        "--trust-root",
        real / "trusted_root.production.json",  # the replayed attestation's own instance
    )
    signed_for = other
    for suffix in (".provenance", ".publish.attestation", ".slsa.attestation"):
        signed_for = signed_for.removesuffix(suffix)
    reason = f"attestation is for another file: got {signed_for!r}, expected {pair.dist!r}"
    assert_refused(run, pair.dist, "invalid", reason)


# (pair, pin): each pin names someone other than the certificate proves, so the file is refused.
WRONG_PINS = {
    "wrong-workflow": ("abi3info-2024.10.8-whl", "github:woodruffw/abi3info/publish.yml"),
    "wrong-repository": ("abi3info-2024.10.8-whl", "github:attacker/abi3info/release.yml"),
    "wrong-owner-sdist": ("sigstore-3.6.1-sdist", "github:sigstore/sigstore-js/release.yml"),
    "wrong-environment": (
        "pypi-attestations-0.0.30-whl",
        "github:pypi/pypi-attestations/release.yml@testpypi",
    ),
    "wrong-workflow-with-env": (
        "pypi-attestations-0.0.30-whl",
        "github:pypi/pypi-attestations/publish.yml@pypi",
    ),
    "environment-the-cert-lacks": ("abi3info-2024.10.8-whl", f"{GITHUB_ABI3INFO}@pypi"),
    "wrong-repository-slsa": (
        "pypi-attestations-0.0.19-slsa",
        "github:pypi/pypi-attestations/release.yml",
    ),
    "gitlab-wrong-project": (
        "gitlab-oidc-project-0.0.3",
        "gitlab:facutuesca/other-project/.gitlab-ci.yml",
    ),
    "gitlab-wrong-path": (
        "gitlab-oidc-project-0.0.3",
        "gitlab:facutuesca/gitlab-oidc-project//ci/release.yml",
    ),
    "github-kind-for-gitlab": (
        "gitlab-oidc-project-0.0.3",
        "github:facutuesca/gitlab-oidc-project/.gitlab-ci.yml",
    ),
    "staging-email-is-no-publisher": (
        "rfc8785-0.1.2-staging",
        "github:trailofbits/rfc8785/release.yml",
    ),
}


@pytest.mark.parametrize(("key", "pin"), list(WRONG_PINS.values()), ids=list(WRONG_PINS))
def test_wrong_publisher_pin_is_refused(
    real: Path, cli: Callable[..., Run], key: str, pin: str
) -> None:
    pair = PAIRS[key]
    run = cli(*pair.args(real), "--publisher", pin)
    row = assert_refused(
        run,
        pair.dist,
        "unexpected-publisher",
        f"is pinned (--publisher / PIP_ATTEST_PUBLISHER), signed by {pin}",
    )
    assert f"signed by {pair.identity}, but " in row


def test_unexpected_publisher_refusal_says_how_to_accept(
    real: Path, cli: Callable[..., Run]
) -> None:
    """STYLE.md: a refusal says what to do next, e.g. the command that accepts a publisher.

    The JSON report carries that hint; a user reading the text output (either stream: the
    hint is a message, not part of the report) must see it too.
    """
    pair = PAIRS["abi3info-2024.10.8-whl"]
    pin = "github:attacker/abi3info/release.yml"
    run = cli(*pair.args(real), "--publisher", pin)
    assert run.code == 1
    shown = run.out + run.err
    assert f"verify with --publisher {pair.identity}" in shown, shown


PINS_THAT_MATCH = {
    "exact": ("abi3info-2024.10.8-whl", GITHUB_ABI3INFO),
    "repository-case": ("abi3info-2024.10.8-whl", "github:WoodruffW/ABI3Info/release.yml"),
    "no-environment-accepts-any": (
        "pypi-attestations-0.0.30-whl",
        "github:pypi/pypi-attestations/release.yml",
    ),
    "same-environment": (
        "pypi-attestations-0.0.30-whl",
        "github:pypi/pypi-attestations/release.yml@pypi",
    ),
    "gitlab": ("gitlab-oidc-project-0.0.3", "gitlab:facutuesca/gitlab-oidc-project/.gitlab-ci.yml"),
    "slsa": ("pypi-attestations-0.0.19-slsa", GITHUB_PYPI_ATTESTATIONS),
}


@pytest.mark.parametrize(("key", "pin"), list(PINS_THAT_MATCH.values()), ids=list(PINS_THAT_MATCH))
def test_matching_publisher_pin_verifies(
    real: Path, cli: Callable[..., Run], key: str, pin: str
) -> None:
    pair = PAIRS[key]
    assert_verified(cli(*pair.args(real), "--publisher", pin), pair.dist, pair.identity)


@by_pair(PAIRS)
def test_other_sigstore_instance_root_is_refused(
    real: Path, cli: Callable[..., Run], pair: Pair
) -> None:
    args = pair.args(real)
    args[-1] = pair.other_root(real)  # staging for production pairs, and the reverse
    assert_refused(cli(*args), pair.dist, "invalid", "signature check failed: ")


def test_json_report(real: Path, cli: Callable[..., Run], tmp_path: Path) -> None:
    good = PAIRS["pypi-attestations-0.0.30-whl"]
    bad = PAIRS["abi3info-2024.10.8-whl"]
    tampered = tmp_path / bad.dist
    tampered.write_bytes((real / bad.dist).read_bytes() + b"\0")
    shutil.copy(real / bad.attestation, tmp_path / bad.attestation)

    run = cli(
        "verify",
        real / good.dist,
        tampered,
        "--trust-root",
        real / "trusted_root.production.json",
        "--format",
        "json",
    )

    assert run.code == 1
    doc = json.loads(run.out)
    assert doc["report_version"] == 1
    assert doc["command"] == "verify"
    assert doc["outcome"] == "refused"
    assert doc["exit_code"] == 1
    assert doc["summary"] == {"verified": 1, "invalid": 1}
    verified, invalid = doc["files"]
    assert verified["filename"] == good.dist
    assert verified["status"] == "verified"
    assert verified["identities"] == [good.identity]
    assert verified["publishers"] == [
        {
            "kind": "GitHub",
            "repository": "pypi/pypi-attestations",
            "workflow": "release.yml",
            "environment": "pypi",
        }
    ]
    assert verified["reason"] == ""
    assert invalid["filename"] == bad.dist
    assert invalid["status"] == "invalid"
    assert invalid["identities"] == []
    assert invalid["publishers"] == []
    assert invalid["reason"].startswith("digest mismatch: ")


def test_json_report_to_output_file(real: Path, cli: Callable[..., Run], tmp_path: Path) -> None:
    pair = PAIRS["gitlab-oidc-project-0.0.3"]
    report = tmp_path / "report.json"
    run = cli(*pair.args(real), "--format", "json", "--output", report)
    assert run.code == 0
    assert run.out == ""
    doc = json.loads(report.read_text())
    assert doc["outcome"] == "ok"
    assert doc["exit_code"] == 0
    assert doc["summary"] == {"verified": 1}
    (entry,) = doc["files"]
    assert entry["identities"] == [pair.identity]
    assert entry["publishers"] == [
        {
            "kind": "GitLab",
            "repository": "facutuesca/gitlab-oidc-project",
            "workflow_filepath": ".gitlab-ci.yml",
        }
    ]


def test_missing_provenance_is_refused_by_verify(real: Path, cli: Callable[..., Run]) -> None:
    """``verify`` is an explicit check: a file without provenance is not a pass."""
    pair = PAIRS["gitlab-oidc-project-0.0.3"]  # no .provenance next to it
    run = cli("verify", real / pair.dist, "--trust-root", pair.root(real))
    assert run.code == 1
    assert run.row(pair.dist).split()[0] == "missing"
    assert "no provenance" in run.row(pair.dist)


# -- minted attestations ------------------------------------------------------------------

DEMO = "demo_pkg-1.0-py3-none-any.whl"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    path = tmp_path / DEMO
    path.write_bytes(b"a wheel's bytes, for the purpose of this test")
    return path


def write_provenance(dist: Path, provenance: dict[str, Any]) -> Path:
    path = dist.with_name(dist.name + ".provenance")
    path.write_text(json.dumps(provenance))
    return path


@dataclass(frozen=True)
class Broken:
    faults: ts.Faults
    reason: str


# One case per Faults knob; the reason is what the user reads in the refusal.
FAULTS = {
    "expired_cert": Broken(ts.Faults(expired_cert=True), "not valid at validation time"),
    "untrusted_ca": Broken(
        ts.Faults(untrusted_ca=True), "signature check failed: failed to build timestamp cert"
    ),
    "oidc_issuer": Broken(
        ts.Faults(oidc_issuer="https://token.example.invalid"),
        "signer does not match the publisher the index names: got oidc:"
        "https://github.com/octo/demo/.github/workflows/release.yml@refs/tags/v1.0.0 "
        "(issuer https://token.example.invalid), expected github:octo/demo/release.yml",
    ),
    "sct_unknown_log": Broken(
        ts.Faults(sct_unknown_log=True), "signature check failed: failed to verify SCT"
    ),
    "sct_invalid": Broken(
        ts.Faults(sct_invalid=True), "signature check failed: failed to verify SCT"
    ),
    "no_sct": Broken(ts.Faults(no_sct=True), "signed certificate timestamp"),
    "bad_inclusion_proof": Broken(
        ts.Faults(bad_inclusion_proof=True), "signature check failed: invalid log entry: inclusion"
    ),
    "checkpoint_wrong_key": Broken(
        ts.Faults(checkpoint_wrong_key=True), "invalid log entry: checkpoint: invalid signature"
    ),
    "bad_set": Broken(ts.Faults(bad_set=True), "invalid log entry: SET: invalid inclusion promise"),
    "log_body_mismatch": Broken(
        ts.Faults(log_body_mismatch=True), "log entry signatures do not match bundle"
    ),
    "signature_over_other_payload": Broken(
        ts.Faults(signature_over_other_payload=True), "signature check failed: DSSE: invalid"
    ),
    "no_code_signing_eku": Broken(ts.Faults(no_code_signing_eku=True), "code signing"),
    "no_key_usage": Broken(ts.Faults(no_key_usage=True), "signature check failed: No <class"),
    "no_inclusion_promise": Broken(
        ts.Faults(no_inclusion_promise=True), "malformed attestation: bundle must contain an incl"
    ),
    "subject_digest": Broken(
        ts.Faults(subject_digest="ab" * 32), f"the attestation signs {'ab' * 32}"
    ),
    "subject_name": Broken(
        ts.Faults(subject_name="demo_pkg-1.1-py3-none-any.whl"),
        f"attestation is for another file: got 'demo_pkg-1.1-py3-none-any.whl', expected '{DEMO}'",
    ),
    "two_subjects": Broken(
        ts.Faults(two_subjects=True), "statement has 2 subjects, expected exactly 1"
    ),
    "predicate_type": Broken(
        ts.Faults(predicate_type="https://example.invalid/predicate/v1"),
        "unknown predicate type 'https://example.invalid/predicate/v1'",
    ),
}


def test_every_fault_knob_has_a_case() -> None:
    assert set(FAULTS) == {f.name for f in dataclasses.fields(ts.Faults)}
    for name, case in FAULTS.items():
        changed = [f.name for f in dataclasses.fields(ts.Faults) if getattr(case.faults, f.name)]
        assert changed == [name]


@pytest.mark.parametrize("broken", list(FAULTS.values()), ids=list(FAULTS))
def test_minted_fault_is_refused(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
    broken: Broken,
) -> None:
    identity = ts.github("octo/demo")
    write_provenance(dist, sigstore_instance.provenance(dist, identity, faults=broken.faults))

    run = cli("verify", dist, "--trust-root", minted_root)

    assert_refused(run, DEMO, "invalid", broken.reason)


def test_minted_without_faults_verifies(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
) -> None:
    """The control for the fault cases: the same mint, unbroken, passes."""
    write_provenance(dist, sigstore_instance.provenance(dist, ts.github("octo/demo")))
    assert_verified(
        cli("verify", dist, "--trust-root", minted_root), DEMO, "github:octo/demo/release.yml"
    )


def test_another_instances_root_is_refused(
    sigstore_instance: ts.ThrowawaySigstore, cli: Callable[..., Run], dist: Path, tmp_path: Path
) -> None:
    other_root = ts.ThrowawaySigstore().write_trusted_root(tmp_path / "other_root.json")
    write_provenance(dist, sigstore_instance.provenance(dist, ts.github("octo/demo")))

    run = cli("verify", dist, "--trust-root", other_root)

    assert_refused(run, DEMO, "invalid", "signature check failed: ")


MINTED_IDENTITIES = {
    "github-environment": (
        ts.github("octo-org/demo", "publish.yml", environment="pypi"),
        "github:octo-org/demo/publish.yml@pypi",
    ),
    "gitlab-nested-group-environment": (
        ts.gitlab("group/subgroup/demo", environment="production"),
        "gitlab:group/subgroup/demo/.gitlab-ci.yml@production",
    ),
    "gitlab-path-with-slash": (
        ts.gitlab("group/demo", "ci/release.yml"),
        "gitlab:group/demo//ci/release.yml",
    ),
    "google": (
        ts.google("publisher@demo-project.iam.gserviceaccount.com"),
        "google:publisher@demo-project.iam.gserviceaccount.com",
    ),
    "circleci": (
        ts.circleci("0a1b-project", "2c3d-pipeline"),
        "circleci:0a1b-project/2c3d-pipeline",
    ),
    "circleci-vcs": (
        ts.circleci(
            "0a1b-project",
            "2c3d-pipeline",
            vcs_origin="github.com/octo/demo",
            vcs_ref="refs/tags/v1",
        ),
        "circleci:0a1b-project/2c3d-pipeline",
    ),
}


@pytest.mark.parametrize(
    ("identity", "text"), list(MINTED_IDENTITIES.values()), ids=list(MINTED_IDENTITIES)
)
def test_minted_identity_verifies_and_is_shown(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
    identity: ts.Identity,
    text: str,
) -> None:
    predicates = (ts.PUBLISH_V1, ts.SLSA_PROVENANCE_V1)  # two attestations, one identity
    write_provenance(dist, sigstore_instance.provenance(dist, identity, predicate_types=predicates))

    assert_verified(cli("verify", dist, "--trust-root", minted_root), DEMO, text)
    # Pinning the identity shown is accepted: the text form is the pin form.
    pinned = cli("verify", dist, "--trust-root", minted_root, "--publisher", text)
    assert_verified(pinned, DEMO, text)


MINTED_WRONG_PINS = {
    "google-other-account": (
        ts.google("publisher@demo-project.iam.gserviceaccount.com"),
        "google:attacker@demo-project.iam.gserviceaccount.com",
    ),
    "circleci-other-pipeline": (
        ts.circleci("0a1b-project", "2c3d-pipeline"),
        "circleci:0a1b-project/ffff-pipeline",
    ),
    "gitlab-parent-group": (
        ts.gitlab("group/subgroup/demo"),
        "gitlab:group/demo/.gitlab-ci.yml",
    ),
}


@pytest.mark.parametrize(
    ("identity", "pin"), list(MINTED_WRONG_PINS.values()), ids=list(MINTED_WRONG_PINS)
)
def test_minted_identity_with_wrong_pin_is_refused(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
    identity: ts.Identity,
    pin: str,
) -> None:
    write_provenance(dist, sigstore_instance.provenance(dist, identity))
    run = cli("verify", dist, "--trust-root", minted_root, "--publisher", pin)
    assert_refused(run, DEMO, "unexpected-publisher", f", signed by {pin}")


@pytest.mark.parametrize("bad_first", [False, True], ids=["bad-last", "bad-first"])
@pytest.mark.parametrize("layout", ["two-bundles", "one-bundle"])
def test_one_bad_attestation_next_to_a_good_one_is_refused(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
    bad_first: bool,
    layout: str,
) -> None:
    identity = ts.github("octo/demo")
    good = sigstore_instance.provenance(dist, identity)
    bad = sigstore_instance.provenance(dist, identity, faults=ts.Faults(checkpoint_wrong_key=True))
    bundles = [good["attestation_bundles"][0], bad["attestation_bundles"][0]]
    if bad_first:
        bundles.reverse()
    if layout == "one-bundle":
        merged = [a for b in bundles for a in b["attestations"]]
        bundles = [{"publisher": identity.publisher_json(), "attestations": merged}]
    write_provenance(dist, {"version": 1, "attestation_bundles": bundles})

    run = cli("verify", dist, "--trust-root", minted_root)

    assert_refused(run, DEMO, "invalid", "checkpoint: invalid signature")


CLAIM_MISMATCHES = {
    "github-other-repository": (
        ts.github("octo/demo"),
        {"repository": "attacker/demo"},
        "signer does not match the publisher the index names: got github:octo/demo/release.yml, "
        "expected github:attacker/demo/release.yml",
    ),
    "github-other-workflow": (
        ts.github("octo/demo"),
        {"workflow": "other.yml"},
        "does not match the publisher the index names",
    ),
    "github-other-environment": (
        ts.github("octo/demo", environment="pypi"),
        {"environment": "testpypi"},
        "signer's environment is 'pypi', the index names 'testpypi'",
    ),
    "gitlab-other-path": (
        ts.gitlab("group/subgroup/demo", "ci/release.yml"),
        {"workflow_filepath": ".gitlab-ci.yml"},
        "does not match the publisher the index names",
    ),
    "google-other-email": (
        ts.google("publisher@demo-project.iam.gserviceaccount.com"),
        {"email": "other@demo-project.iam.gserviceaccount.com"},
        "does not match the publisher the index names",
    ),
    "circleci-other-project": (
        ts.circleci("0a1b-project", "2c3d-pipeline"),
        {"project_id": "ffff-project"},
        "does not match the publisher the index names",
    ),
    # pypi-attestations' CircleCI policy checks vcs_origin and vcs_ref when the publisher
    # names them (_CircleCITrustedPublisherPolicy); a certificate from another repository
    # or ref does not match what the index says.
    "circleci-other-vcs-origin": (
        ts.circleci("0a1b-project", "2c3d-pipeline", vcs_origin="github.com/attacker/fork"),
        {"vcs_origin": "github.com/octo/demo"},
        "github.com/octo/demo",
    ),
    "circleci-other-vcs-ref": (
        ts.circleci(
            "0a1b-project",
            "2c3d-pipeline",
            vcs_origin="github.com/octo/demo",
            vcs_ref="refs/heads/attacker",
        ),
        {"vcs_ref": "refs/tags/v1"},
        "refs/tags/v1",
    ),
    "kind-github-for-gitlab-cert": (
        ts.gitlab("octo/demo", "release.yml"),
        {"kind": "GitHub", "repository": "octo/demo", "workflow": "release.yml"},
        "does not match the publisher the index names",
    ),
}


@pytest.mark.parametrize(
    ("identity", "claim", "reason"), list(CLAIM_MISMATCHES.values()), ids=list(CLAIM_MISMATCHES)
)
def test_publisher_claim_that_contradicts_the_certificate_is_refused(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
    identity: ts.Identity,
    claim: dict[str, str],
    reason: str,
) -> None:
    publisher = {**identity.publisher_json(), **claim}
    if claim.get("kind") == "GitHub":
        publisher = claim
    write_provenance(dist, sigstore_instance.provenance(dist, identity, publisher=publisher))

    run = cli("verify", dist, "--trust-root", minted_root)

    assert_refused(run, DEMO, "invalid", reason)


def test_certificate_environment_is_shown_when_the_index_omits_it(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
) -> None:
    """The identity comes from the certificate, not from the index's publisher claim."""
    identity = ts.github("octo/demo", environment="pypi")
    publisher = {**identity.publisher_json(), "environment": None}
    write_provenance(dist, sigstore_instance.provenance(dist, identity, publisher=publisher))
    run = cli("verify", dist, "--trust-root", minted_root)
    assert_verified(run, DEMO, "github:octo/demo/release.yml@pypi")


def test_index_may_spell_a_github_environment_in_lower_case(
    sigstore_instance: ts.ThrowawaySigstore,
    minted_root: Path,
    cli: Callable[..., Run],
    dist: Path,
) -> None:
    """PyPI stores GitHub environment names lower-cased and matches them case-insensitively
    (pypi/warehouse, warehouse/oidc/models/github.py, ``_check_environment``), so its
    provenance can name ``release`` for a certificate that says ``Release``. That is the
    same publisher, not a contradiction."""
    identity = ts.github("octo/demo", environment="Release")
    publisher = {**identity.publisher_json(), "environment": "release"}
    write_provenance(dist, sigstore_instance.provenance(dist, identity, publisher=publisher))
    run = cli("verify", dist, "--trust-root", minted_root)
    assert_verified(run, DEMO, "github:octo/demo/release.yml@Release")


def test_hostile_provenance_file_gives_one_line_reason(
    minted_root: Path, cli: Callable[..., Run], dist: Path
) -> None:
    dist.with_name(dist.name + ".provenance").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    run = cli("verify", dist, "--trust-root", minted_root)
    assert_refused(run, DEMO, "invalid", "provenance is nested too deeply")
    # One line says why, and nothing of the 200 KB body is echoed back.
    assert sum("nested too deeply" in line for line in (run.out + run.err).splitlines()) == 1
    assert len(run.out + run.err) < 1000


# -- hostile provenance bodies ------------------------------------------------------------


def _real_bundle() -> dict[str, Any]:
    """A well-formed bundle (minted, so these cases do not need the real fixtures)."""
    sigstore = ts.ThrowawaySigstore(seed=b"hostile")
    provenance = sigstore.provenance_for(DEMO, "00" * 32, ts.github("octo/demo"))
    bundle: dict[str, Any] = provenance["attestation_bundles"][0]
    return bundle


def _provenance(**bundle: Any) -> bytes:
    return json.dumps(
        {"version": 1, "attestation_bundles": [{**_real_bundle(), **bundle}]}
    ).encode()


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "not-json": (lambda: b"<html><body>502 Bad Gateway</body></html>", "not valid JSON"),
    "not-utf8": (lambda: b"\xff\xfe\xfd{", "not valid JSON"),
    "empty": (lambda: b"", "not valid JSON"),
    "json-list": (lambda: b"[]", "is a JSON list, not an object"),
    "json-string": (lambda: b'"provenance"', "not an object"),
    "json-null": (lambda: b"null", "not an object"),
    "missing-bundles": (lambda: b'{"version": 1}', "attestation_bundles"),
    "wrong-version": (
        lambda: json.dumps({"version": 2, "attestation_bundles": [_real_bundle()]}).encode(),
        "version",
    ),
    "bundle-without-publisher": (
        lambda: json.dumps(
            {
                "version": 1,
                "attestation_bundles": [{"attestations": _real_bundle()["attestations"]}],
            }
        ).encode(),
        "publisher",
    ),
    "attestation-without-envelope": (
        lambda: _provenance(
            attestations=[
                {k: v for k, v in _real_bundle()["attestations"][0].items() if k != "envelope"}
            ]
        ),
        "envelope",
    ),
    "publisher-not-an-object": (lambda: _provenance(publisher="GitHub"), "publisher"),
    "empty-bundles": (
        lambda: b'{"version": 1, "attestation_bundles": []}',
        "provenance holds no attestations",
    ),
    "empty-attestation-list": (
        lambda: _provenance(attestations=[]),
        "provenance holds no attestations",
    ),
    "unknown-publisher-kind": (
        lambda: _provenance(publisher={"kind": "ActiveState", "organization": "octo"}),
        "ActiveState",
    ),
    "nested-100000-lists": (
        lambda: b"[" * 100_000 + b"]" * 100_000,
        "provenance is nested too deeply",
    ),
    "nested-100000-objects": (
        lambda: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "provenance is nested too deeply",
    ),
    "nested-inside-bundles": (
        lambda: b'{"version":1,"attestation_bundles":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "provenance is nested too deeply",
    ),
    "over-2-mib": (
        lambda: b'{"version":1,"attestation_bundles":[],"pad":"' + b"x" * (2 << 20) + b'"}',
        "over the 2097152-byte limit",
    ),
    "huge-integer": (lambda: b'{"version": ' + b"9" * 5000 + b"}", "not valid JSON"),
    "too-many-attestations": (
        lambda: _provenance(attestations=_real_bundle()["attestations"] * 33),
        "33 attestations, over the limit of 32",
    ),
}


@pytest.mark.parametrize(("make", "reason"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_provenance_body_is_a_verification_error(
    make: Callable[[], bytes], reason: str
) -> None:
    with pytest.raises(VerificationError) as err:
        parse_provenance(make())
    message = str(err.value)
    assert reason in message
    assert "\n" not in message
    assert len(message) <= 400


def test_exactly_2_mib_is_still_parsed() -> None:
    """The limit is on size, not a reason to refuse a large but legitimate provenance."""
    body = _provenance()
    padded = body[:-1] + b', "pad": "' + b"x" * ((2 << 20) - len(body) - 11) + b'"}'
    assert len(padded) == 2 << 20
    assert len(parse_provenance(padded).items) == 1


def test_bare_attestation_is_only_accepted_where_allowed() -> None:
    bare = json.dumps(_real_bundle()["attestations"][0]).encode()
    assert len(parse_provenance(bare, allow_bare=True).items) == 1
    with pytest.raises(VerificationError):
        parse_provenance(bare)
