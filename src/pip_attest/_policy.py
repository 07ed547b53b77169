"""Judge: turn what verification found into one result per file, and go or abort.

This is the only place that decides. Verification says what is *true* of a file (these
identities signed it, or it has no provenance, or its provenance is broken); the policy says
whether that is *acceptable* (DESIGN.md §4). Expected publishers come from explicit pins
(``--publisher``, ``PIP_ATTEST_PUBLISHER``); without a pin the publisher the index names is
accepted once the certificate proves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from pip_attest._config import Settings
from pip_attest._identity import Identity
from pip_attest._model import FileResult, Status


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the verify stage established about one file."""

    kind: str  # verified | invalid | missing | unavailable
    identities: tuple[Identity, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    blocking: bool
    reason: str
    hint: str
    expected: tuple[Identity, ...] = ()


class Policy:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def expected(self, project: str) -> tuple[Identity, ...]:
        return self._settings.pins.get(canonicalize_name(project), ())

    def remember(self, results: Sequence[FileResult]) -> None:
        """Record what a successful run saw (trust on first use)."""

    def judge(self, project: str, evidence: Evidence) -> Verdict:
        name = canonicalize_name(project)
        expected = self.expected(name)
        if evidence.kind == "invalid":
            return Verdict(
                Status.INVALID,
                True,
                evidence.reason,
                "do not install this file; run 'pip-attest verify' on it for details "
                "and report it to the index",
                expected,
            )
        if evidence.kind == "unavailable":
            return Verdict(
                Status.UNAVAILABLE,
                True,
                evidence.reason,
                "provenance could not be fetched, so nothing was installed; "
                "retry, or check the index",
                expected,
            )
        if evidence.kind == "missing":
            if expected:
                return Verdict(
                    Status.DOWNGRADE,
                    True,
                    f"no attestation, but {name} is pinned to {_names(expected)}",
                    f"if {name} really stopped attesting, remove its pin",
                    expected,
                )
            allowed = name in self._settings.allow_unattested
            if self._settings.require_attestations and not allowed:
                return Verdict(
                    Status.MISSING,
                    True,
                    evidence.reason or "no attestation",
                    f"attestations are required; to install {name} anyway, add "
                    f"--allow-unattested {name}",
                    expected,
                )
            return Verdict(Status.MISSING, False, evidence.reason or "no attestation", "")
        unexpected = [
            i for i in evidence.identities if expected and not any(i.satisfies(e) for e in expected)
        ]
        if unexpected:
            got = unexpected[0]
            return Verdict(
                Status.UNEXPECTED_PUBLISHER,
                True,
                f"got {got}, expected {_names(expected)}",
                f"if {got} is a legitimate publisher of {name}, pin it: --publisher {name}={got}",
                expected,
            )
        return Verdict(Status.VERIFIED, False, "", "", expected)


def _names(identities: Sequence[Identity]) -> str:
    return " or ".join(str(i) for i in identities)
