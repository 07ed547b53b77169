"""How an audit goes out: one line per distribution and a summary (for stderr), and the
JSON report (README, "pip-attest audit": its keys are only ever added to)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pip_attest import __version__
from pip_attest._audit._model import AuditStatus, DistResult
from pip_attest._audit._run import AuditRun
from pip_attest._report import REPORT_VERSION, safe

SUMMARY_ORDER = (
    AuditStatus.VERIFIED,
    AuditStatus.BUILT_FROM_SDIST,
    AuditStatus.NOT_FROM_INDEX,
    AuditStatus.MISSING,
    AuditStatus.MODIFIED,
    AuditStatus.INVALID,
    AuditStatus.UNEXPECTED_PUBLISHER,
    AuditStatus.DOWNGRADE,
    AuditStatus.UNAVAILABLE,
)
MAX_HINTS = 20
MAX_LISTED = 10


def summary(results: list[DistResult]) -> dict[str, int]:
    tally = Counter(r.status for r in results)
    return {s.value: tally[s] for s in SUMMARY_ORDER if tally[s]}


def detail(result: DistResult) -> str:
    """What the line says after the name: who signed it, or why not."""
    file = result.file
    identities = ", ".join(str(i) for i in file.identities) if file is not None else ""
    if result.status is AuditStatus.VERIFIED:
        text = identities or "?"
    elif result.status is AuditStatus.BUILT_FROM_SDIST:
        text = f"{identities}: {result.reason}"
    else:
        text = result.reason
    others = sorted(
        {f.status.value for f in result.findings[1:]} - {"verified", result.status.value}
    )
    if others:
        text += f" [also: {', '.join(others)}]"
    if (
        result.status is not AuditStatus.VERIFIED
        and identities
        and any(f.status is AuditStatus.VERIFIED for f in result.findings)
    ):
        text += f" [attestation verified: {identities}]"
    for note in result.notes:
        text += f" ({note})"
    return text


def render_text(run: AuditRun) -> str:
    results = run.results
    lines: list[str] = []
    rows = [
        (safe(r.status.value), safe(f"{r.project} {r.version}".strip()), safe(detail(r)))
        for r in results
    ]
    if rows:
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        lines += [f"  {s:<{widths[0]}}  {n:<{widths[1]}}  {d}" for s, n, d in rows]
    n = len(results)
    tally = ", ".join(f"{count} {status}" for status, count in summary(results).items())
    blocking = sum(1 for r in results if r.blocking)
    head = f"pip-attest: audited {n} distribution{'s' if n != 1 else ''}"
    head += f": {tally}" if tally else ""
    if blocking:
        head += f"; {blocking} blocking"
    lines.append(head)
    hints = [r for r in results if r.blocking and r.findings[0].hint]
    for r in hints[:MAX_HINTS]:
        lines.append(f"hint: {safe(r.project)} {safe(r.version)}: {safe(r.findings[0].hint)}")
    if len(hints) > MAX_HINTS:
        lines.append(f"hint: … and {len(hints) - MAX_HINTS} more (see --format json)")
    missing = [r for r in results if r.status is AuditStatus.MISSING and not r.blocking]
    if missing:
        lines.append(
            f"warning: {len(missing)} distribution{'s' if len(missing) != 1 else ''} had no "
            "attestation; use --require-attestations to treat that as blocking"
        )
    if run.unowned:
        shown = ", ".join(safe(p) for p in run.unowned[:MAX_LISTED])
        more = f" and {len(run.unowned) - MAX_LISTED} more" if len(run.unowned) > MAX_LISTED else ""
        lines.append(
            f"warning: {len(run.unowned)} importable file{'s' if len(run.unowned) != 1 else ''} "
            f"in no distribution's RECORD (a .pth file there runs at every start of Python): "
            f"{shown}{more}"
        )
    for problem in run.scan_problems:
        lines.append(f"warning: cannot list {safe(problem.path)}: {safe(problem.reason)}")
    return "\n".join(lines) + "\n"


def render_json(run: AuditRun, *, exit_code: int) -> str:
    results = run.results
    doc: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "pip_attest_version": __version__,
        "command": "audit",
        "outcome": "findings" if any(r.blocking for r in results) else "ok",
        "exit_code": exit_code,
        "environment": run.environment.to_json(),
        "index_urls": run.index_urls,
        "summary": summary(results),
        "distributions": [r.to_json() for r in results],
        "unowned": run.unowned,
        "warnings": [f"cannot list {p.path}: {p.reason}" for p in run.scan_problems],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
