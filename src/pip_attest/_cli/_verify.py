"""``pip-attest verify FILE...``: local files against their provenance, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pip_attest._check import Candidate, Checker
from pip_attest._cli._common import EXIT_OK, EXIT_REFUSED, emit, output_format, warn_stale_root
from pip_attest._config import Settings
from pip_attest._errors import Error, UsageError
from pip_attest._model import Artifact, Origin, Status, sha256_file
from pip_attest._names import parse_any
from pip_attest._policy import Evidence, EvidenceKind
from pip_attest._report import render_json, render_text
from pip_attest._verify import AttestationVerifier, parse_provenance, read_provenance_file


def cmd_verify(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    if args.provenance and len(files) != 1:
        raise UsageError("--provenance goes with exactly one FILE")
    settings = Settings.from_env()
    verifier = AttestationVerifier(warn_stale_root(settings))
    checker = Checker(settings, session=None)
    records: list[dict[str, Any]] = []
    for file in files:
        if not file.is_file():
            raise UsageError(f"{file}: no such file")
        named = parse_any(file.name)
        if named is None:
            raise UsageError(f"{file}: not a distribution filename")
        prov = Path(args.provenance) if args.provenance else Path(f"{file}.provenance")
        artifact = Artifact(file.name, sha256_file(file), *named)
        candidate = Candidate(
            file.name, artifact.sha256, file.resolve().as_uri(), *named, origin=Origin.LOCAL
        )
        if not prov.is_file():
            missing = f"no provenance: {prov} does not exist"
            evidence = Evidence(EvidenceKind.MISSING, reason=missing)
        else:
            try:
                attestations = parse_provenance(read_provenance_file(prov), allow_bare=True)
                identities = verifier.verify(artifact, attestations)
                evidence = Evidence(EvidenceKind.VERIFIED, identities=identities)
            except Error as err:
                evidence = Evidence(EvidenceKind.INVALID, reason=str(err))
        result = checker.conclude(candidate, (evidence, str(prov)))
        if result.status is Status.UNEXPECTED_PUBLISHER and evidence.identities:
            # verify pins with a bare IDENTITY; install's PKG=IDENTITY forms do not apply.
            got = next(
                i for i in evidence.identities if not any(i.satisfies(e) for e in result.expected)
            )
            result = result._replace(hint=f"if {got} is legitimate, verify with --publisher {got}")
        # Here only a verified file passes: nothing else vouches for a local file.
        records.append(result._replace(blocking=result.status is not Status.VERIFIED).to_json())
    code = EXIT_REFUSED if any(r["blocking"] for r in records) else EXIT_OK
    hints = "".join(
        f"{r['filename']}: {r['status']}: {r['hint']}\n"
        for r in records
        # Only hints that name a next step here; "run pip-attest verify" would be circular.
        if r["blocking"] and r["hint"] and r["status"] in ("unexpected-publisher", "downgrade")
    )
    fmt, output = output_format()
    if fmt == "json":
        text = render_json(
            records, command="verify", outcome="ok" if not code else "refused", exit_code=code
        )
    else:
        text = render_text(records, installed=None) + hints
    return emit(text, output, sys.stdout, code)
