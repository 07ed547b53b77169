"""The pipeline for one file: find provenance → verify → judge.

Nothing pip-specific lives here: the seam hands over a :class:`Candidate` (a filename, the
sha256 of the bytes pip holds, where the file came from) and gets a :class:`FileResult`.
Every unexpected exception becomes a blocking result: when in doubt, nothing is installed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pip_attest._config import Settings
from pip_attest._errors import Error, TrustError
from pip_attest._model import Artifact, FileResult, Status, project_and_version
from pip_attest._policy import Evidence, Policy
from pip_attest._provenance import Advert, HttpSession, ProvenanceFinder

if TYPE_CHECKING:
    from pip_attest._verify import AttestationVerifier


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file pip is about to use.

    ``sha256`` is empty for things that are not distribution files (a local directory, a VCS
    checkout), which can carry no attestation.
    """

    filename: str
    sha256: str
    file_url: str
    advert: Advert | None = None
    origin: str = "index"  # index | wheel-cache | local
    project: str | None = None
    version: str | None = None
    note: str = ""


class Checker:
    """Checks candidates for one pip process. Builds the sigstore verifier at most once."""

    def __init__(self, settings: Settings, session: HttpSession | None) -> None:
        self.settings = settings
        self.policy = Policy(settings)
        self._finder = ProvenanceFinder(
            session, integrity_apis=settings.integrity_apis, timeout=settings.timeout
        )
        self._verifier: AttestationVerifier | None = None

    def verifier(self) -> AttestationVerifier:
        if self._verifier is None:
            from pip_attest._trust import ensure_root
            from pip_attest._verify import AttestationVerifier

            self._verifier = AttestationVerifier(ensure_root(self.settings.trust_root))
        return self._verifier

    def check(self, candidate: Candidate) -> FileResult:
        pv = project_and_version(candidate.filename)
        project = candidate.project or (pv[0] if pv else candidate.filename)
        version = candidate.version or (pv[1] if pv else "")
        base = FileResult(
            project=project,
            version=version,
            filename=candidate.filename,
            sha256=candidate.sha256,
            status=Status.INVALID,
            origin=candidate.origin,
        )
        try:
            evidence, url = self._evidence(candidate)
        except Exception as err:  # fail closed on anything we did not foresee
            evidence, url = Evidence("invalid", reason=f"internal error: {_brief(err)}"), None
        verdict = self.policy.judge(project, evidence, version)
        return replace(
            base,
            status=verdict.status,
            identities=evidence.identities,
            reason=verdict.reason,
            hint=verdict.hint,
            blocking=verdict.blocking,
            provenance_url=url,
            expected=verdict.expected,
        )

    def _evidence(self, candidate: Candidate) -> tuple[Evidence, str | None]:
        if not candidate.sha256:
            return Evidence("missing", reason=candidate.note or "not a distribution file"), None
        fetched = self._finder.find(candidate.file_url, candidate.filename, candidate.advert)
        if fetched.kind == "none":
            return Evidence("missing", reason=fetched.reason), fetched.url
        if fetched.kind == "error":
            return Evidence("unavailable", reason=fetched.reason), fetched.url
        from pip_attest._verify import parse_provenance

        artifact = Artifact(candidate.filename, candidate.sha256)
        try:
            attestations = parse_provenance(fetched.body)
            identities = self.verifier().verify(artifact, attestations)
        except TrustError as err:
            return Evidence("invalid", reason=f"trust root unusable: {err}"), fetched.url
        except Error as err:
            return Evidence("invalid", reason=str(err)), fetched.url
        return Evidence("verified", identities=identities), fetched.url

    def commit(self, results: list[FileResult]) -> None:
        """The run goes ahead with these results: let the policy remember what it saw
        (trust-on-first-use records). Called once, after the gate passed."""
        self.policy.remember(results)


def append_results(path: Path, results: list[FileResult], *, origin: str | None = None) -> None:
    """Append results as JSON lines. One ``write`` per line, on an O_APPEND descriptor, so
    concurrent pip processes of one run cannot interleave their lines."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for result in results:
            record = result.to_json()
            if origin is not None and record["origin"] == "index":
                record["origin"] = origin
            os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def read_results(path: Path) -> list[dict[str, Any]]:
    """Read the results of a run. A line we cannot read is itself a blocking result."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "status" not in record:
                raise ValueError("not a result record")
        except ValueError:
            record = {
                "project": "?",
                "version": "",
                "filename": "?",
                "sha256": "",
                "status": Status.INVALID.value,
                "blocking": True,
                "identities": [],
                "publishers": [],
                "expected": [],
                "reason": "unreadable result record from a pip subprocess",
                "hint": "",
                "provenance_url": None,
                "origin": "?",
            }
        out.append(record)
    return out


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__
