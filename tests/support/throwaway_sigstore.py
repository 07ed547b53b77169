"""A throwaway Sigstore instance that mints PEP 740 attestations for tests.

Real, production-signed fixtures cover one identity each. Everything else (other
publishers, broken proofs, hundreds of packages) is minted here, by an in-memory Fulcio
(a P-384 root and intermediate), CT log and Rekor log (P-256 keys). The attestations are
accepted by the *unmodified* ``sigstore.verify.Verifier`` when it is given this instance's
``trusted_root.json``, and by nothing else: the verifier under test stays the real one.

Worked example::

    import json
    from pathlib import Path

    from tests.support import throwaway_sigstore as ts

    def test_refuses_unexpected_publisher(tmp_path: Path) -> None:
        sigstore = ts.ThrowawaySigstore()
        root = sigstore.write_trusted_root(tmp_path / "trusted_root.json")
        dist = tmp_path / "demo-1.0-py3-none-any.whl"
        dist.write_bytes(b"not really a wheel")

        # What the index serves: a valid attestation, but from a fork, not octo/demo.
        provenance = sigstore.provenance(dist, ts.github("fork/demo", environment="pypi"))
        (tmp_path / f"{dist.name}.provenance").write_text(json.dumps(provenance))
        ...  # run the code under test with trust root `root`, pinning octo/demo

        # Or break one thing at a time: each `Faults` knob breaks exactly one check.
        broken = ts.Faults(bad_inclusion_proof=True)
        provenance = sigstore.provenance(dist, ts.github("octo/demo"), faults=broken)

Point the code under test at ``root`` (the verifier must be built from it, never from
production). ``attest`` gives a single attestation object, ``provenance_for`` works from a
filename and sha256 when there is no file. Minting costs about 1 ms; keys are made once
per instance, so build one instance per test (or per module) and mint as many as needed.

Pass ``seed`` and ``now`` to get the same keys, serials, log IDs and validity periods on
every run; ECDSA signatures stay randomised, so certificates differ byte for byte.

What the verifier checks, and so what this module must get right, is written down in
DESIGN.md §6; every fact there was checked against sigstore 4.5.1's sources.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PUBLISH_V1: str = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1: str = "https://slsa.dev/provenance/v1"

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
INTOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"

# Fulcio's certificate extensions: https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md
# Arcs .1 to .6 are deprecated and hold raw UTF-8; .8 and later hold a DER UTF8String.
_FULCIO_ARC = "1.3.6.1.4.1.57264.1."
OID_ISSUER_V1 = _FULCIO_ARC + "1"  # read by sigstore's `Identity` policy (Google publishers)
OID_ISSUER = _FULCIO_ARC + "8"
OID_BUILD_SIGNER_URI = _FULCIO_ARC + "9"
OID_SOURCE_REPOSITORY_URI = _FULCIO_ARC + "12"
OID_SOURCE_REPOSITORY_DIGEST = _FULCIO_ARC + "13"
OID_SOURCE_REPOSITORY_REF = _FULCIO_ARC + "14"
OID_BUILD_CONFIG_URI = _FULCIO_ARC + "18"
OID_DEPLOYMENT_ENVIRONMENT = _FULCIO_ARC + "23"
_SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
CIRCLECI_ISSUER = "https://oidc.circleci.com"

# Curve orders, to turn a seed into a private scalar.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
    16,
)


# --- identities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A Trusted Publisher identity to mint for.

    ``publisher`` is the PEP 740 publisher object without ``kind``, in pypi-attestations'
    field order. ``claims`` are the Fulcio extensions put in the leaf certificate, as
    ``(dotted OID, value)`` pairs. Build one with `github`, `gitlab`, `google` or
    `circleci`; use `with_claim` to make a certificate that disagrees with its publisher.
    """

    kind: str  # "GitHub" | "GitLab" | "Google" | "CircleCI"
    san: str
    claims: tuple[tuple[str, str], ...]
    publisher: tuple[tuple[str, str | None], ...]
    san_is_email: bool = False

    @property
    def issuer(self) -> str:
        return self.claim(OID_ISSUER) or ""

    def claim(self, oid: str) -> str | None:
        return dict(self.claims).get(oid)

    def with_claim(self, oid: str, value: str | None) -> Identity:
        """A copy whose certificate carries ``value`` for ``oid`` (or drops it if None)."""
        claims = {k: v for k, v in self.claims if k != oid}
        if value is not None:
            claims[oid] = value
        return _make(
            self.kind, self.san, claims, dict(self.publisher), san_is_email=self.san_is_email
        )

    def san_name(self) -> x509.GeneralName:
        if self.san_is_email:
            return x509.RFC822Name(self.san)
        return x509.UniformResourceIdentifier(self.san)

    def publisher_json(self) -> dict[str, Any]:
        """The publisher object as pypi-attestations' publisher models serialise it."""
        return {"kind": self.kind, **dict(self.publisher)}


