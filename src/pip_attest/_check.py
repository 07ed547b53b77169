"""One file through the pipeline: find provenance → verify → judge.

Nothing pip-specific lives here: a caller (the seam, ``lock``, ``verify``) hands over a
:class:`~pip_attest._candidate.Candidate` (a filename, the sha256 of the bytes pip holds,
where the file came from, pip's project and version for it) and gets a
:class:`~pip_attest._model.FileResult`. The first two stages (:class:`~pip_attest._examine.
Examiner`) may run on background threads; the third (the policy) always runs on the thread
that asks for the result. Every unexpected exception becomes a blocking result.
"""

from __future__ import annotations

from pip_attest._background import Pending
from pip_attest._candidate import Candidate
from pip_attest._config import Settings
from pip_attest._examine import Examiner, Found
from pip_attest._fileio import prepare_locking
from pip_attest._model import FileResult
from pip_attest._policy import Policy
from pip_attest._prove import Prover
from pip_attest._provenance import HttpSession

__all__ = ["Candidate", "Checker", "Found"]


class Checker:
    """Checks candidates for one run, with one policy, one cache and (at most) one
    verifier or verification helper."""

    def __init__(
        self,
        settings: Settings,
        session: HttpSession | None,
        *,
        helper: bool = False,
        policy: Policy | None = None,
    ) -> None:
        """``helper``: verify in a helper process (:mod:`pip_attest._helper`)."""
        self.settings = settings
        self.policy = policy or Policy(settings)
        self.prover = Prover(settings.trust_root, helper=helper)
        self.examiner = Examiner.create(
            session,
            integrity_apis=settings.integrity_apis,
            timeout=settings.timeout,
            prover=self.prover,
        )

    def prefetch(self, candidate: Candidate) -> None:
        self.examiner.prefetch(candidate)

    def speculate(self, candidate: Candidate) -> None:
        self.examiner.speculate(candidate)

    def submit(self, candidate: Candidate) -> Pending[Found]:
        return self.examiner.submit(candidate)

    def examine(self, candidate: Candidate) -> Found:
        return self.examiner.examine(candidate)

    def check(self, candidate: Candidate) -> FileResult:
        started = self.examiner.started(candidate)
        found = started.result() if started is not None else self.examiner.examine(candidate)
        return self.conclude(candidate, found)

    def conclude(self, candidate: Candidate, found: Found) -> FileResult:
        """Judge what was found. Runs the policy, so call it from one thread."""
        # A requirement pip has not named yet is judged under its URL (no pin or record can
        # apply to it); the seam judges it again under its real name before any install.
        project = candidate.project or candidate.file_url
        evidence, url = found
        verdict = self.policy.judge(project, evidence, candidate.version)
        return FileResult(
            project=project,
            version=candidate.version,
            filename=candidate.filename,
            sha256=candidate.sha256,
            status=verdict.status,
            identities=evidence.identities,
            reason=verdict.reason,
            hint=verdict.hint,
            blocking=verdict.blocking,
            provenance_url=url,
            origin=candidate.origin,
            expected=verdict.expected,
        )

    def commit(self, results: list[FileResult]) -> None:
        """The run goes ahead with these results: let the policy remember what it saw
        (first-seen records). Called once, when the run is past its last refusal. The
        records are written on the writer thread while pip installs (a durable write per
        new project would otherwise hold pip's thread); :meth:`close`, or the exit, waits
        for them. What writing needs is imported here, before pip blocks imports."""
        prepare_locking()
        seen = list(results)
        self.prover.write_later(lambda: self.policy.remember(seen))

    def close(self) -> None:
        self.prover.close()
