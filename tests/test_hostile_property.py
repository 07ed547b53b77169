"""Property: provenance parsing and verification raise pip-attest's own errors, or nothing.

Whatever bytes or JSON an index serves, ``parse_provenance`` (with and without bare
attestations) and ``AttestationVerifier.verify`` either succeed or raise a subclass of
``pip_attest._errors.Error``. Anything else (a ``KeyError``, a ``RecursionError``, a
pydantic error, a sigstore or cryptography exception) would reach the user as an internal
error instead of a one-line refusal. The verifier is the real one, against a minted root.

Examples are bounded (about 15 s in all) and not stored: ``database=None`` keeps the test
from writing a ``.hypothesis`` folder into the tree.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pip_attest._errors import Error
from pip_attest._identity import Identity, identity_from_publisher, parse_identity
from pip_attest._model import Artifact
from pip_attest._verify import AttestationVerifier, check_statement, parse_provenance
from tests.support import throwaway_sigstore as ts
from tests.support.hostile import DEMO_IDENTITY
from tests.support.packages import named

FILENAME = "prop_demo-1.0-py3-none-any.whl"
SHA256 = "5" * 64
ARTIFACT = Artifact(FILENAME, SHA256, *named(FILENAME))

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any JSON value, with the awkward corners in: NaN and infinities (Python's json reads them),
# lone surrogates, control characters, huge and negative integers.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def verifier(minted_root: Path) -> AttestationVerifier:
    return AttestationVerifier(minted_root)


@pytest.fixture(scope="module")
def valid(sigstore_instance: ts.ThrowawaySigstore) -> dict[str, Any]:
    """A provenance that verifies: the mutations below start from it."""
    predicates = (ts.PUBLISH_V1, ts.SLSA_PROVENANCE_V1)
    provenance: dict[str, Any] = sigstore_instance.provenance_for(
        FILENAME, SHA256, DEMO_IDENTITY, predicate_types=predicates
    )
    return provenance


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths to the values inside ``node``: every dict key, and each list's first and
    last item (a proof's dozens of hashes would otherwise draw most of the examples)."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list) and node:
        out += _paths(node[0], (*prefix, 0))
        if len(node) > 1:
            out += _paths(node[-1], (*prefix, len(node) - 1))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _replaced(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


ORIGINAL = ("github:octo/hostile-demo/release.yml",)


def _try(verifier: AttestationVerifier, data: bytes, allow_bare: bool) -> Any:
    try:
        attestations = parse_provenance(data, allow_bare=allow_bare)
        proved = tuple(str(i) for i in verifier.verify(ARTIFACT, attestations))
    except Error:
        return None
    reading = [(claim, a.model_dump(mode="json")) for claim, a in attestations.items]
    text = json.dumps(reading, ensure_ascii=False)
    return proved, json.loads(_UNSIGNED_KEY_NAME.sub(r"\1<key>\2", text))


# The one part of a provenance that is read but not signed, by design: the key *name* on a
# checkpoint's signature line ("— rekor.sigstore.dev <sig>"); C2SP signed notes pick the key
# by the hint inside the signature (see test_hostile.py's sweep).
_UNSIGNED_KEY_NAME = re.compile(r"(\\n\u2014 )[^ ]*( )")


def outcome(verifier: AttestationVerifier, data: bytes) -> tuple[str, ...] | None:
    """What the install path and the verify path (bare attestations allowed) make of
    ``data``: the identities proved, or None when both refuse it. Only pip-attest's own
    errors may come out; anything else fails the test."""
    for allow_bare in (False, True):
        found = _try(verifier, data, allow_bare)
        if found is not None:
            return tuple(found[0])
    return None


def refused(verifier: AttestationVerifier, data: bytes) -> None:
    assert outcome(verifier, data) is None, f"accepted: {data[:300]!r}"


def refused_unless_it_reads_the_same(
    verifier: AttestationVerifier, data: bytes, original: bytes
) -> None:
    """A mutated provenance is refused, unless it reads exactly as the original once parsed
    (a dropped field that has a default, JSON spelling): then it proves the original signer,
    never another. Were verification to accept everything, any mutation of what is read
    (the certificate, a proof, the envelope) would fail this."""
    for allow_bare in (False, True):
        found = _try(verifier, data, allow_bare)
        if found is None:
            continue
        proved, reading = found
        expected = _try(verifier, original, allow_bare)
        assert expected is not None
        assert proved == ORIGINAL
        assert reading == expected[1], f"a provenance that reads differently verified: {reading}"


def test_the_unmutated_provenance_verifies(
    verifier: AttestationVerifier, valid: dict[str, Any]
) -> None:
    """The control: the starting point of every mutation passes."""
    assert outcome(verifier, json.dumps(valid).encode()) == ORIGINAL


@BOUNDED
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes(verifier: AttestationVerifier, data: bytes) -> None:
    refused(verifier, data)


@BOUNDED
@given(value=json_values)
def test_arbitrary_json(verifier: AttestationVerifier, value: Any) -> None:
    refused(verifier, json.dumps(value).encode())


@BOUNDED
@given(choice=st.data(), value=json_values)
def test_one_value_of_a_valid_provenance_replaced(
    verifier: AttestationVerifier, valid: dict[str, Any], choice: st.DataObject, value: Any
) -> None:
    path = choice.draw(st.sampled_from(_paths(valid)), label="path")
    mutated = json.dumps(_replaced(valid, path, value)).encode()
    refused_unless_it_reads_the_same(verifier, mutated, json.dumps(valid).encode())


@BOUNDED
@given(choice=st.data())
def test_one_string_of_a_valid_provenance_replaced(
    verifier: AttestationVerifier, valid: dict[str, Any], choice: st.DataObject
) -> None:
    """Type-preserving: a string becomes another string (text, or base64 of other bytes),
    so the body gets past the wire models into the cryptography and the claims."""
    strings = [p for p in _paths(valid) if isinstance(_get(valid, p), str)]
    path = choice.draw(st.sampled_from(strings), label="path")
    value = choice.draw(
        st.text(max_size=60)
        | st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode())
        | st.sampled_from(["", "0", "-1", "1" * 30, _get(valid, path)[:-1]]),
        label="value",
    )
    mutated = json.dumps(_replaced(valid, path, value)).encode()
    refused_unless_it_reads_the_same(verifier, mutated, json.dumps(valid).encode())


@BOUNDED
@given(choice=st.data(), value=json_values)
def test_one_value_of_a_bare_attestation_replaced(
    verifier: AttestationVerifier, valid: dict[str, Any], choice: st.DataObject, value: Any
) -> None:
    bare = valid["attestation_bundles"][0]["attestations"][0]
    path = choice.draw(st.sampled_from(_paths(bare)), label="path")
    mutated = json.dumps(_replaced(bare, path, value)).encode()
    refused_unless_it_reads_the_same(verifier, mutated, json.dumps(bare).encode())


@BOUNDED
@given(choice=st.data())
def test_one_byte_of_a_valid_provenance_changed(
    verifier: AttestationVerifier, valid: dict[str, Any], choice: st.DataObject
) -> None:
    body = bytearray(json.dumps(valid).encode())
    at = choice.draw(st.integers(0, len(body) - 1), label="at")
    body[at] = choice.draw(st.integers(0, 255), label="byte")
    refused_unless_it_reads_the_same(verifier, bytes(body), json.dumps(valid).encode())


@BOUNDED
@given(
    publisher=st.dictionaries(
        st.sampled_from(
            [
                "kind",
                "repository",
                "workflow",
                "environment",
                "email",
                "project_id",
                "pipeline_definition_id",
                "vcs_origin",
                "vcs_ref",
                "workflow_filepath",
                "claims",
            ]
        ),
        json_values | st.sampled_from(["GitHub", "GitLab", "Google", "CircleCI"]),
        max_size=6,
    )
)
def test_any_publisher_claim(
    verifier: AttestationVerifier, valid: dict[str, Any], publisher: dict[str, Any]
) -> None:
    """The index's publisher object is the part most read as data after the signature: it
    can make a file refused, never make it proved by anyone but the certificate's signer."""
    doc = _replaced(valid, ("attestation_bundles", 0, "publisher"), publisher)
    proved = outcome(verifier, json.dumps(doc).encode())
    if proved is None:
        return
    assert proved == ORIGINAL
    # Accepted only when the claim names the certificate's signer.
    claimed = identity_from_publisher(publisher)
    assert parse_identity(ORIGINAL[0]).satisfies(claimed.without_environment())


