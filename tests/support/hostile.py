"""The hostile-input corpus: provenance bodies that must all be refused (issue 8).

Each :class:`Case` builds one provenance body from :class:`Materials` (a minted target wheel
and its throwaway Sigstore, or the real production-signed abi3info wheel) and names the
phrase the refusal must contain. ``tests/test_hostile.py`` runs every case through
``pip-attest verify FILE --provenance P`` and through ``pip-attest install`` from the
loopback index; ``tests/test_faults_e2e.py`` covers the index faults, which have no file
form.

Cases are data, built lazily: collection only needs the names, and a body is made when a
test asks for it. Every builder is deterministic except for ECDSA signatures.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from tests.support import throwaway_sigstore as ts

__all__ = [
    "CASES",
    "DEMO_IDENTITY",
    "DEMO_IDENTITY_TEXT",
    "DEMO_PROJECT",
    "REAL_ROOT",
    "REAL_WHEEL",
    "Case",
    "Materials",
]

REAL_WHEEL = "abi3info-2024.10.8-py3-none-any.whl"
OTHER_REAL_WHEEL = "abi3info-2024.10.3-py3-none-any.whl"
REAL_ROOT = "trusted_root.production.json"
DEMO_PROJECT = "hostile-demo"
DEMO_IDENTITY = ts.github("octo/hostile-demo")
DEMO_IDENTITY_TEXT = "github:octo/hostile-demo/release.yml"
# The body cap (pip_attest._provenance.MAX_PROVENANCE_BYTES), restated: a test that read it
# from the code under test could not notice the cap changing.
CAP = 2 * 1024 * 1024

Json = dict[str, Any]
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Materials:
    """What cases are built from: one instance per test module."""

    sigstore: ts.ThrowawaySigstore
    demo: Path  # the minted target: a small, installable wheel
    real: Path  # the real fixtures folder (MANIFEST.md)
    sigstore_root: Path  # the throwaway instance's trusted_root.json

    def minted(self, **kwargs: Any) -> Json:
        """A valid provenance for the demo wheel (``kwargs`` go to ``provenance``)."""
        return self.sigstore.provenance(self.demo, kwargs.pop("identity", DEMO_IDENTITY), **kwargs)

    @cached_property
    def demo_sha256(self) -> str:
        return hashlib.sha256(self.demo.read_bytes()).hexdigest()

    def real_provenance(self, name: str = REAL_WHEEL) -> Json:
        data: Json = json.loads((self.real / f"{name}.provenance").read_bytes())
        return data


@dataclass(frozen=True)
class Case:
    """One hostile body. ``reason`` is the key phrase of the one-line refusal.

    ``verify_reason`` replaces it where ``verify --provenance`` words it apart (it also reads
    a bare attestation). ``target`` says which file the body is served or checked with;
    ``paths`` which of ``verify`` and ``install`` the case is hostile for.
    """

    category: str
    build: Callable[[Materials], bytes]
    reason: str
    target: Literal["minted", "real"] = "minted"
    verify_reason: str | None = None
    # The index path checks the size before reading: an oversized body is "unavailable".
    install_status: str = "invalid"
    paths: tuple[Literal["verify", "install"], ...] = ("verify", "install")

    def phrase(self, path: Literal["verify", "install"]) -> str:
        if path == "verify" and self.verify_reason is not None:
            return self.verify_reason
        return self.reason


# -- helpers: JSON surgery ----------------------------------------------------------------


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _set(doc: Json, path: Path_, value: Any) -> Json:
    """A deep copy of ``doc`` with the item at ``path`` replaced (or added)."""
    out = copy.deepcopy(doc)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _drop(doc: Json, path: Path_) -> Json:
    out = copy.deepcopy(doc)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def _get(doc: Json, path: Path_) -> Any:
    node: Any = doc
    for key in path:
        node = node[key]
    return node


ATTESTATIONS: Path_ = ("attestation_bundles", 0, "attestations")
ATT: Path_ = (*ATTESTATIONS, 0)
PUBLISHER: Path_ = ("attestation_bundles", 0, "publisher")
MATERIAL: Path_ = (*ATT, "verification_material")
CERT: Path_ = (*MATERIAL, "certificate")
ENTRY: Path_ = (*MATERIAL, "transparency_entries", 0)
PROOF: Path_ = (*ENTRY, "inclusionProof")
STATEMENT: Path_ = (*ATT, "envelope", "statement")
SIGNATURE: Path_ = (*ATT, "envelope", "signature")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def flip_b64(value: str, at: float = 0.5) -> str:
    """The base64 field with one byte of its *decoded* content flipped (at a fraction)."""
    raw = bytearray(base64.b64decode(value))
    raw[int(len(raw) * at)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _minted(change: Callable[[Json], Json]) -> Callable[[Materials], bytes]:
    return lambda m: dumps(change(m.minted()))


def _minted_set(path: Path_, value: Any) -> Callable[[Materials], bytes]:
    return _minted(lambda p: _set(p, path, value))


def _minted_drop(path: Path_) -> Callable[[Materials], bytes]:
    return _minted(lambda p: _drop(p, path))


def _raw(body: bytes) -> Callable[[Materials], bytes]:
    return lambda m: body


def _faulty(**knobs: Any) -> Callable[[Materials], bytes]:
    return lambda m: dumps(m.minted(faults=ts.Faults(**knobs)))


def _real(change: Callable[[Json, Materials], Json]) -> Callable[[Materials], bytes]:
    return lambda m: dumps(change(m.real_provenance(), m))


def _real_flip(path: Path_, at: float = 0.5) -> Callable[[Materials], bytes]:
    return _real(lambda p, m: _set(p, path, flip_b64(_get(p, path), at)))


def _real_swap(path: Path_) -> Callable[[Materials], bytes]:
    """The field taken from the other real release's attestation (validly signed, wrong)."""
    return _real(lambda p, m: _set(p, path, _get(m.real_provenance(OTHER_REAL_WHEEL), path)))


