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

Importing this module imports sigstore and pypi-attestations (about 300 ms); callers import
it lazily, only when a file really needs cryptographic verification.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
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
from pip_attest._identity import (
    CIRCLECI_ISSUER,
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    Identity,
    identity_from_publisher,
    same_environment,
)
from pip_attest._model import Artifact
from pip_attest._names import parse_any, parse_version, same_file

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
INTOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
KNOWN_PREDICATES = frozenset(t.value for t in pypi_attestations.AttestationType)

# Fulcio certificate extensions: https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md
_OID = "1.3.6.1.4.1.57264.1."
ISSUER_V1 = x509.ObjectIdentifier(_OID + "1")  # raw UTF-8 (deprecated form)
ISSUER_V2 = x509.ObjectIdentifier(_OID + "8")  # DER UTF8String, as are all below
BUILD_SIGNER_URI = x509.ObjectIdentifier(_OID + "9")
SOURCE_REPOSITORY_URI = x509.ObjectIdentifier(_OID + "12")
SOURCE_REPOSITORY_DIGEST = x509.ObjectIdentifier(_OID + "13")
SOURCE_REPOSITORY_REF = x509.ObjectIdentifier(_OID + "14")
BUILD_CONFIG_URI = x509.ObjectIdentifier(_OID + "18")
DEPLOYMENT_ENVIRONMENT = x509.ObjectIdentifier(_OID + "23")


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
    """Read a local provenance file, never more than the size cap (plus one byte).

    ``Path.read_bytes`` would first load all of a 50 GB (or sparse, or endless) file, and
    opening a FIFO for reading would wait for a writer forever: the file is opened
    non-blocking and must be a regular file.
    """
    from pip_attest._provenance import MAX_PROVENANCE_BYTES

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise VerificationError(f"cannot read {_plain(str(path))}: {err.strerror}") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VerificationError(f"{_plain(str(path))} is not a regular file")
        if info.st_size > MAX_PROVENANCE_BYTES:
            raise VerificationError(
                f"provenance is {info.st_size} bytes, over the {MAX_PROVENANCE_BYTES}-byte limit"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_PROVENANCE_BYTES:  # a file that grows while we read stops here
            chunk = os.read(fd, MAX_PROVENANCE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as err:
        raise VerificationError(f"cannot read {_plain(str(path))}: {err.strerror}") from err
    finally:
        os.close(fd)


def parse_provenance(data: bytes, *, allow_bare: bool = False) -> Attestations:
    """Strictly parse a PEP 740 provenance object. Raises :class:`VerificationError`."""
    from pip_attest._provenance import MAX_PROVENANCE_BYTES

    if len(data) > MAX_PROVENANCE_BYTES:
        raise VerificationError(
            f"provenance is {len(data)} bytes, over the {MAX_PROVENANCE_BYTES}-byte limit"
        )
    try:
        obj = json.loads(data)
    except RecursionError as err:
        raise VerificationError("provenance is nested too deeply") from err
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise VerificationError(f"provenance is not valid JSON: {_one_line(err)}") from err
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
        where = _plain(".".join(str(p) for p in first.get("loc", ())), 120) or "provenance"
        raise VerificationError(
            f"malformed provenance: {where}: {_one_line(Exception(first.get('msg', '')))}"
        ) from err
    except (ValueError, TypeError, RecursionError) as err:
        raise VerificationError(f"malformed provenance: {_one_line(err)}") from err
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
    parses every key again (10 to 20% of a verification). For one run they depend on the
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
                f"{trusted_root}: not a usable Sigstore trusted root: {_one_line(err)}"
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

    def verify_one(
        self, artifact: Artifact, attestation: pypi_attestations.Attestation
    ) -> Identity:
        return self._verify_cert(artifact, attestation)[0]

    def _verify_cert(
        self, artifact: Artifact, attestation: pypi_attestations.Attestation
    ) -> tuple[Identity, x509.Certificate]:
        try:
            bundle = attestation.to_bundle()
        except Exception as err:
            raise VerificationError(f"malformed attestation: {_one_line(err)}") from err
        try:
            payload_type, payload = self._verifier.verify_dsse(bundle, _ACCEPT_ANY)
        except Exception as err:
            # Not only SigstoreError: a missing KeyUsage/EKU surfaces as ExtensionNotFound, and
            # hostile input can raise anything. Every failure here is a refusal.
            raise VerificationError(f"signature check failed: {_one_line(err)}") from err
        if payload_type != INTOTO_PAYLOAD_TYPE:
            raise VerificationError(
                f"payload type is {_shown(payload_type)}, expected {INTOTO_PAYLOAD_TYPE!r}"
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
            f"statement type is {_shown(statement.get('_type'))}, expected {INTOTO_STATEMENT_V1!r}"
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
        raise VerificationError(f"statement subject {_shown(name)} is not a distribution filename")
    if not same_file(name, artifact.filename):
        raise VerificationError(
            f"attestation is for another file: got {_shown(name)}, "
            f"expected {_shown(artifact.filename)}"
        )
    if named[0] != artifact.project or parse_version(named[1]) != parse_version(artifact.version):
        raise VerificationError(
            f"attestation is for {_plain(named[0])} {_plain(named[1])}, but pip installs "
            f"this file as {_plain(artifact.project)} {_plain(artifact.version)}"
        )
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(sha256, str):
        raise VerificationError("statement subject has no sha256 digest")
    if sha256.lower() != artifact.sha256.lower():
        raise VerificationError(
            f"digest mismatch: the file's sha256 is {artifact.sha256}, "
            f"the attestation signs {_plain(sha256, 80)}"
        )
    predicate_type = statement.get("predicateType")
    if predicate_type not in KNOWN_PREDICATES:
        raise VerificationError(f"unknown predicate type {_shown(predicate_type)}")
    return str(predicate_type)


def _check_claim(identity: Identity, claim: dict[str, Any], cert: x509.Certificate) -> None:
    """The index's publisher claim must name the signer the certificate proves."""
    try:
        claimed = identity_from_publisher(claim)
    except ValueError as err:
        raise VerificationError(f"bad publisher in provenance: {_one_line(err)}") from err
    if not identity.satisfies(claimed.without_environment()):
        raise VerificationError(
            f"signer does not match the publisher the index names: "
            f"got {_plain(str(identity))}, expected {_plain(str(claimed))}"
        )
    # Older certificates carry no environment; only a contradiction is an error. GitHub
    # compares environment names case-insensitively, PyPI compares GitLab's exactly.
    if (
        claimed.environment
        and identity.environment is not None
        and not same_environment(identity.kind, identity.environment, claimed.environment)
    ):
        raise VerificationError(
            f"signer's environment is {_shown(identity.environment)}, the index names "
            f"{_shown(claimed.environment)}"
        )
    if claimed.kind == "CircleCI":
        # The optional CircleCI claims (pypi-attestations' CircleCIPublisher) must match the
        # certificate's source repository and ref when the index states them.
        ext = _FulcioExtensions(cert)
        for key, oid in (("vcs_origin", SOURCE_REPOSITORY_URI), ("vcs_ref", SOURCE_REPOSITORY_REF)):
            stated = claim.get(key)
            if stated and ext.text(oid) != stated:
                raise VerificationError(
                    f"signer does not match the publisher the index names: "
                    f"{key} is {_shown(ext.text(oid))}, expected {_shown(stated)}"
                )


def identity_from_certificate(cert: x509.Certificate) -> Identity:
    """Read the signer's identity from a (verified) Fulcio certificate."""
    ext = _FulcioExtensions(cert)
    issuer = ext.issuer()
    if issuer == GITHUB_ISSUER:
        repository, workflow = ext.repo_and_config("https://github.com/", "/.github/workflows/")
        return Identity(
            "GitHub",
            repository=repository,
            workflow=workflow,
            environment=ext.text(DEPLOYMENT_ENVIRONMENT),
        )
    if issuer == GITLAB_ISSUER:
        repository, workflow = ext.repo_and_config("https://gitlab.com/", "//")
        return Identity(
            "GitLab",
            repository=repository,
            workflow=workflow,
            environment=ext.text(DEPLOYMENT_ENVIRONMENT),
        )
    if issuer == CIRCLECI_ISSUER:
        signer = ext.require(BUILD_SIGNER_URI, "Build Signer URI")
        prefix = "https://circleci.com/api/v2/projects/"
        project, sep, pipeline = signer.removeprefix(prefix).partition("/pipeline-definitions/")
        if not signer.startswith(prefix) or not sep or not project or not pipeline:
            raise VerificationError(f"unexpected CircleCI Build Signer URI {_shown(signer)}")
        return Identity("CircleCI", project_id=project, pipeline_definition_id=pipeline)
    san = _san(cert)
    if issuer == GOOGLE_ISSUER:
        return Identity("Google", email=san)
    return Identity("OIDC", subject=san, issuer=issuer)


class _FulcioExtensions:
    def __init__(self, cert: x509.Certificate) -> None:
        self._values: dict[str, bytes] = {}
        for extension in cert.extensions:
            value = extension.value
            if isinstance(value, x509.UnrecognizedExtension):
                self._values[extension.oid.dotted_string] = value.value

    def text(self, oid: x509.ObjectIdentifier) -> str | None:
        raw = self._values.get(oid.dotted_string)
        return None if raw is None else _der_utf8string(raw)

    def require(self, oid: x509.ObjectIdentifier, label: str) -> str:
        value = self.text(oid)
        if not value:
            raise VerificationError(f"certificate has no {label} extension")
        return value

    def issuer(self) -> str:
        issuer = self.text(ISSUER_V2)
        if issuer is None and ISSUER_V1.dotted_string in self._values:
            issuer = self._values[ISSUER_V1.dotted_string].decode("utf-8", "replace")
        if not issuer:
            raise VerificationError("certificate names no OIDC issuer")
        return issuer

    def repo_and_config(self, host: str, separator: str) -> tuple[str, str]:
        """(repository, workflow) from the source-repository and build-config URIs.

        The build config URI is ``{host}{repo}{separator}{workflow}@{suffix}``, where the
        suffix is the commit digest or the ref also carried in the certificate, the same
        reading pypi-attestations' GitHub and GitLab policies make.
        """
        source = self.require(SOURCE_REPOSITORY_URI, "Source Repository URI")
        if not source.startswith(host):
            raise VerificationError(f"unexpected Source Repository URI {_shown(source)}")
        repository = source.removeprefix(host)
        config = self.require(BUILD_CONFIG_URI, "Build Config URI")
        prefix = f"{host}{repository}{separator}"
        suffixes = [
            s for s in (self.text(SOURCE_REPOSITORY_DIGEST), self.text(SOURCE_REPOSITORY_REF)) if s
        ]
        if config.startswith(prefix):
            rest = config.removeprefix(prefix)
            for suffix in suffixes:
                if rest.endswith("@" + suffix) and len(rest) > len(suffix) + 1:
                    return repository, rest[: -len(suffix) - 1]
        raise VerificationError(
            f"Build Config URI {_shown(config)} does not belong to repository {_shown(repository)}"
        )


def _san(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as err:
        raise VerificationError("certificate has no subject alternative name") from err
    names: Sequence[str] = [
        *san.get_values_for_type(x509.RFC822Name),
        *san.get_values_for_type(x509.UniformResourceIdentifier),
    ]
    if not names:
        raise VerificationError("certificate has no e-mail or URI subject alternative name")
    return names[0]


def _der_utf8string(raw: bytes) -> str:
    """Decode a DER UTF8String (tag 0x0C), strictly."""
    if len(raw) < 2 or raw[0] != 0x0C:
        raise VerificationError("malformed certificate extension (expected a UTF8String)")
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(raw) < 2 + count:
            raise VerificationError("malformed certificate extension length")
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    if offset + length != len(raw):
        raise VerificationError("malformed certificate extension length")
    try:
        return raw[offset:].decode("utf-8")
    except UnicodeDecodeError as err:
        raise VerificationError("certificate extension is not UTF-8") from err


def _json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's words (``list`` stays: it says the same)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "list"


def _one_line(err: BaseException) -> str:
    """An exception's message as one clipped line with no control characters."""
    return _plain(" ".join(str(err).split()) or type(err).__name__, 300)


# Messages quote what an index or a signer wrote. Those strings are hostile input: a
# megabyte-long name, a newline and a fake "verified" row, terminal escape sequences, a lone
# surrogate that cannot even be printed. Every one is escaped and clipped before it is shown.


def _plain(text: str, limit: int = 200) -> str:
    """``text`` with every non-printable character escaped, clipped to about ``limit``."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _shown(value: object, limit: int = 200) -> str:
    """``value`` quoted for a message (``repr`` escapes what is not printable), clipped."""
    if isinstance(value, str) and len(value) > limit:
        quoted = repr(value[:limit])
        return f"{quoted[:-1]}...{quoted[-1]} ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."