def _fake_digest(*parts: str, length: int = 40) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _fake_id(*parts: str) -> str:
    return str(int(_fake_digest(*parts, length=8), 16) % 10**9)


def _make(
    kind: str,
    san: str,
    claims: dict[str, str],
    publisher: dict[str, str | None],
    *,
    san_is_email: bool = False,
) -> Identity:
    ordered = sorted(claims.items(), key=lambda kv: int(kv[0].rsplit(".", 1)[1]))
    return Identity(kind, san, tuple(ordered), tuple(publisher.items()), san_is_email)


def _forge_claims(
    host: str, repository: str, uri: str, ref: str, environment: str | None, run_uri: str
) -> dict[str, str]:
    """The claims GitHub and GitLab tokens share (.8 to .23), Fulcio's mapping of them."""
    issuer = GITHUB_ISSUER if host == "github.com" else GITLAB_ISSUER
    sha = _fake_digest(repository, ref)
    owner = repository.rsplit("/", 1)[0]
    arcs = {
        "1": issuer,  # deprecated, but Fulcio still sets it
        "8": issuer,
        "9": uri,
        "10": sha,
        "11": f"{host.split('.')[0]}-hosted",
        "12": f"https://{host}/{repository}",
        "13": sha,
        "14": ref,
        "15": _fake_id(repository),
        "16": f"https://{host}/{owner}",
        "17": _fake_id(owner),
        "18": uri,
        "19": sha,
        "20": "push",
        "21": run_uri,
        "22": "public",
    }
    if environment is not None:
        arcs["23"] = environment
    return {_FULCIO_ARC + arc: value for arc, value in arcs.items()}


def github(
    repository: str,
    workflow: str = "release.yml",
    *,
    environment: str | None = None,
    ref: str = "refs/tags/v1.0.0",
) -> Identity:
    """A GitHub Actions Trusted Publisher, with the claims Fulcio puts in its certificates."""
    uri = f"https://github.com/{repository}/.github/workflows/{workflow}@{ref}"
    run = f"https://github.com/{repository}/actions/runs/{_fake_id(repository, ref)}/attempts/1"
    claims = _forge_claims("github.com", repository, uri, ref, environment, run)
    # The deprecated GitHub-only arcs, raw UTF-8: trigger, sha, workflow name, repo, ref.
    sha = claims[OID_SOURCE_REPOSITORY_DIGEST]
    for arc, value in zip("23456", ("push", sha, workflow, repository, ref), strict=True):
        claims[_FULCIO_ARC + arc] = value
    publisher = {"repository": repository, "workflow": workflow, "environment": environment}
    return _make("GitHub", uri, claims, publisher)


def gitlab(
    repository: str,
    workflow_filepath: str = ".gitlab-ci.yml",
    *,
    environment: str | None = None,
    ref: str = "refs/heads/main",
) -> Identity:
    """A GitLab CI/CD Trusted Publisher (note GitLab's ``//`` before the workflow path)."""
    uri = f"https://gitlab.com/{repository}//{workflow_filepath}@{ref}"
    run = f"https://gitlab.com/{repository}/-/jobs/{_fake_id(repository, ref)}"
    claims = _forge_claims("gitlab.com", repository, uri, ref, environment, run)
    publisher = {
        "repository": repository,
        "workflow_filepath": workflow_filepath,
        "environment": environment,
    }
    return _make("GitLab", uri, claims, publisher)


