"""How results go out: the human summary (stderr) and the JSON report (stdout or a file).

Both work on result records (``FileResult.to_json()`` dictionaries), because results from the
build-dependency subprocesses arrive as JSON lines.

The JSON report is a stable interface, documented in the README ("JSON report"). Add keys
freely; never rename or remove one without bumping ``REPORT_VERSION``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pip_attest import __version__
from pip_attest._model import FileResult

REPORT_VERSION = 1
_ORDER = ("verified", "missing", "invalid", "unexpected-publisher", "downgrade", "unavailable")


def safe(text: object) -> str:
    """``text`` for a terminal: what is not printable is escaped, so an index's or a signer's
    words can neither start a new (fake) line nor send escape sequences to the terminal."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def refusal_lines(blocking: Sequence[FileResult], *, installed: Sequence[str] = ()) -> list[str]:
    """One line per refused file: package, file, reason, and what to do. ``installed``
    names what pip had installed already when the refusal came (normally nothing)."""
    count = len(blocking)
    files = f"{count} file{'s' if count != 1 else ''}"
    if installed:
        done = ", ".join(safe(name) for name in installed)
        lines = [f"pip-attest refused {files}; pip had already installed {done}."]
    else:
        lines = [f"pip-attest refused {files}; nothing was installed."]
    for r in blocking:
        what = safe(f"{r.project} {r.version}".strip())
        hint = f" -> {safe(r.hint)}" if r.hint else ""
        lines.append(f"  {what} ({safe(r.filename)}): {r.status.value}: {safe(r.reason)}{hint}")
    return lines


def merged(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One record per file: a file judged twice (a verdict, then a refusal once pip's
    metadata contradicted it) keeps the refusal, in the place of the first record."""
    out: list[Mapping[str, Any]] = []
    where: dict[tuple[Any, ...], int] = {}
    for record in records:
        key = (record.get("project"), record.get("version"), record.get("filename"))
        if key not in where:
            where[key] = len(out)
            out.append(record)
        elif record.get("blocking") and not out[where[key]].get("blocking"):
            out[where[key]] = record
    return out


def counts(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    tally = Counter(str(r.get("status")) for r in records)
    return {status: tally[status] for status in _ORDER if tally[status]}


def render_text(records: Sequence[Mapping[str, Any]], *, installed: bool | None) -> str:
    """The end-of-run summary: each file with its publisher, or why it has none."""
    if not records:
        return "pip-attest: no distribution files to check.\n"
    tally = ", ".join(f"{n} {status}" for status, n in counts(records).items())
    n = len(records)
    head = f"pip-attest: checked {n} file{'s' if n != 1 else ''}: {tally}"
    if installed is False:
        head += "; nothing was installed"
    rows = []
    for r in records:
        status = str(r.get("status"))
        if status == "verified":
            detail = ", ".join(str(i) for i in r.get("identities", [])) or "?"
        else:
            detail = str(r.get("reason") or "")
        origin = r.get("origin")
        via = f" [{origin}]" if origin and origin not in ("index", "local") else ""
        name = f"{r.get('project', '?')} {r.get('version', '')}".strip()
        filename = f"{r.get('filename', '?')}{via}"
        rows.append((safe(status), safe(name), safe(filename), safe(detail)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [head]
    for status, name, filename, detail in rows:
        lines.append(
            f"  {status:<{widths[0]}}  {name:<{widths[1]}}  {filename:<{widths[2]}}  {detail}"
        )
    missing = [r for r in records if r.get("status") == "missing" and not r.get("blocking")]
    if missing:
        lines.append(
            f"warning: {len(missing)} file{'s' if len(missing) != 1 else ''} "
            "had no attestation; use --require-attestations to refuse such files"
        )
    return "\n".join(lines) + "\n"


def render_json(
    records: Sequence[Mapping[str, Any]],
    *,
    command: str,
    outcome: str,
    exit_code: int,
    extra: Mapping[str, Any] | None = None,
) -> str:
    doc: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "pip_attest_version": __version__,
        "command": command,
        "outcome": outcome,
        "exit_code": exit_code,
        "summary": counts(records),
        "files": list(records),
    }
    if extra:
        doc.update(extra)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
