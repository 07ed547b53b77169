"""The signer's identity, read from the Fulcio certificate's extensions.

https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md: the issuer, the source
repository, the build config (workflow), the deployment environment and, for CircleCI, the
build signer. Only a certificate that verified is ever read here.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from pip_attest._errors import VerificationError
from pip_attest._identity import (
    CIRCLECI_ISSUER,
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    Identity,
)
from pip_attest._text import shown

_OID = "1.3.6.1.4.1.57264.1."
ISSUER_V1 = x509.ObjectIdentifier(_OID + "1")  # raw UTF-8 (deprecated form)
ISSUER_V2 = x509.ObjectIdentifier(_OID + "8")  # DER UTF8String, as are all below
BUILD_SIGNER_URI = x509.ObjectIdentifier(_OID + "9")
SOURCE_REPOSITORY_URI = x509.ObjectIdentifier(_OID + "12")
SOURCE_REPOSITORY_DIGEST = x509.ObjectIdentifier(_OID + "13")
SOURCE_REPOSITORY_REF = x509.ObjectIdentifier(_OID + "14")
BUILD_CONFIG_URI = x509.ObjectIdentifier(_OID + "18")
DEPLOYMENT_ENVIRONMENT = x509.ObjectIdentifier(_OID + "23")


def identity_from_certificate(cert: x509.Certificate) -> Identity:
    """Read the signer's identity from a (verified) Fulcio certificate."""
    ext = FulcioExtensions(cert)
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
            raise VerificationError(f"unexpected CircleCI Build Signer URI {shown(signer)}")
        return Identity("CircleCI", project_id=project, pipeline_definition_id=pipeline)
    san = _san(cert)
    if issuer == GOOGLE_ISSUER:
        return Identity("Google", email=san)
    return Identity("OIDC", subject=san, issuer=issuer)


class FulcioExtensions:
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
            raise VerificationError(f"unexpected Source Repository URI {shown(source)}")
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
            f"Build Config URI {shown(config)} does not belong to repository {shown(repository)}"
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