def _real_text(path: Path_, change: Callable[[str], str]) -> Callable[[Materials], bytes]:
    return _real(lambda p, m: _set(p, path, change(_get(p, path))))


def _two_bundles(*, bad_first: bool) -> Callable[[Materials], bytes]:
    """A valid bundle next to a bundle whose proof is broken: all must verify."""

    def build(m: Materials) -> bytes:
        good = m.minted()["attestation_bundles"][0]
        bad = m.minted(faults=ts.Faults(bad_inclusion_proof=True))["attestation_bundles"][0]
        bundles = [bad, good] if bad_first else [good, bad]
        return dumps({"version": 1, "attestation_bundles": bundles})

    return build


def _real_and_other(*, other_first: bool) -> Callable[[Materials], bytes]:
    """The real, valid bundle plus the other release's real, valid bundle (another file)."""

    def build(m: Materials) -> bytes:
        good = m.real_provenance()["attestation_bundles"][0]
        other = m.real_provenance(OTHER_REAL_WHEEL)["attestation_bundles"][0]
        bundles = [other, good] if other_first else [good, other]
        return dumps({"version": 1, "attestation_bundles": bundles})

    return build


def _nested(depth: int, inside: bool = False) -> Callable[[Materials], bytes]:
    body = b"[" * depth + b"]" * depth
    if inside:
        return _raw(b'{"version":1,"attestation_bundles":' + body + b"}")
    return _raw(body)


def _padded(size: int) -> Callable[[Materials], bytes]:
    """A valid provenance padded with an ignored field to exactly ``size`` bytes."""

    def build(m: Materials) -> bytes:
        head = dumps(m.minted())[:-1] + b', "padding": "'
        return head + b"x" * (size - len(head) - 2) + b'"}'

    return build


def _many_bundles(count: int) -> Callable[[Materials], bytes]:
    def build(m: Materials) -> bytes:
        bundle = m.minted()["attestation_bundles"][0]
        return dumps({"version": 1, "attestation_bundles": [bundle] * count})

    return build


def _subject(name: str) -> Callable[[Materials], bytes]:
    """Validly signed, for the demo wheel's digest, under another subject name."""
    return lambda m: dumps(m.minted(faults=ts.Faults(subject_name=name)))


def _for_other_file(m: Materials) -> bytes:
    other = "hostile_demo-1.1-py3-none-any.whl"
    return dumps(m.sigstore.provenance_for(other, "ab" * 32, DEMO_IDENTITY))


def _other_instance(m: Materials) -> bytes:
    return dumps(ts.ThrowawaySigstore(seed=b"another instance").provenance(m.demo, DEMO_IDENTITY))


def _claim(**fields: Any) -> Callable[[Materials], bytes]:
    """The index names a publisher field the certificate does not carry."""
    return _minted(lambda p: _set(p, PUBLISHER, {**_get(p, PUBLISHER), **fields}))