def google(email: str) -> Identity:
    """A Google Cloud service account; pypi-attestations checks the e-mail SAN and ``.1``."""
    claims = {OID_ISSUER_V1: GOOGLE_ISSUER, OID_ISSUER: GOOGLE_ISSUER}
    return _make("Google", email, claims, {"email": email}, san_is_email=True)


def circleci(
    project_id: str,
    pipeline_definition_id: str,
    *,
    vcs_origin: str | None = None,
    vcs_ref: str | None = None,
) -> Identity:
    """A CircleCI pipeline; pypi-attestations checks the build signer URI (``.9``)."""
    uri = (
        f"https://circleci.com/api/v2/projects/{project_id}"
        f"/pipeline-definitions/{pipeline_definition_id}"
    )
    claims = {
        OID_ISSUER_V1: CIRCLECI_ISSUER,
        OID_ISSUER: CIRCLECI_ISSUER,
        OID_BUILD_SIGNER_URI: uri,
        _FULCIO_ARC + "11": "circleci-hosted",
    }
    if vcs_origin is not None:
        claims[OID_SOURCE_REPOSITORY_URI] = vcs_origin
    if vcs_ref is not None:
        claims[OID_SOURCE_REPOSITORY_REF] = vcs_ref
    publisher = {
        "project_id": project_id,
        "pipeline_definition_id": pipeline_definition_id,
        "vcs_origin": vcs_origin,
        "vcs_ref": vcs_ref,
    }
    return _make("CircleCI", uri, claims, publisher)


