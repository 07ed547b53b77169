"""``pip-attest verify FILE...``: local files against their provenance, offline; and
``pip-attest verify --lock FILE``: every file of a lock any tool wrote, against its locked
sha256 and the lock's identities (the CI gate before ``uv pip install -r pylock.toml``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pip_attest._check import Candidate, Checker
from pip_attest._cli._common import EXIT_OK, EXIT_REFUSED, emit, output_format, warn_stale_root
from pip_attest._config import Settings
from pip_attest._errors import Error, UsageError
from pip_attest._foreign import check_lock
from pip_attest._model import Artifact, Origin, Status, sha256_file
from pip_attest._names import parse_any
from pip_attest._policy import Evidence, EvidenceKind
from pip_attest._report import refusal_lines, render_json, render_text
from pip_attest._verify import AttestationVerifier, parse_provenance, read_provenance_file


def cmd_verify(args: argparse.Namespace) -> int:
    if args.lock:
        if args.files or args.provenance:
            raise UsageError("--lock verifies the lock's files: give no FILE or --provenance")
        return _verify_lock(Path(args.lock), _index_args(args))
    if not args.files:
        raise UsageError("give FILE... to verify, or --lock pylock.toml")
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


def _index_args(args: argparse.Namespace) -> list[str]:
    """pip's index options, as given to verify, for pip to read."""
    out: list[str] = []
    if args.index_url:
        out += ["--index-url", args.index_url]
    for url in args.extra_index_url or ():
        out += ["--extra-index-url", url]
    for place in args.find_links or ():
        out += ["--find-links", place]
    for host in args.trusted_host or ():
        out += ["--trusted-host", host]
    if args.no_index:
        out.append("--no-index")
    return out


def _verify_lock(lock: Path, index_args: list[str]) -> int:
    settings = Settings.from_env()
    warn_stale_root(settings)
    check = check_lock(lock, index_args, settings)
    records = [r.to_json() for r in check.results]
    code = EXIT_REFUSED if check.refused else EXIT_OK
    fmt, output = output_format()
    sys.stderr.write(render_text(records, installed=None))
    if check.refused:
        refused = [r for r in check.results if r.blocking]
        print(
            f"pip-attest: {lock}: {len(refused)} file(s) refused; do not install it",
            file=sys.stderr,
        )
        print("\n".join(refusal_lines(refused)[1:]), file=sys.stderr)
    else:
        print(f"pip-attest: {lock}: every file checked, nothing refused", file=sys.stderr)
    if fmt != "json":
        return code
    outcome = "refused" if code else "ok"
    doc = render_json(
        records, command="verify", outcome=outcome, exit_code=code, extra={"lock_file": str(lock)}
    )
    return emit(doc, output, sys.stdout, code)