def _homoglyph_signer(m: Materials) -> bytes:
    """A certificate for a look-alike repository (Cyrillic "е"), the index naming the real one.

    Fulcio writes the repository into UTF8String extensions, so non-ASCII is possible there
    (the SAN is an ASCII URI and stays as it is).
    """
    look_alike = "https://github.com/octo/hostile-d\u0435mo"
    signer = DEMO_IDENTITY.with_claim(ts.OID_SOURCE_REPOSITORY_URI, look_alike).with_claim(
        ts.OID_BUILD_CONFIG_URI, f"{look_alike}/.github/workflows/release.yml@refs/tags/v1.0.0"
    )
    return dumps(m.minted(identity=signer, publisher=DEMO_IDENTITY.publisher_json()))


def _environment_claim(claimed: str) -> Callable[[Materials], bytes]:
    """The certificate names environment ``pypi``; the index names ``claimed``."""
    signer = ts.github("octo/hostile-demo", environment="pypi")
    return lambda m: dumps(
        m.minted(identity=signer, publisher={**signer.publisher_json(), "environment": claimed})
    )


def _bare(m: Materials) -> bytes:
    """A bare attestation: ``verify --provenance`` takes it, the index must not serve it."""
    return dumps(_get(m.minted(), ATT))


def _bare_broken(m: Materials) -> bytes:
    attestation = _get(m.minted(), ATT)
    return dumps({**attestation, "envelope": {**attestation["envelope"], "signature": "!!"}})


def _duplicate_key(m: Materials) -> bytes:
    """JSON's last duplicate key wins: the valid bundles are replaced by an empty list."""
    good = dumps(m.minted())
    return good[:-1] + b', "attestation_bundles": []}'


_LONG = "x" * (1024 * 1024)
_ESCAPES = "octo/demo\n  verified  hostile-demo 1.0  \x1b[2J\x1b[32mgithub:octo/demo\x1b[0m\r"