# --- faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """Each knob breaks one thing; all default to off.

    The first group makes ``Verifier.verify_dsse`` raise ``sigstore.errors.VerificationError``
    (``no_key_usage`` and ``no_inclusion_promise`` are the exceptions, see below). The
    statement group yields attestations that sigstore accepts: rejecting them is the job of
    the statement checks in the code under test.
    """

    expired_cert: bool = False  # integratedTime after the leaf's notAfter
    untrusted_ca: bool = False  # leaf issued by a CA (same names, other keys) not in the root
    oidc_issuer: str | None = None  # override the issuer claims (.8, and .1) -> policy fails
    sct_unknown_log: bool = False  # SCT signed by a CT key not in the trusted root
    sct_invalid: bool = False  # SCT signature made over other data
    no_sct: bool = False  # no SCT extension at all
    bad_inclusion_proof: bool = False  # proof hashes do not lead to the checkpoint root
    checkpoint_wrong_key: bool = False  # checkpoint signed by another key
    bad_set: bool = False  # inclusion promise (SET) signed over another log index
    log_body_mismatch: bool = False  # the Rekor body records another signature
    signature_over_other_payload: bool = False  # DSSE signature over a different statement
    no_code_signing_eku: bool = False  # EKU present, but serverAuth instead of codeSigning
    # sigstore 4.5.1 lets cryptography's ExtensionNotFound through for this one.
    no_key_usage: bool = False
    # Not a verification error: `Attestation.to_bundle()` raises sigstore's InvalidBundle.
    no_inclusion_promise: bool = False
    # The statement group.
    subject_digest: str | None = None  # statement's subject sha256 replaced by this
    subject_name: str | None = None  # statement's subject name replaced by this
    two_subjects: bool = False  # a second subject (same name, another digest)
    predicate_type: str | None = None  # e.g. an unknown predicate type


_NO_FAULTS = Faults()


# --- the instance -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_utf8string(value: str) -> bytes:
    return b"\x0c" + _der_length(len(value.encode())) + value.encode()


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _ext(
    value: x509.ExtensionType, *, critical: bool = False
) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(value.oid, critical, value)


_EMPTY_NAME = x509.Name([])
_DIGITAL_SIGNATURE = _ext(
    x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
)
_CODE_SIGNING = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])
_SERVER_AUTH = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _CA:
    """A Fulcio-like root and intermediate; leaves are issued by the intermediate."""

    root: x509.Certificate
    intermediate: x509.Certificate
    key: ec.EllipticCurvePrivateKey  # the intermediate's
    aki: x509.AuthorityKeyIdentifier
    issuer_key_hash: bytes  # SHA-256 of the intermediate's SPKI, for the SCT


@dataclass
class _Log:
    """An append-only RFC 6962 Merkle tree that keeps only its right border.

    A new leaf is always the last one, so its inclusion proof is exactly the border (the
    roots of the perfect subtrees to its left, smallest first): each append is O(log n).
    """

    key: ec.EllipticCurvePrivateKey
    log_id: bytes
    name: str
    origin: str
    size: int = 0
    border: list[tuple[int, bytes]] = field(default_factory=list)  # (height, hash), tallest first

    def append(self, body: bytes) -> tuple[int, list[bytes], bytes]:
        """Add ``body``; return its index, its inclusion proof and the new root."""
        leaf = hashlib.sha256(b"\x00" + body).digest()
        proof = [h for _, h in reversed(self.border)]
        root = leaf
        for sibling in proof:
            root = hashlib.sha256(b"\x01" + sibling + root).digest()
        index, self.size = self.size, self.size + 1
        height, node = 0, leaf
        while self.border and self.border[-1][0] == height:
            _, left = self.border.pop()
            height, node = height + 1, hashlib.sha256(b"\x01" + left + node).digest()
        self.border.append((height, node))
        return index, proof, root


class ThrowawaySigstore:
    """An in-memory Sigstore: Fulcio, a CT log and a Rekor log, with their trusted root.

    Not thread-safe: minting appends to one in-memory log.
    """

    def __init__(self, *, seed: bytes | None = None, now: datetime | None = None) -> None:
        self._seed = seed if seed is not None else secrets.token_bytes(32)
        now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
        self._start = now - timedelta(days=1)  # every validFor.start must lie in the past
        self._signed_at = now - timedelta(hours=1)
        self._minted = 0
        self._ca = self._make_ca("ca")
        self._ct_key = self._p256("ct")
        self._ct_log_id = hashlib.sha256(_spki(self._ct_key.public_key())).digest()
        self._log = self._make_log("rekor")
        # The rogue parts, for faults, are made on first use.
        self._rogue_ca: _CA | None = None
        self._rogue_keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._claim_cache: dict[
            tuple[Identity, str | None], list[x509.Extension[x509.ExtensionType]]
        ] = {}
        # Keep the log non-empty so every inclusion proof has at least one hash.
        self._log.append(b"throwaway-sigstore genesis")

    # -- keys and CAs --

    def _derive(self, label: str) -> bytes:
        return hashlib.sha512(self._seed + b"\0" + label.encode()).digest()

    def _p256(self, label: str) -> ec.EllipticCurvePrivateKey:
        scalar = int.from_bytes(self._derive(label), "big") % (_P256_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP256R1())

    def _p384(self, label: str) -> ec.EllipticCurvePrivateKey:
        scalar = int.from_bytes(self._derive(label), "big") % (_P384_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP384R1())

    def _serial(self, label: str) -> int:
        # Positive and at most 20 bytes in DER, as RFC 5280 and Fulcio's profile require.
        return int.from_bytes(self._derive(label)[:20], "big") >> 1 or 1

    def _make_ca(self, label: str) -> _CA:
        root_key, key = self._p384(label + "/root"), self._p384(label + "/intermediate")
        org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "throwaway-sigstore.invalid")
        root_name = x509.Name([org, x509.NameAttribute(NameOID.COMMON_NAME, "throwaway-root")])
        name = x509.Name([org, x509.NameAttribute(NameOID.COMMON_NAME, "throwaway-intermediate")])
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)

        def ca_cert(
            subject: x509.Name,
            pub: ec.EllipticCurvePublicKey,
            path: int,
            issuer_key: ec.EllipticCurvePrivateKey,
            issuer: x509.Name,
            aki: x509.AuthorityKeyIdentifier,
        ) -> x509.Certificate:
            return (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer)
                .public_key(pub)
                .serial_number(self._serial(f"{label}/{path}"))
                .not_valid_before(self._start)
                .not_valid_after(self._start + timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=path), critical=True)
                .add_extension(usage, critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
                .add_extension(aki, critical=False)
                .sign(issuer_key, hashes.SHA384())
            )

        root_pub, pub = root_key.public_key(), key.public_key()
        root_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_pub)
        root = ca_cert(root_name, root_pub, 1, root_key, root_name, root_aki)
        intermediate = ca_cert(name, pub, 0, root_key, root_name, root_aki)
        return _CA(
            root=root,
            intermediate=intermediate,
            key=key,
            aki=x509.AuthorityKeyIdentifier.from_issuer_public_key(pub),
            issuer_key_hash=hashlib.sha256(_spki(pub)).digest(),
        )

    def _make_log(self, label: str) -> _Log:
        key = self._p256(label)
        tree_id = int.from_bytes(self._derive(label + "/tree")[:8], "big") >> 1
        name = "rekor.throwaway-sigstore.invalid"
        log_id = hashlib.sha256(_spki(key.public_key())).digest()
        return _Log(key=key, log_id=log_id, name=name, origin=f"{name} - {tree_id}")

    def _rogue_key(self, label: str) -> ec.EllipticCurvePrivateKey:
        if label not in self._rogue_keys:
            self._rogue_keys[label] = self._p256("rogue/" + label)
        return self._rogue_keys[label]

    # -- the trusted root --

    def trusted_root(self) -> dict[str, Any]:
        """This instance's ``trusted_root.json``, as a JSON-ready dict."""

        def log(url: str, key: ec.EllipticCurvePrivateKey, log_id: bytes) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": _iso(self._start)},
                },
                "logId": {"keyId": _b64(log_id)},
            }

        der = serialization.Encoding.DER
        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [
                log("https://rekor.throwaway-sigstore.invalid", self._log.key, self._log.log_id)
            ],
            "certificateAuthorities": [
                {
                    "subject": {
                        "organization": "throwaway-sigstore.invalid",
                        "commonName": "throwaway-root",
                    },
                    "uri": "https://fulcio.throwaway-sigstore.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(self._ca.intermediate.public_bytes(der))},
                            {"rawBytes": _b64(self._ca.root.public_bytes(der))},
                        ]
                    },
                    "validFor": {"start": _iso(self._start)},
                }
            ],
            "ctlogs": [
                log("https://ctfe.throwaway-sigstore.invalid", self._ct_key, self._ct_log_id)
            ],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Path) -> Path:
        path.write_text(json.dumps(self.trusted_root(), indent=2) + "\n")
        return path

    # -- minting --

    def provenance(
        self,
        dist: Path,
        identity: Identity,
        *,
        predicate_types: Sequence[str] = (PUBLISH_V1,),
        faults: Faults = _NO_FAULTS,
        publisher: Mapping[str, Any] | None = None,
        signed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A PEP 740 provenance object for the file at ``dist`` (hashed, named by its name)."""
        sha256 = hashlib.sha256(dist.read_bytes()).hexdigest()
        return self.provenance_for(
            dist.name,
            sha256,
            identity,
            predicate_types=predicate_types,
            faults=faults,
            publisher=publisher,
            signed_at=signed_at,
        )

    def provenance_for(
        self,
        filename: str,
        sha256: str,
        identity: Identity,
        *,
        predicate_types: Sequence[str] = (PUBLISH_V1,),
        faults: Faults = _NO_FAULTS,
        publisher: Mapping[str, Any] | None = None,
        signed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A PEP 740 provenance object: one bundle, one attestation per predicate type.

        ``publisher`` replaces the bundle's publisher object (default:
        ``identity.publisher_json()``), to make an index that names someone else.
        """
        attestations = [
            self.attest(
                filename, sha256, identity, predicate_type=pt, faults=faults, signed_at=signed_at
            )
            for pt in predicate_types
        ]
        return {
            "version": 1,
            "attestation_bundles": [
                {
                    "publisher": dict(
                        identity.publisher_json() if publisher is None else publisher
                    ),
                    "attestations": attestations,
                }
            ],
        }

    def attest(
        self,
        filename: str,
        sha256: str,
        identity: Identity,
        *,
        predicate_type: str = PUBLISH_V1,
        faults: Faults = _NO_FAULTS,
        signed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """One PEP 740 attestation object (``version``, ``verification_material``, ``envelope``).

        ``signed_at`` (default: an hour before the instance's ``now``) is the leaf's
        notBefore and, one second later, the log's integratedTime. The CAs are valid from a
        day before ``now``; an earlier ``signed_at`` fails the chain check.
        """
        self._minted += 1
        label = f"leaf/{self._minted}"
        statement = _statement(filename, sha256, identity, predicate_type, faults)
        not_before = (signed_at or self._signed_at).replace(microsecond=0)
        not_after = not_before + timedelta(minutes=10)
        integrated_time = int(not_before.timestamp()) + 1
        if faults.expired_cert:
            integrated_time = int(not_after.timestamp()) + 1

        key = self._p256(label)
        cert = self._issue_leaf(identity, key.public_key(), not_before, faults, label)

        signed = statement
        if faults.signature_over_other_payload:
            signed = _statement(filename, "0" * 64, identity, predicate_type, faults)
        pae = b"DSSEv1 %d %s %d %s" % (
            len(INTOTO_PAYLOAD_TYPE),
            INTOTO_PAYLOAD_TYPE.encode(),
            len(signed),
            signed,
        )
        signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))

        logged_signature = signature
        if faults.log_body_mismatch:
            logged_signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        entry = self._log_entry(statement, logged_signature, cert, integrated_time, faults)
        return {
            "version": 1,
            "verification_material": {
                "certificate": _b64(cert.public_bytes(serialization.Encoding.DER)),
                "transparency_entries": [entry],
            },
            "envelope": {"statement": _b64(statement), "signature": _b64(signature)},
        }

    def _issue_leaf(
        self,
        identity: Identity,
        public_key: ec.EllipticCurvePublicKey,
        not_before: datetime,
        faults: Faults,
        label: str,
    ) -> x509.Certificate:
        """A Fulcio-profile leaf, with its SCT embedded (RFC 6962 §3.3)."""
        ca = self._ca
        if faults.untrusted_ca:
            if self._rogue_ca is None:
                self._rogue_ca = self._make_ca("rogue-ca")
            ca = self._rogue_ca

        # Fulcio's order: KU, EKU, SKI, AKI, SAN, the claims, and the SCT list last.
        exts = [] if faults.no_key_usage else [_DIGITAL_SIGNATURE]
        exts += [
            _ext(_SERVER_AUTH if faults.no_code_signing_eku else _CODE_SIGNING),
            _ext(x509.SubjectKeyIdentifier.from_public_key(public_key)),
            _ext(ca.aki),
            # Critical, because the subject is empty (RFC 5280 §4.2.1.6).
            _ext(x509.SubjectAlternativeName([identity.san_name()]), critical=True),
            *self._claim_extensions(identity, faults.oidc_issuer),
        ]

        def builder(
            extensions: list[x509.Extension[x509.ExtensionType]],
        ) -> x509.CertificateBuilder:
            # The constructor skips add_extension's quadratic duplicate check.
            return x509.CertificateBuilder(
                issuer_name=ca.intermediate.subject,
                subject_name=_EMPTY_NAME,
                public_key=public_key,
                serial_number=self._serial(label),
                not_valid_before=not_before,
                not_valid_after=not_before + timedelta(minutes=10),
                extensions=extensions,
            )

        if faults.no_sct:
            return builder(exts).sign(ca.key, hashes.SHA384())

        # The SCT signs the final certificate's TBS minus the SCT extension itself: build
        # that TBS first. Any key makes the same TBS as long as the signature algorithm is
        # the same (ecdsa-with-SHA384), so use the cheap P-256 CT key instead of P-384.
        tbs = builder(exts).sign(self._ct_key, hashes.SHA384()).tbs_certificate_bytes
        # Whole seconds: sigstore recomputes milliseconds through a float.
        timestamp_ms = int(not_before.timestamp()) * 1000
        ct_key, log_id = self._ct_key, self._ct_log_id
        if faults.sct_unknown_log:
            ct_key = self._rogue_key("ct")
            log_id = hashlib.sha256(_spki(ct_key.public_key())).digest()
        signed_ms = timestamp_ms + 1000 if faults.sct_invalid else timestamp_ms
        signed_data = (
            struct.pack(">BBQH", 0, 0, signed_ms, 1)  # v1, certificate_timestamp, precert_entry
            + ca.issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + b"\x00\x00"  # no CT extensions
        )
        sct_signature = ct_key.sign(signed_data, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + log_id
            + struct.pack(">QH", timestamp_ms, 0)
            + b"\x04\x03"  # sha256, ecdsa
            + struct.pack(">H", len(sct_signature))
            + sct_signature
        )
        sct_list = struct.pack(">HH", len(sct) + 2, len(sct)) + sct
        octet_string = b"\x04" + _der_length(len(sct_list)) + sct_list
        sct_ext = _ext(x509.UnrecognizedExtension(_SCT_LIST_OID, octet_string))
        return builder([*exts, sct_ext]).sign(ca.key, hashes.SHA384())

    def _claim_extensions(
        self, identity: Identity, issuer: str | None
    ) -> list[x509.Extension[x509.ExtensionType]]:
        key = (identity, issuer)
        if key not in self._claim_cache:
            exts = []
            for oid, value in identity.claims:
                if issuer is not None and oid in (OID_ISSUER, OID_ISSUER_V1):
                    value = issuer
                raw = int(oid.rsplit(".", 1)[1]) <= 6  # the deprecated arcs hold raw bytes
                data = value.encode() if raw else _der_utf8string(value)
                exts.append(_ext(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), data)))
            self._claim_cache[key] = exts
        return self._claim_cache[key]

    def _log_entry(
        self,
        statement: bytes,
        signature: bytes,
        cert: x509.Certificate,
        integrated_time: int,
        faults: Faults,
    ) -> dict[str, Any]:
        """Log a Rekor ``dsse`` 0.0.1 entry; return it in the bundle's JSON form."""
        envelope = json.dumps(
            {
                "payload": _b64(statement),
                "payloadType": INTOTO_PAYLOAD_TYPE,
                "signatures": [{"sig": _b64(signature)}],
            },
            separators=(",", ":"),
        ).encode()
        body = rfc8785.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(envelope).hexdigest(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(statement).hexdigest(),
                    },
                    "signatures": [
                        {
                            "signature": _b64(signature),
                            # Byte-equal to cryptography's PEM, as sigstore compares it.
                            "verifier": _b64(cert.public_bytes(serialization.Encoding.PEM)),
                        }
                    ],
                },
            }
        )
        log = self._log
        index, proof, root = log.append(body)
        size = index + 1
        if faults.bad_inclusion_proof:
            proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]

        note = f"{log.origin}\n{size}\n{_b64(root)}\n".encode()
        checkpoint_key = self._rogue_key("rekor") if faults.checkpoint_wrong_key else log.key
        note_signature = checkpoint_key.sign(note, ec.ECDSA(hashes.SHA256()))
        # The key hint is the first 4 bytes of the log ID, whichever key really signed.
        signature_line = f"\u2014 {log.name} {_b64(log.log_id[:4] + note_signature)}\n"
        checkpoint = note.decode() + "\n" + signature_line

        set_payload = rfc8785.dumps(
            {
                "body": _b64(body),
                "integratedTime": integrated_time,
                "logID": log.log_id.hex(),
                "logIndex": index + 1 if faults.bad_set else index,
            }
        )
        entry: dict[str, Any] = {
            "logIndex": str(index),
            "logId": {"keyId": _b64(log.log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {
                "signedEntryTimestamp": _b64(log.key.sign(set_payload, ec.ECDSA(hashes.SHA256())))
            },
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": _b64(root),
                "treeSize": str(size),
                "hashes": [_b64(h) for h in proof],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(body),
        }
        if faults.no_inclusion_promise:
            del entry["inclusionPromise"]
        return entry


def _statement(
    filename: str, sha256: str, identity: Identity, predicate_type: str, faults: Faults
) -> bytes:
    """An in-toto v1 statement, serialised compactly like PyPI's."""
    subject = {
        "name": faults.subject_name if faults.subject_name is not None else filename,
        "digest": {
            "sha256": faults.subject_digest if faults.subject_digest is not None else sha256
        },
    }
    subjects = [subject]
    if faults.two_subjects:
        subjects.append({"name": subject["name"], "digest": {"sha256": "0" * 64}})
    predicate_type = faults.predicate_type or predicate_type
    predicate: dict[str, Any] | None = None
    if predicate_type == SLSA_PROVENANCE_V1:
        predicate = {
            "buildDefinition": {
                "buildType": "https://throwaway-sigstore.invalid/buildtypes/v1",
                "externalParameters": {"publisher": identity.publisher_json()},
            },
            "runDetails": {"builder": {"id": identity.san}},
        }
    statement = {
        "_type": INTOTO_STATEMENT_V1,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(statement, separators=(",", ":")).encode()
