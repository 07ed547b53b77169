"""``pip-attest lock``: a PEP 751 pylock.toml with verified attestation-identities."""

from __future__ import annotations

import difflib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pip_attest import _env
from pip_attest._cli._common import (
    EXIT_OK,
    EXIT_PIP,
    EXIT_REFUSED,
    apply_to_env,
    emit,
    output_format,
    split_install_args,
    warn_stale_root,
)
from pip_attest._config import Settings
from pip_attest._errors import UsageError
from pip_attest._fileio import atomic_write
from pip_attest._lock import LOCK_NAME, LockedPackage, render_lock, validate_text
from pip_attest._locking import resolve_and_verify
from pip_attest._pip._run import close_run
from pip_attest._report import render_json, render_text
from pip_attest._spawn import run_memo

LOCK_HELP = """\
usage: pip-attest lock [options] [REQUIREMENT...] [-r FILE...] [pip index options]

Resolves the requirements with pip and writes a PEP 751 pylock.toml whose packages carry
the verified attestation-identities of their files. Provenance is verified against the
sha256 the index gives; no distribution is downloaded for that.

options:
  -o FILE                   lock file to write (default: pylock.toml)
  --check                   do not write; exit 1 if the lock is stale or no longer verifies
  --fail-on-change          write, but exit 1 if the lock changed (for pre-commit)
  --extra NAME              lock the project in the current directory with this extra
                            (repeatable; uses pyproject.toml)
  --group NAME              a dependency group from pyproject.toml (passed to pip 25.1+)
  --require-attestations    fail for packages without attestations
  --accept-publisher PKG=IDENTITY
                            accept a changed publisher into the lock
  --publisher, --allow-unattested, --policy, --trust-root, --integrity-api,
  --provenance-timeout, --format, --output: as for 'pip-attest install'

Exit codes: 0 written or up to date, 1 refused or stale (--check), 2 usage, 3 pip failed,
            4 done but the report could not be written."""


def _take_lock_flags(argv: Sequence[str]) -> tuple[Path, str, list[str], list[str]]:
    """Pull ``-o FILE``, ``--check``, ``--fail-on-change`` and ``--extra NAME`` out; the
    rest is shared with install. The mode is "write", "check" or "fail-on-change"."""
    out, mode, extras, rest = Path("pylock.toml"), "write", [], []
    it = iter(argv)
    for arg in it:
        if arg == "--":
            rest.extend([arg, *it])
            break
        if arg in ("-o", "--lock-file", "--extra"):
            value = next(it, None)
            if value is None or value.startswith("-"):
                raise UsageError(f"{arg} needs a value")
            if arg == "--extra":
                extras.append(value)
            else:
                out = Path(value)
        elif arg.startswith(("--lock-file=", "--extra=")):
            flag, _, value = arg.partition("=")
            if flag == "--extra":
                extras.append(value)
            else:
                out = Path(value)
        elif arg in ("--check", "--fail-on-change"):
            mode = arg[2:]
        else:
            rest.append(arg)
    return out, mode, extras, rest


def cmd_lock(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(LOCK_HELP)
        return EXIT_OK
    out, mode, extras, rest = _take_lock_flags(argv)
    if not LOCK_NAME.match(out.name):
        raise UsageError(f"{out}: PEP 751 lock files are named pylock.toml or pylock.NAME.toml")
    ours, pip_args = split_install_args(rest)
    apply_to_env(ours)
    pip_args += [f".[{','.join(extras)}]"] if extras else []
    if out.exists():  # its identities are the expected publishers
        os.environ[_env.LOCK] = str(out.resolve())
    fmt, output = output_format()
    warn_stale_root(Settings.from_env())
    try:
        run = resolve_and_verify(pip_args, out)
    finally:
        close_run()
    memo = run_memo()
    if memo is not None:
        memo.record_run(run.rc, run.records, time.time())
    refused = [r for r in run.records if r.get("blocking")]
    text = render_lock(run.packages) if not refused and run.rc == 0 else ""
    if text:
        validate_text(text)
    old = out.read_text(encoding="utf-8") if out.exists() else None
    changed = bool(text) and text != old
    code, outcome = _outcome(mode, refused, run.rc, changed)
    sys.stderr.write(render_text(run.records, installed=None))
    _tell(out, mode, refused, run.rc, changed, code, old, text, run.packages)
    if fmt != "json":
        return code
    extra = {
        "pip_version": run.pip_version,
        "pip_exit_code": run.rc,
        "lock_file": str(out),
        "changed": changed,
    }
    doc = render_json(run.records, command="lock", outcome=outcome, exit_code=code, extra=extra)
    return emit(doc, output, sys.stdout, code)


def _outcome(mode: str, refused: list[Any], rc: int, changed: bool) -> tuple[int, str]:
    if refused:
        return EXIT_REFUSED, "refused"
    if rc != 0:
        return EXIT_PIP, "pip-failed"
    if mode == "check" and changed:
        return EXIT_REFUSED, "stale"
    if mode == "fail-on-change" and changed:
        return EXIT_REFUSED, "changed"
    return EXIT_OK, "ok"


def _tell(
    out: Path,
    mode: str,
    refused: list[dict[str, Any]],
    rc: int,
    changed: bool,
    code: int,
    old: str | None,
    text: str,
    packages: list[LockedPackage],
) -> None:
    """Say what happened to the lock file, and write it when that is the job."""
    if refused:
        if rc == 0:  # found after pip resolved: pip printed nothing about them
            for r in refused:
                hint = f" -> {r['hint']}" if r.get("hint") else ""
                print(
                    f"  {r['project']} {r['version']} ({r['filename']}): {r['status']}: "
                    f"{r['reason']}{hint}",
                    file=sys.stderr,
                )
        print(f"pip-attest: {out} was not written.", file=sys.stderr)
    elif rc != 0:
        print(f"pip-attest: pip could not resolve (exit status {rc})", file=sys.stderr)
    elif mode == "check" and changed:
        print(f"pip-attest: {out} is stale; regenerate it with 'pip-attest lock'", file=sys.stderr)
        diff = difflib.unified_diff(
            (old or "").splitlines(), text.splitlines(), str(out), "resolved now", lineterm=""
        )
        sys.stderr.write("".join(f"  {line}\n" for line in list(diff)[:60]))
    elif changed and mode != "check":
        atomic_write(out, text.encode("utf-8"))
        attested = sum(1 for p in packages if p.identities)
        print(
            f"pip-attest: wrote {out}: {len(packages)} packages, {attested} with "
            "attestation-identities",
            file=sys.stderr,
        )
        if code == EXIT_REFUSED:
            print(f"pip-attest: {out} changed; review it and commit it", file=sys.stderr)
    else:
        print(f"pip-attest: {out} is up to date", file=sys.stderr)