# fmt: off
CASES: dict[str, Case] = {
    # -- not JSON, or JSON of the wrong shape ---------------------------------------------
    "not-json-html": Case("shape", _raw(b"<html><body>502 Bad Gateway</body></html>"),
                          "provenance is not valid JSON"),
    "not-utf8": Case("shape", _raw(b"\xff\xfe\xfd{"), "provenance is not valid JSON"),
    "empty-body": Case("shape", _raw(b""), "provenance is not valid JSON"),
    "whitespace-only": Case("shape", _raw(b" \r\n\t "), "provenance is not valid JSON"),
    "trailing-garbage": Case("shape", lambda m: dumps(m.minted()) + b"<!-- -->",
                             "provenance is not valid JSON: Extra data"),
    "truncated-json": Case("shape", lambda m: dumps(m.minted())[:2000],
                           "provenance is not valid JSON"),
    "nan-version": Case("shape", _raw(b'{"version": NaN, "attestation_bundles": []}'),
                        "malformed provenance: version"),
    "top-level-list": Case("shape", _raw(b"[]"), "provenance is a JSON list, not an object"),
    "top-level-string": Case("shape", _raw(b'"{}"'), "provenance is a JSON string, not an object"),
    "top-level-number": Case("shape", _raw(b"1"), "provenance is a JSON number, not an object"),
    "top-level-null": Case("shape", _raw(b"null"), "provenance is a JSON null, not an object"),
    "top-level-true": Case("shape", _raw(b"true"), "provenance is a JSON boolean, not an object"),
    "missing-bundles": Case("shape", _raw(b'{"version": 1}'),
                            "malformed provenance: attestation_bundles: Field required"),
    "unknown-version-2": Case("shape", _minted(lambda p: _set(p, ("version",), 2)),
                              "malformed provenance: version: Input should be 1"),
    "version-as-string": Case("shape", _minted(lambda p: _set(p, ("version",), "1")),
                              "malformed provenance: version: Input should be 1"),
    "bundles-an-object": Case("shape", _minted(lambda p: _set(p, ("attestation_bundles",), {})),
                              "malformed provenance: attestation_bundles"),
    "bundles-null": Case("shape", _minted(lambda p: _set(p, ("attestation_bundles",), None)),
                         "malformed provenance: attestation_bundles"),
    "bundle-null": Case("shape", _minted(lambda p: _set(p, ("attestation_bundles", 0), None)),
                        "malformed provenance: attestation_bundles.0"),
    "bundle-without-publisher": Case("shape", _minted_drop(PUBLISHER),
                                     "malformed provenance: attestation_bundles.0.publisher"),
    "publisher-null": Case("shape", _minted_set(PUBLISHER, None),
                           "malformed provenance: attestation_bundles.0.publisher"),
    "publisher-a-string": Case("shape", _minted_set(PUBLISHER, "GitHub"),
                               "malformed provenance: attestation_bundles.0.publisher"),
    "publisher-unknown-kind": Case("shape", _minted_set(PUBLISHER, {"kind": "ActiveState"}),
                                   "'ActiveState'"),
    "publisher-without-kind": Case("shape", _minted_drop((*PUBLISHER, "kind")),
                                   "malformed provenance: attestation_bundles.0.publisher"),
    "publisher-without-repository": Case(
        "shape", _minted_drop((*PUBLISHER, "repository")),
        "malformed provenance: attestation_bundles.0.publisher.GitHub.repository"),
    "publisher-repository-a-number": Case(
        "shape", _minted_set((*PUBLISHER, "repository"), 42),
        "malformed provenance: attestation_bundles.0.publisher.GitHub.repository"),
    "attestations-null": Case("shape", _minted_set(ATTESTATIONS, None),
                              "malformed provenance: attestation_bundles.0.attestations"),
    "attestation-without-envelope": Case("shape", _minted_drop((*ATT, "envelope")),
                                         "envelope: Field required"),
    "attestation-version-2": Case("shape", _minted_set((*ATT, "version"), 2),
                                  "attestations.0.version: Input should be 1"),
    "attestation-without-version": Case("shape", _minted_drop((*ATT, "version")),
                                        "attestations.0.version: Field required"),
    "material-null": Case("shape", _minted_set(MATERIAL, None), "verification_material"),
    "certificate-not-base64": Case("shape", _minted_set(CERT, "!!not base64!!"),
                                   "verification_material.certificate"),
    "certificate-garbage": Case("shape", _minted_set(CERT, _b64(b"\x30\x03abc")),
                                "malformed attestation"),
    "certificate-empty": Case("shape", _minted_set(CERT, ""), "malformed attestation"),
    "transparency-entries-empty": Case(
        "shape", _minted_set((*MATERIAL, "transparency_entries"), []),
        "transparency_entries: List should have at least 1 item"),
    "transparency-entries-null": Case(
        "shape", _minted_set((*MATERIAL, "transparency_entries"), None),
        "transparency_entries"),
    "transparency-entry-a-string": Case("shape", _minted_set(ENTRY, "entry"),
                                        "transparency_entries.0: Input should be a valid dict"),
    "statement-not-base64": Case("shape", _minted_set(STATEMENT, "%%%%"), "DSSE: invalid"),
    "signature-not-base64": Case("shape", _minted_set(SIGNATURE, "%%%%"),
                                 "envelope signature must be non-empty"),
    "signature-empty": Case("shape", _minted_set(SIGNATURE, ""),
                            "envelope signature must be non-empty"),
    "no-bundles": Case("shape", _raw(b'{"version": 1, "attestation_bundles": []}'),
                       "provenance holds no attestations"),
    "no-attestations": Case("shape", _minted_set(ATTESTATIONS, []),
                            "provenance holds no attestations"),
    "duplicate-key-last-wins": Case("shape", _duplicate_key, "provenance holds no attestations"),
    # Valid for `verify --provenance` (a bare attestation is its documented input).
    "bare-attestation": Case("shape", _bare, "attestation_bundles: Field required",
                             paths=("install",)),
    "bare-attestation-broken": Case("shape", _bare_broken, "attestation_bundles: Field required",
                                    verify_reason="envelope signature must be non-empty"),
    # -- oversized and pathological ------------------------------------------------------
    "size-50-mib": Case("size", _padded(50 * 1024 * 1024),
                        f"provenance is 52428800 bytes, over the {CAP}-byte limit",
                        install_status="unavailable"),
    "size-cap-plus-one": Case("size", _padded(CAP + 1),
                              f"provenance is {CAP + 1} bytes, over the {CAP}-byte limit",
                              install_status="unavailable"),
    "nested-100000-lists": Case("size", _nested(100_000), "provenance is nested too deeply"),
    "nested-100000-objects": Case("size", _raw(b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
                                  "provenance is nested too deeply"),
    "nested-inside-bundles": Case("size", _nested(100_000, inside=True),
                                  "provenance is nested too deeply"),
    "huge-integer": Case("size", _raw(b'{"version": ' + b"9" * 5000 + b"}"),
                         "provenance is not valid JSON"),
    "too-many-attestations": Case("size", _many_bundles(33),
                                  "provenance holds 33 attestations, over the limit of 32"),
    "200-attestations": Case("size", _many_bundles(200),
                             "provenance holds 200 attestations, over the limit of 32"),
    "10000-attestations": Case("size", _many_bundles(10_000), f"bytes, over the {CAP}-byte limit",
                               install_status="unavailable"),
    "long-publisher-repository": Case("size", _claim(repository=_LONG),
                                      "signer does not match the publisher the index names"),
    "long-certificate": Case("size", _minted_set(CERT, _b64(b"\x30" * 600_000)),
                             "malformed attestation"),
    "long-subject-name": Case("size", _subject("hostile_demo-1.0-" + "x" * 500_000 + ".whl"),
                              "is not a distribution filename"),
    # -- odd Unicode and control characters ---------------------------------------------
    "subject-homoglyph": Case("unicode", _subject("hostile_d\u0435mo-1.0-py3-none-any.whl"),
                              "attestation is for another file"),
    "subject-right-to-left": Case("unicode", _subject("hostile_demo-1.0-py3-none-\u202eany.whl"),
                                  "attestation is for another file"),
    "subject-control-characters": Case("unicode", _subject("hostile_demo-1.0\n\x1b[2J.whl"),
                                       "is not a distribution filename"),
    "claim-homoglyph-repository": Case("unicode", _claim(repository="octo/hostile-d\u0435mo"),
                                       "signer does not match the publisher the index names"),
    "claim-control-characters": Case("unicode", _claim(repository=_ESCAPES),
                                     "field 'repository' holds control characters"),
    "claim-lone-surrogate": Case("unicode",
                                 _minted(lambda p: _set(p, (*PUBLISHER, "workflow"), "\ud800.yml")),
                                 "signer does not match the publisher the index names"),
    "claim-nul-byte": Case("unicode", _environment_claim("pypi\x00"),
                           "field 'environment' holds control characters"),
    "identity-homoglyph": Case("unicode", _homoglyph_signer,
                               "signer does not match the publisher the index names"),
    # -- bad crypto: the throwaway Sigstore's knobs, one each ---------------------------
    "minted-expired-cert": Case("crypto", _faulty(expired_cert=True), "not valid at validation"),
    "minted-untrusted-ca": Case("crypto", _faulty(untrusted_ca=True), "signature check failed"),
    "minted-oidc-issuer": Case("crypto", _faulty(oidc_issuer="https://token.example.invalid"),
                               "signer does not match the publisher the index names"),
    "minted-sct-unknown-log": Case("crypto", _faulty(sct_unknown_log=True), "failed to verify SCT"),
    "minted-sct-invalid": Case("crypto", _faulty(sct_invalid=True), "failed to verify SCT"),
    "minted-no-sct": Case("crypto", _faulty(no_sct=True), "signed certificate timestamp"),
    "minted-bad-inclusion-proof": Case("crypto", _faulty(bad_inclusion_proof=True),
                                       "invalid log entry: inclusion"),
    "minted-checkpoint-wrong-key": Case("crypto", _faulty(checkpoint_wrong_key=True),
                                        "checkpoint: invalid signature"),
    "minted-bad-set": Case("crypto", _faulty(bad_set=True), "invalid inclusion promise"),
    "minted-log-body-mismatch": Case("crypto", _faulty(log_body_mismatch=True),
                                     "log entry signatures do not match bundle"),
    "minted-signature-over-other-payload": Case("crypto",
                                                _faulty(signature_over_other_payload=True),
                                                "DSSE: invalid"),
    "minted-no-code-signing-eku": Case("crypto", _faulty(no_code_signing_eku=True), "code signing"),
    "minted-no-key-usage": Case("crypto", _faulty(no_key_usage=True), "signature check failed"),
    "minted-no-inclusion-promise": Case("crypto", _faulty(no_inclusion_promise=True),
                                        "malformed attestation"),
    "minted-subject-digest": Case("crypto", _faulty(subject_digest="ab" * 32),
                                  "digest mismatch"),
    "minted-two-subjects": Case("crypto", _faulty(two_subjects=True),
                                "statement has 2 subjects, expected exactly 1"),
    "minted-unknown-predicate": Case("crypto",
                                     _faulty(predicate_type="https://example.invalid/p/v1"),
                                     "unknown predicate type"),
    "minted-for-another-file": Case("crypto", _for_other_file, "attestation is for another file"),
    "minted-by-another-instance": Case("crypto", _other_instance, "signature check failed"),
    "minted-bad-bundle-last": Case("crypto", _two_bundles(bad_first=False),
                                   "invalid log entry: inclusion"),
    "minted-bad-bundle-first": Case("crypto", _two_bundles(bad_first=True),
                                    "invalid log entry: inclusion"),
    # -- bad crypto: the real, production-signed abi3info provenance, mutated ------------
    "real-certificate-swapped": Case("crypto", _real_swap(CERT), "not valid at validation time",
                                     target="real"),
    "real-signature-swapped": Case("crypto", _real_swap(SIGNATURE), "DSSE: invalid signature",
                                   target="real"),
    "real-statement-swapped": Case("crypto", _real_swap(STATEMENT), "DSSE: invalid signature",
                                   target="real"),
    "real-certificate-byte-flipped": Case("crypto", _real_flip(CERT), "signature does not match",
                                          target="real"),
    "real-signature-byte-flipped": Case("crypto", _real_flip(SIGNATURE),
                                        "signature check failed", target="real"),
    "real-statement-byte-flipped": Case("crypto", _real_flip(STATEMENT),
                                        "signature check failed", target="real"),
    "real-log-index-changed": Case("crypto", _real_text((*ENTRY, "logIndex"),
                                                        lambda v: str(int(v) + 1)),
                                   "SET: invalid inclusion promise", target="real"),
    "real-integrated-time-changed": Case("crypto", _real_text((*ENTRY, "integratedTime"),
                                                              lambda v: str(int(v) - 3600)),
                                         "not valid at validation time", target="real"),
    "real-inclusion-proof-hash-flipped": Case("crypto", _real_flip((*PROOF, "hashes", 0)),
                                              "signature check failed", target="real"),
    "real-inclusion-proof-root-flipped": Case("crypto", _real_flip((*PROOF, "rootHash")),
                                              "invalid root hash", target="real"),
    "real-inclusion-proof-index-changed": Case("crypto", _real_text((*PROOF, "logIndex"),
                                                                    lambda v: str(int(v) + 1)),
                                               "invalid transparency log entry", target="real"),
    "real-tree-size-changed": Case("crypto", _real_text((*PROOF, "treeSize"),
                                                        lambda v: str(int(v) + 1)),
                                   "inclusion proof has wrong size", target="real"),
    "real-checkpoint-changed": Case("crypto", _real_text((*PROOF, "checkpoint", "envelope"),
                                                         lambda v: v.replace("\n", "\n1", 1)),
                                    "checkpoint: invalid signature", target="real"),
    "real-canonicalized-body-flipped": Case("crypto", _real_flip((*ENTRY, "canonicalizedBody")),
                                            "invalid root hash", target="real"),
    "real-canonicalized-body-swapped": Case("crypto", _real_swap((*ENTRY, "canonicalizedBody")),
                                            "signature check failed", target="real"),
    "real-inclusion-promise-flipped": Case("crypto",
                                           _real_flip((*ENTRY, "inclusionPromise",
                                                       "signedEntryTimestamp")),
                                           "SET: invalid inclusion promise", target="real"),
    "real-log-id-changed": Case("crypto", _real_flip((*ENTRY, "logId", "keyId")),
                                "SET: invalid inclusion promise", target="real"),
    "real-kind-changed": Case("crypto", _real_text((*ENTRY, "kindVersion", "kind"),
                                                   lambda v: "hashedrekord"),
                              "Unsupported DSSE log entry type", target="real"),
    "real-another-files-provenance": Case("crypto",
                                          lambda m: dumps(m.real_provenance(OTHER_REAL_WHEEL)),
                                          "attestation is for another file", target="real"),
    "real-plus-another-files-bundle": Case("crypto", _real_and_other(other_first=False),
                                           "attestation is for another file", target="real"),
    "real-another-files-bundle-first": Case("crypto", _real_and_other(other_first=True),
                                            "attestation is for another file", target="real"),
    "real-claim-another-repository": Case("crypto",
                                          _real_text((*PUBLISHER, "repository"),
                                                     lambda v: "attacker/abi3info"),
                                          "expected github:attacker/abi3info/release.yml",
                                          target="real"),
}
# fmt: on
