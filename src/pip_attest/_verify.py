"""Attestation → verified identity, against an explicit trust root, offline.

sigstore's ``Verifier`` checks the certificate chain, the SCT, the Rekor inclusion proof,
checkpoint and promise, and the DSSE signature. Everything PEP 740 adds on top is checked
here (the same rules as ``pypi_attestations.Attestation.verify``, which we cannot call: it
always builds its own production verifier):

* the payload is an in-toto statement with exactly one subject;
* the subject's filename parses to the same distribution as the file pip will use, and
  names the project and version pip installs it as;
* the subject's sha256 equals the hash of the bytes pip actually has;
* the predicate type is one PyPI defines.

The identity we report is read from the *certificate*, never taken from the index's
``publisher`` claim; the claim must agree with it.

Importing this module imports sigstore and pypi-attestations (costly); callers import
it lazily, only when a file really needs cryptographic verification.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypi_attestations
from cryptography import x509
from pydantic import ValidationError
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import VerificationPolicy

from pip_attest._errors import TrustError, VerificationError
from pip_attest._fileio import read_regular_file
from pip_attest._fulcio import (
    SOURCE_REPOSITORY_REF,
    SOURCE_REPOSITORY_URI,
    FulcioExtensions,
    identity_from_certificate,
)
from pip_attest._identity import Identity, identity_from_publisher, same_environment
from pip_attest._model import Artifact
from pip_attest._names import parse_any, parse_version, same_file
from pip_attest._provenance import MAX_PROVENANCE_BYTES
from pip_attest._text import one_line, plain, shown

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
INTOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
KNOWN_PREDICATES = frozenset(t.value for t in pypi_attestations.AttestationType)

# PyPI attaches one or two attestations per file; anything far beyond that is an attempt to
# make us spend CPU, and is refused before any cryptography runs.
MAX_ATTESTATIONS = 32


@dataclass(frozen=True, slots=True)
class Attestations:
    """A parsed provenance object: each attestation with the publisher its bundle claims.

    A bare attestation (``pip-attest verify --provenance X.attestation``) has no claim.
    """

    items: tuple[tuple[dict[str, Any] | None, pypi_attestations.Attestation], ...]


def read_provenance_file(path: Path) -> bytes:
    """Read a local provenance file: a regular file under the size cap, opened non-blocking
    (a 50 GB, sparse or endless file is never loaded; a FIFO never waits for a writer)."""
    try:
        return read_regular_file(path, MAX_PROVENANCE_BYTES)
    except OSError as err:
        if err.errno == errno.EFBIG:
            raise VerificationError(
                f"provenance is {path.stat().st_size} bytes, "
                f"over the {MAX_PROVENANCE_BYTES}-byte limit"
            ) from err
        if err.errno == errno.EINVAL:
            raise VerificationError(f"{plain(str(path))} is not a regular file") from err
        raise VerificationError(f"cannot read {plain(str(path))}: {err.strerror}") from err


def parse_provenance(data: bytes, *, allow_bare: bool = False) -> Attestations:
    """Strictly parse a PEP 740 provenance object. Raises :class:`VerificationError`."""
    if len(data) > MAX_PROVENANCE_BYTES:
        raise VerificationError(
            f"provenance is {len(data)} bytes, over the {MAX_PROVENANCE_BYTES}-byte limit"
        )
    try:
        obj = json.loads(data)
    except RecursionError as err:
        raise VerificationError("provenance is nested too deeply") from err
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise VerificationError(f"provenance is not valid JSON: {one_line(err)}") from err
    if not isinstance(obj, dict):
        raise VerificationError(f"provenance is a JSON {_json_kind(obj)}, not an object")
    try:
        if allow_bare and "attestation_bundles" not in obj and "envelope" in obj:
            bare = pypi_attestations.Attestation.model_validate(obj)
            return Attestations(((None, bare),))
        provenance = pypi_attestations.Provenance.model_validate(obj)
    except ValidationError as err:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": str(err)}
        # Locations can hold the body's own keys (a publisher's "claims" mapping): shown
        # escaped and clipped like every other value that came from the network.
        where = plain(".".join(str(p) for p in first.get("loc", ())), 120) or "provenance"
        raise VerificationError(
            f"malformed provenance: {where}: {one_line(Exception(first.get('msg', '')))}"
        ) from err
    except (ValueError, TypeError, RecursionError) as err:
        raise VerificationError(f"malformed provenance: {one_line(err)}") from err
    items = [
        (bundle.publisher.model_dump(), attestation)
        for bundle in provenance.attestation_bundles
        for attestation in bundle.attestations
    ]
    if not items:
        raise VerificationError("provenance holds no attestations")
    if len(items) > MAX_ATTESTATIONS:
        raise VerificationError(
            f"provenance holds {len(items)} attestations, over the limit of {MAX_ATTESTATIONS}"
        )
    return Attestations(tuple(items))


class _AcceptAnySigner:
    """Identity is judged after verification, from the verified certificate.

    sigstore calls the policy in the middle of its checks; a signer identity we can read is
    all we need from it. Raising here instead would only lose the "got X, expected Y"
    wording we produce below. This is not ``UnsafeNoOp``, which logs a warning per call.
    """

    def verify(self, cert: x509.Certificate) -> None:
        return None


_ACCEPT_ANY: VerificationPolicy = _AcceptAnySigner()


def _build_keyrings_once(root: TrustedRoot) -> None:
    """sigstore asks the root for its CT and Rekor keyrings for every bundle, and each call
    parses every key again, a sizeable share of a verification. For one run they depend on the
    root and the purpose alone: build each once."""
    for name in ("ct_keyring", "rekor_keyring"):
        build = getattr(root, name)
        built: dict[Any, Any] = {}

        def once(purpose: Any, _build: Any = build, _built: dict[Any, Any] = built) -> Any:
            if purpose not in _built:
                _built[purpose] = _build(purpose)
            return _built[purpose]

        setattr(root, name, once)


class AttestationVerifier:
    """One sigstore ``Verifier`` per run, built from the cached trust root."""

    def __init__(self, trusted_root: Path) -> None:
        try:
            root = TrustedRoot.from_file(str(trusted_root))
            _build_keyrings_once(root)
            self._verifier = Verifier(trusted_root=root)
        except Exception as err:  # any parse or shape problem is a bad root, never a pass
            raise TrustError(
                f"{trusted_root}: not a usable Sigstore trusted root: {one_line(err)}"
            ) from err

    def verify(self, artifact: Artifact, attestations: Attestations) -> tuple[Identity, ...]:
        """Verify every attestation; return the distinct identities that signed the file.

        All attestations must be valid: one bad attestation next to a good one is a file
        someone tampered with, not a file with one good signature.
        """
        identities: list[Identity] = []
        for claim, attestation in attestations.items:
            identity, cert = self._verify_cert(artifact, attestation)
            if claim is not None:
                _check_claim(identity, claim, cert)
            if identity not in identities:
                identities.append(identity)
        return tuple(identities)

    def _verify_cert(
        self, artifact: Artifact, attestation: pypi_attestations.Attestation
    ) -> tuple[Identity, x509.Certificate]:
        try:
            bundle = attestation.to_bundle()
        except Exception as err:
            raise VerificationError(f"malformed attestation: {one_line(err)}") from err
        try:
            payload_type, payload = self._verifier.verify_dsse(bundle, _ACCEPT_ANY)
        except Exception as err:
            # Not only SigstoreError: a missing KeyUsage/EKU surfaces as ExtensionNotFound, and
            # hostile input can raise anything. Every failure here is a refusal.
            raise VerificationError(f"signature check failed: {one_line(err)}") from err
        if payload_type != INTOTO_PAYLOAD_TYPE:
            raise VerificationError(
                f"payload type is {shown(payload_type)}, expected {INTOTO_PAYLOAD_TYPE!r}"
            )
        check_statement(payload, artifact)
        cert = bundle.signing_certificate
        return identity_from_certificate(cert), cert


def check_statement(payload: bytes, artifact: Artifact) -> str:
    """Check a verified in-toto statement against the file. Returns the predicate type."""
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError) as err:
        raise VerificationError("statement is not valid JSON") from err
    if not isinstance(statement, dict):
        raise VerificationError("statement is not a JSON object")
    if statement.get("_type") != INTOTO_STATEMENT_V1:
        raise VerificationError(
            f"statement type is {shown(statement.get('_type'))}, expected {INTOTO_STATEMENT_V1!r}"
        )
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        count = len(subjects) if isinstance(subjects, list) else 0
        raise VerificationError(f"statement has {count} subjects, expected exactly 1")
    subject = subjects[0]
    if not isinstance(subject, dict):
        raise VerificationError("statement subject is not an object")
    name = subject.get("name")
    digest = subject.get("digest")
    if not isinstance(name, str) or not name:
        raise VerificationError("statement subject has no name")
    named = parse_any(name)
    if named is None:
        raise VerificationError(f"statement subject {shown(name)} is not a distribution filename")
    if not same_file(name, artifact.filename):
        raise VerificationError(
            f"attestation is for another file: got {shown(name)}, "
            f"expected {shown(artifact.filename)}"
        )
    if named[0] != artifact.project or parse_version(named[1]) != parse_version(artifact.version):
        raise VerificationError(
            f"attestation is for {plain(named[0])} {plain(named[1])}, but pip installs "
            f"this file as {plain(artifact.project)} {plain(artifact.version)}"
        )
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(sha256, str):
        raise VerificationError("statement subject has no sha256 digest")
    if sha256.lower() != artifact.sha256.lower():
        raise VerificationError(
            f"digest mismatch: the file's sha256 is {artifact.sha256}, "
            f"the attestation signs {plain(sha256, 80)}"
        )
    predicate_type = statement.get("predicateType")
    if predicate_type not in KNOWN_PREDICATES:
        raise VerificationError(f"unknown predicate type {shown(predicate_type)}")
    return str(predicate_type)


def _check_claim(identity: Identity, claim: dict[str, Any], cert: x509.Certificate) -> None:
    """The index's publisher claim must name the signer the certificate proves."""
    try:
        claimed = identity_from_publisher(claim)
    except ValueError as err:
        raise VerificationError(f"bad publisher in provenance: {one_line(err)}") from err
    if not identity.satisfies(claimed.without_environment()):
        raise VerificationError(
            f"signer does not match the publisher the index names: "
            f"got {plain(str(identity))}, expected {plain(str(claimed))}"
        )
    # Older certificates carry no environment; only a contradiction is an error. GitHub
    # compares environment names case-insensitively, PyPI compares GitLab's exactly.
    if (
        claimed.environment
        and identity.environment is not None
        and not same_environment(identity.kind, identity.environment, claimed.environment)
    ):
        raise VerificationError(
            f"signer's environment is {shown(identity.environment)}, the index names "
            f"{shown(claimed.environment)}"
        )
    if claimed.kind == "CircleCI":
        # The optional CircleCI claims (pypi-attestations' CircleCIPublisher) must match the
        # certificate's source repository and ref when the index states them.
        ext = FulcioExtensions(cert)
        for key, oid in (("vcs_origin", SOURCE_REPOSITORY_URI), ("vcs_ref", SOURCE_REPOSITORY_REF)):
            stated = claim.get(key)
            if stated and ext.text(oid) != stated:
                raise VerificationError(
                    f"signer does not match the publisher the index names: "
                    f"{key} is {shown(ext.text(oid))}, expected {shown(stated)}"
                )


def _json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's words (``list`` stays: it says the same)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "list"
