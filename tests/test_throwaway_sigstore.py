"""The throwaway Sigstore's attestations pass, or fail, the *unmodified* sigstore verifier."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pypi_attestations
import pytest
from cryptography import x509
from sigstore.errors import VerificationError
from sigstore.models import InvalidBundle, TrustedRoot
from sigstore.verify import Verifier

from tests.support import throwaway_sigstore as ts

FILENAME = "demo_pkg-1.0-py3-none-any.whl"
SHA256 = "5e" * 32
REAL_FIXTURES = Path(
    os.environ.get(
        "PIP_ATTEST_REAL_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real",
    )
)

IDENTITIES = {
    "github": ts.github("octo-org/demo"),
    "github-environment": ts.github("octo-org/demo", "publish.yml", environment="pypi"),
    "gitlab": ts.gitlab("group/subgroup/demo", environment="production"),
    "google": ts.google("publisher@demo-project.iam.gserviceaccount.com"),
    "circleci": ts.circleci("0a1b-project", "2c3d-pipeline"),
    "circleci-vcs": ts.circleci(
        "0a1b-project",
        "2c3d-pipeline",
        vcs_origin="github.com/octo-org/demo",
        vcs_ref="refs/tags/v1",
    ),
}


@pytest.fixture(scope="module")
def sigstore() -> ts.ThrowawaySigstore:
    return ts.ThrowawaySigstore()


@pytest.fixture(scope="module")
def verifier(sigstore: ts.ThrowawaySigstore, tmp_path_factory: pytest.TempPathFactory) -> Verifier:
    path = sigstore.write_trusted_root(tmp_path_factory.mktemp("root") / "trusted_root.json")
    return Verifier(trusted_root=TrustedRoot.from_file(str(path)))


def verify(verifier: Verifier, provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """Verify every attestation as pip-attest does; return the decoded statements."""
    parsed = pypi_attestations.Provenance.model_validate(provenance)
    statements = []
    for bundle in parsed.attestation_bundles:
        policy = bundle.publisher._as_policy()
        for attestation in bundle.attestations:
            payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), policy)
            assert payload_type == "application/vnd.in-toto+json"
            statements.append(json.loads(payload))
    return statements


def leaf(attestation: dict[str, Any]) -> x509.Certificate:
    der = base64.b64decode(attestation["verification_material"]["certificate"])
    return x509.load_der_x509_certificate(der)


def claim(cert: x509.Certificate, oid: str) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(ext, x509.UnrecognizedExtension)
    return ext.value


# --- what verifies ---


@pytest.mark.parametrize("predicate_type", [ts.PUBLISH_V1, ts.SLSA_PROVENANCE_V1])
@pytest.mark.parametrize("name", IDENTITIES)
def test_minted_provenance_verifies(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier, name: str, predicate_type: str
) -> None:
    identity = IDENTITIES[name]
    provenance = sigstore.provenance_for(
        FILENAME, SHA256, identity, predicate_types=[predicate_type]
    )

    [statement] = verify(verifier, provenance)

    assert statement["subject"] == [{"name": FILENAME, "digest": {"sha256": SHA256}}]
    assert statement["predicateType"] == predicate_type


def test_provenance_from_a_file_has_both_predicate_types(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier, tmp_path: Path
) -> None:
    dist = tmp_path / "demo_pkg-1.0.tar.gz"
    dist.write_bytes(b"an sdist, as far as this test cares")
    identity = IDENTITIES["github-environment"]

    provenance = sigstore.provenance(
        dist, identity, predicate_types=(ts.PUBLISH_V1, ts.SLSA_PROVENANCE_V1)
    )

    statements = verify(verifier, provenance)
    sha256 = pypi_attestations.Distribution.from_file(dist).digest
    assert [s["subject"][0]["name"] for s in statements] == [dist.name, dist.name]
    assert [s["subject"][0]["digest"]["sha256"] for s in statements] == [sha256, sha256]
    assert [s["predicateType"] for s in statements] == [ts.PUBLISH_V1, ts.SLSA_PROVENANCE_V1]
    assert provenance["attestation_bundles"][0]["publisher"] == {
        "kind": "GitHub",
        "repository": "octo-org/demo",
        "workflow": "publish.yml",
        "environment": "pypi",
    }


@pytest.mark.parametrize("name", IDENTITIES)
def test_publisher_json_is_what_pypi_attestations_serialises(name: str) -> None:
    publisher_json = IDENTITIES[name].publisher_json()
    bundle = pypi_attestations.AttestationBundle.model_validate(
        {"publisher": publisher_json, "attestations": []}
    )
    assert bundle.publisher.model_dump(mode="json") == publisher_json


def test_environment_claim_is_present_only_with_an_environment(
    sigstore: ts.ThrowawaySigstore,
) -> None:
    with_env = leaf(sigstore.attest(FILENAME, SHA256, IDENTITIES["github-environment"]))
    without = leaf(sigstore.attest(FILENAME, SHA256, IDENTITIES["github"]))

    assert claim(with_env, ts.OID_DEPLOYMENT_ENVIRONMENT) == b"\x0c\x04pypi"
    assert claim(without, ts.OID_DEPLOYMENT_ENVIRONMENT) is None
    ref = b"refs/tags/v1.0.0"
    assert claim(without, ts.OID_SOURCE_REPOSITORY_REF) == b"\x0c" + bytes([len(ref)]) + ref
    assert claim(without, ts.OID_SOURCE_REPOSITORY_DIGEST) is not None


def test_with_claim_and_publisher_override(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier
) -> None:
    # The certificate says "staging", the index's publisher object says "pypi".
    identity = IDENTITIES["github-environment"].with_claim(ts.OID_DEPLOYMENT_ENVIRONMENT, "staging")
    provenance = sigstore.provenance_for(
        FILENAME, SHA256, identity, publisher=IDENTITIES["github-environment"].publisher_json()
    )

    verify(verifier, provenance)  # pypi-attestations 0.0.30 does not check the environment
    attestation = provenance["attestation_bundles"][0]["attestations"][0]
    assert claim(leaf(attestation), ts.OID_DEPLOYMENT_ENVIRONMENT) == b"\x0c\x07staging"
    assert provenance["attestation_bundles"][0]["publisher"]["environment"] == "pypi"


def test_signed_at_sets_the_leaf_validity_and_integrated_time(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier
) -> None:
    signed_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=5)
    attestation = sigstore.attest(FILENAME, SHA256, IDENTITIES["gitlab"], signed_at=signed_at)

    cert = leaf(attestation)
    assert cert.not_valid_before_utc == signed_at
    assert cert.not_valid_after_utc == signed_at + timedelta(minutes=10)
    entry = attestation["verification_material"]["transparency_entries"][0]
    assert entry["integratedTime"] == str(int(signed_at.timestamp()) + 1)
    provenance = {
        "version": 1,
        "attestation_bundles": [
            {"publisher": IDENTITIES["gitlab"].publisher_json(), "attestations": [attestation]}
        ],
    }
    verify(verifier, provenance)


def test_wire_format_matches_a_real_pypi_provenance(sigstore: ts.ThrowawaySigstore) -> None:
    real_path = REAL_FIXTURES / "pypi_attestations-0.0.30-py3-none-any.whl.provenance"
    if not real_path.is_file():
        pytest.skip(f"real fixtures not found at {REAL_FIXTURES} (set PIP_ATTEST_REAL_FIXTURES)")
    real = json.loads(real_path.read_text())
    minted = sigstore.provenance_for(FILENAME, SHA256, IDENTITIES["github-environment"])

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [shape(value[0])] if value else []
        return type(value).__name__

    assert shape(minted) == shape(real)
    real_statement = base64.b64decode(
        real["attestation_bundles"][0]["attestations"][0]["envelope"]["statement"]
    )
    minted_statement = base64.b64decode(
        minted["attestation_bundles"][0]["attestations"][0]["envelope"]["statement"]
    )
    assert list(json.loads(minted_statement)) == list(json.loads(real_statement))
    assert b": " not in minted_statement  # compact, like PyPI's


# --- what fails ---

# Each knob, and a fragment of the error that proves the intended check is the one failing.
SIGSTORE_FAULTS = {
    "expired_cert": (ts.Faults(expired_cert=True), "certificate chain"),
    "untrusted_ca": (ts.Faults(untrusted_ca=True), "certificate chain"),
    "oidc_issuer": (ts.Faults(oidc_issuer="https://evil.example"), "https://evil.example"),
    "sct_unknown_log": (ts.Faults(sct_unknown_log=True), "SCT"),
    "sct_invalid": (ts.Faults(sct_invalid=True), "SCT"),
    "no_sct": (ts.Faults(no_sct=True), "signed certificate timestamp"),
    "bad_inclusion_proof": (ts.Faults(bad_inclusion_proof=True), "inclusion proof"),
    "checkpoint_wrong_key": (ts.Faults(checkpoint_wrong_key=True), "checkpoint"),
    "bad_set": (ts.Faults(bad_set=True), "SET"),
    "log_body_mismatch": (ts.Faults(log_body_mismatch=True), "signatures do not match"),
    "signature_over_other_payload": (ts.Faults(signature_over_other_payload=True), "DSSE"),
    "no_code_signing_eku": (ts.Faults(no_code_signing_eku=True), "code signing"),
}


@pytest.mark.parametrize("name", SIGSTORE_FAULTS)
def test_each_fault_fails_sigstore_verification(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier, name: str
) -> None:
    faults, message = SIGSTORE_FAULTS[name]
    provenance = sigstore.provenance_for(
        FILENAME, SHA256, IDENTITIES["github-environment"], faults=faults
    )

    with pytest.raises(VerificationError, match=message.replace(".", r"\.")):
        verify(verifier, provenance)


@pytest.mark.parametrize("name", IDENTITIES)
def test_wrong_issuer_fails_every_publisher_policy(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier, name: str
) -> None:
    faults = ts.Faults(oidc_issuer="https://evil.example")
    provenance = sigstore.provenance_for(FILENAME, SHA256, IDENTITIES[name], faults=faults)

    with pytest.raises(VerificationError, match="evil"):
        verify(verifier, provenance)


def test_missing_key_usage_raises_extension_not_found(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier
) -> None:
    # sigstore 4.5.1 lets cryptography's error through: pip-attest must catch it too.
    faults = ts.Faults(no_key_usage=True)
    provenance = sigstore.provenance_for(FILENAME, SHA256, IDENTITIES["github"], faults=faults)

    with pytest.raises(x509.ExtensionNotFound):
        verify(verifier, provenance)


def test_missing_inclusion_promise_is_an_invalid_bundle(sigstore: ts.ThrowawaySigstore) -> None:
    attestation = sigstore.attest(
        FILENAME, SHA256, IDENTITIES["github"], faults=ts.Faults(no_inclusion_promise=True)
    )

    with pytest.raises(InvalidBundle, match="inclusion promise"):
        pypi_attestations.Attestation.model_validate(attestation).to_bundle()


STATEMENT_FAULTS = {
    "subject_digest": ts.Faults(subject_digest="00" * 32),
    "subject_name": ts.Faults(subject_name="other_pkg-1.0-py3-none-any.whl"),
    "two_subjects": ts.Faults(two_subjects=True),
    "predicate_type": ts.Faults(predicate_type="https://example.invalid/unknown/v1"),
}


@pytest.mark.parametrize("name", STATEMENT_FAULTS)
def test_statement_faults_pass_sigstore_but_change_the_statement(
    sigstore: ts.ThrowawaySigstore, verifier: Verifier, name: str
) -> None:
    # sigstore verifies the signature, not what was signed: rejecting these is our job.
    provenance = sigstore.provenance_for(
        FILENAME, SHA256, IDENTITIES["gitlab"], faults=STATEMENT_FAULTS[name]
    )

    [statement] = verify(verifier, provenance)

    good_subject = {"name": FILENAME, "digest": {"sha256": SHA256}}
    if name == "predicate_type":
        assert statement["subject"] == [good_subject]
        assert statement["predicateType"] == "https://example.invalid/unknown/v1"
    elif name == "two_subjects":
        assert len(statement["subject"]) == 2
        assert statement["subject"][0] == good_subject
    else:
        assert statement["subject"] != [good_subject]
        assert len(statement["subject"]) == 1
        assert statement["predicateType"] == ts.PUBLISH_V1


def test_another_instance_trust_root_rejects(
    sigstore: ts.ThrowawaySigstore, tmp_path: Path
) -> None:
    other = ts.ThrowawaySigstore()
    path = other.write_trusted_root(tmp_path / "other_root.json")
    other_verifier = Verifier(trusted_root=TrustedRoot.from_file(str(path)))
    provenance = sigstore.provenance_for(FILENAME, SHA256, IDENTITIES["github"])

    with pytest.raises(VerificationError):
        verify(other_verifier, provenance)
    verify(other_verifier, other.provenance_for(FILENAME, SHA256, IDENTITIES["github"]))


def test_production_trust_root_rejects(sigstore: ts.ThrowawaySigstore) -> None:
    path = REAL_FIXTURES / "trusted_root.production.json"
    if not path.is_file():
        pytest.skip(f"real fixtures not found at {REAL_FIXTURES} (set PIP_ATTEST_REAL_FIXTURES)")
    production = Verifier(trusted_root=TrustedRoot.from_file(str(path)))

    with pytest.raises(VerificationError):
        verify(production, sigstore.provenance_for(FILENAME, SHA256, IDENTITIES["github"]))


# --- the instance itself ---


def test_keys_are_deterministic_for_a_seed() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)

    def keys(seed: bytes) -> tuple[Any, ...]:
        root = ts.ThrowawaySigstore(seed=seed, now=now).trusted_root()
        chain = root["certificateAuthorities"][0]["certChain"]["certificates"]
        certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in chain]
        return (
            root["tlogs"],
            root["ctlogs"],
            [c.public_key() for c in certs],
            [c.serial_number for c in certs],
            root["certificateAuthorities"][0]["validFor"],
        )

    assert keys(b"pip-attest") == keys(b"pip-attest")
    assert keys(b"pip-attest") != keys(b"another")
    assert keys(b"pip-attest")[-1] == {"start": "2025-05-31T12:00:00Z"}


def test_seeded_instance_in_the_past_still_verifies(tmp_path: Path) -> None:
    sigstore = ts.ThrowawaySigstore(seed=b"x", now=datetime(2024, 1, 1, tzinfo=timezone.utc))
    path = sigstore.write_trusted_root(tmp_path / "trusted_root.json")
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(path)))

    verify(verifier, sigstore.provenance_for(FILENAME, SHA256, IDENTITIES["google"]))


def test_two_hundred_mints_all_verify(tmp_path: Path) -> None:
    # A fresh instance, so the log grows through many tree shapes from the start.
    sigstore = ts.ThrowawaySigstore()
    path = sigstore.write_trusted_root(tmp_path / "trusted_root.json")
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(path)))
    identity = IDENTITIES["github-environment"]

    provenances = [
        sigstore.provenance_for(f"pkg{i}-1.0.tar.gz", f"{i:064x}", identity) for i in range(200)
    ]

    for i, provenance in enumerate(provenances):
        [statement] = verify(verifier, provenance)
        assert statement["subject"][0]["name"] == f"pkg{i}-1.0.tar.gz"
    proofs = [
        p["attestation_bundles"][0]["attestations"][0]["verification_material"][
            "transparency_entries"
        ][0]["inclusionProof"]
        for p in provenances
    ]
    assert {len(p["hashes"]) for p in proofs} == set(range(1, 8))
    assert [int(p["treeSize"]) for p in proofs] == list(range(2, 202))
