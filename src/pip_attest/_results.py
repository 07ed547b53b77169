"""The results file of one run: every pip process of the run (the top one, and the
subprocesses that install build dependencies) appends its results there, one JSON line
each, and the top process reports them all."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pip_attest._model import FileResult, Origin, Status


def append_results(path: Path, results: list[FileResult], *, origin: Origin | None = None) -> None:
    """Append results as JSON lines. One ``write`` per line, on an O_APPEND descriptor, so
    concurrent pip processes of one run cannot interleave their lines.

    ``origin`` (a build-dependency subprocess's) replaces each result's own: a build
    dependency is never installed where pip installs, wherever pip took it from (the index,
    a local file or its wheel cache), and the report must not list it as installed.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for result in results:
            record = result.to_json()
            if origin is not None:
                record["origin"] = origin.value
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
