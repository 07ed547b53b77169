"""What an audit concludes about each installed distribution."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, NamedTuple

from pip_attest._audit._bind import Binding, Installed
from pip_attest._model import FileResult


class AuditStatus(str, enum.Enum):
    """One status per distribution (README, "pip-attest audit")."""

    VERIFIED = "verified"
    # The attested file is the sdist this distribution was built from on this machine: a
    # weaker result than "verified" (what was built is bound to the sdist's sources only).
    BUILT_FROM_SDIST = "built-from-sdist"
    INVALID = "invalid"
    UNEXPECTED_PUBLISHER = "unexpected-publisher"
    DOWNGRADE = "downgrade"
    MISSING = "missing"
    UNAVAILABLE = "unavailable"
    MODIFIED = "modified"
    NOT_FROM_INDEX = "not-from-index"


# When several findings concern one distribution, the status shown is the first of these
# (every finding is in the JSON report): what is certainly wrong before what could not be
# told.
PRECEDENCE = (
    AuditStatus.INVALID,
    AuditStatus.MODIFIED,
    AuditStatus.UNEXPECTED_PUBLISHER,
    AuditStatus.DOWNGRADE,
    AuditStatus.UNAVAILABLE,
    AuditStatus.MISSING,
    AuditStatus.NOT_FROM_INDEX,
    AuditStatus.BUILT_FROM_SDIST,
    AuditStatus.VERIFIED,
)


class Finding(NamedTuple):
    status: AuditStatus
    blocking: bool
    reason: str
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "blocking": self.blocking,
            "reason": self.reason,
            "hint": self.hint,
        }


class DistResult(NamedTuple):
    """The audit of one installed distribution."""

    project: str
    version: str
    path: str  # its .dist-info (or .egg-info)
    installer: str
    origin: (
        str  # index | lock | find-links | editable | directory | vcs | archive | egg-info | unknown
    )
    findings: list[Finding]  # the first is the one shown
    file: FileResult | None = None  # the attested file's result, when one was found
    binding: Binding | None = None
    installed: Installed | None = None
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> AuditStatus:
        return self.findings[0].status

    @property
    def blocking(self) -> bool:
        return any(f.blocking for f in self.findings)

    @property
    def reason(self) -> str:
        return self.findings[0].reason

    def to_json(self) -> dict[str, Any]:
        file = self.file
        binding = self.binding
        installed = self.installed
        return {
            "project": self.project,
            "version": self.version,
            "path": self.path,
            "installer": self.installer,
            "status": self.status.value,
            "blocking": self.blocking,
            "reason": self.reason,
            "hint": self.findings[0].hint,
            "origin": self.origin,
            "identities": [str(i) for i in file.identities] if file else [],
            "publishers": [i.to_publisher() for i in file.identities] if file else [],
            "expected": [str(i) for i in file.expected] if file else [],
            "file": (
                {
                    "filename": file.filename,
                    "sha256": file.sha256,
                    "status": file.status.value,
                    "provenance_url": file.provenance_url,
                }
                if file is not None and file.filename
                else None
            ),
            "binding": (
                {
                    "kind": binding.kind,
                    "filename": binding.filename,
                    "bound": binding.bound,
                    "generated": binding.generated,
                    "unbound": binding.unbound,
                    "ok": binding.ok,
                }
                if binding is not None
                else None
            ),
            "installed_files": (
                {
                    "listed": len(installed.files),
                    "bytecode_checked": installed.bytecode_checked,
                    "bytecode_not_checked": installed.bytecode_other,
                }
                if installed is not None
                else None
            ),
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
        }


def ordered(findings: list[Finding]) -> list[Finding]:
    rank = {status: i for i, status in enumerate(PRECEDENCE)}
    return sorted(findings, key=lambda f: rank[f.status])


HINT_MODIFIED = (
    "what is installed is not what was attested: find out what changed it, then reinstall "
    "it with pip-attest install --force-reinstall --no-deps {spec}"
)


def with_modified(result: DistResult, reason: str) -> DistResult:
    """``result`` with one more blocking ``modified`` finding."""
    spec = f"{result.project}=={result.version}"
    finding = Finding(AuditStatus.MODIFIED, True, reason, HINT_MODIFIED.format(spec=spec))
    return result._replace(findings=ordered([*result.findings, finding]))


def more_of(items: Sequence[object]) -> str:
    """The words "(and N more)" after the first of ``items``, for a finding naming one."""
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""