@BOUNDED
@given(payload=st.binary(max_size=256) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_signed_statement(payload: bytes) -> None:
    """What a valid signature may still carry: any statement, checked against the file.
    None of these names the file with its sha256, so every one is refused."""
    with pytest.raises(Error):
        check_statement(payload, ARTIFACT)


@settings(max_examples=40, deadline=None, database=None)
@given(
    repository=st.text(min_size=1, max_size=30),
    workflow=st.text(min_size=1, max_size=30),
    environment=st.none() | st.text(max_size=20),
    claim=st.sampled_from([ts.OID_BUILD_CONFIG_URI, ts.OID_SOURCE_REPOSITORY_URI, ts.OID_ISSUER]),
    claim_value=st.text(max_size=60),
)
def test_any_certificate_claims(
    sigstore_instance: ts.ThrowawaySigstore,
    verifier: AttestationVerifier,
    repository: str,
    workflow: str,
    environment: str | None,
    claim: str,
    claim_value: str,
) -> None:
    """A certificate the root trusts, whose Fulcio extensions say odd things (Fulcio copies
    them from the CI's token): reading the identity from them must fail cleanly."""
    identity = ts.github("octo/demo", environment=environment).with_claim(claim, claim_value)
    publisher = {"kind": "GitHub", "repository": repository, "workflow": workflow}
    try:
        provenance = sigstore_instance.provenance_for(
            FILENAME, SHA256, identity, publisher=publisher
        )
    except ValueError:
        return  # not even a certificate can carry it (cryptography refuses)
    proved = outcome(verifier, json.dumps(provenance).encode())
    # Proved only if the index's claim names the signer the certificate shows.
    claimed = Identity("GitHub", repository=repository, workflow=workflow)
    if proved is not None:
        (signer,) = proved
        assert parse_identity(signer).satisfies(claimed), (signer, claimed)
