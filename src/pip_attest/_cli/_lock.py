"""``pip-attest lock``: a PEP 751 pylock.toml with verified attestation-identities."""

from __future__ import annotations

import difflib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

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
from pip_attest._foreign import annotated, check_lock
from pip_attest._lock import LOCK_NAME, LockedPackage, parse_lock, render_lock, validate_text
from pip_attest._locking import resolve_and_verify
from pip_attest._pip._run import close_run
from pip_attest._report import render_json, render_text
from pip_attest._spawn import run_memo
from pip_attest._toml import parse_toml, read_text

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
  --from-lock FILE          do not resolve: annotate FILE (a lock any tool wrote: uv, pip,
                            pdm) with the identities its files prove, in place unless -o
                            is given; every other byte of FILE is kept
  --require-attestations    fail for packages without attestations
  --accept-publisher PKG=IDENTITY
                            accept a changed publisher into the lock
  --publisher, --allow-unattested, --policy, --trust-root, --integrity-api,
  --provenance-timeout, --format, --output: as for 'pip-attest install'

Exit codes: 0 written or up to date, 1 refused or stale (--check), 2 usage, 3 pip failed,
            4 done but the report could not be written."""


LockMode = Literal["write", "check", "fail-on-change"]


class LockFlags(NamedTuple):
    out: Path | None  # -o, when given
    mode: LockMode
    extras: list[str]
    from_lock: Path | None
    rest: list[str]  # shared with install


def _take_lock_flags(argv: Sequence[str]) -> LockFlags:
    """Pull ``-o FILE``, ``--check``, ``--fail-on-change``, ``--extra NAME`` and
    ``--from-lock FILE`` out; the rest is shared with install."""
    values: dict[str, list[str]] = {"-o": [], "--extra": [], "--from-lock": []}
    names = {"--lock-file": "-o", "-o": "-o", "--extra": "--extra", "--from-lock": "--from-lock"}
    mode: LockMode = "write"
    rest: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg.startswith("-o") and len(arg) > 2:  # -oFILE, -o=FILE: pip's spellings too
            arg = "-o=" + arg[2:].removeprefix("=")
        flag, eq, value = arg.partition("=")
        if arg == "--":
            rest.extend([arg, *it])
            break
        if arg in names or (eq and flag in names):
            if not eq:
                value = next(it, None) or ""
                if not value or value.startswith("-"):
                    raise UsageError(f"{arg} needs a value")
            values[names[flag if eq else arg]].append(value)
        elif arg in ("--check", "--fail-on-change"):
            mode = "check" if arg == "--check" else "fail-on-change"
        else:
            rest.append(arg)
    out = Path(values["-o"][-1]) if values["-o"] else None
    source = Path(values["--from-lock"][-1]) if values["--from-lock"] else None
    return LockFlags(out, mode, values["--extra"], source, rest)


def cmd_lock(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(LOCK_HELP)
        return EXIT_OK
    flags = _take_lock_flags(argv)
    out = flags.out or flags.from_lock or Path("pylock.toml")
    mode = flags.mode
    if not LOCK_NAME.match(out.name):
        raise UsageError(f"{out}: PEP 751 lock files are named pylock.toml or pylock.NAME.toml")
    ours, pip_args = split_install_args(flags.rest)
    apply_to_env(ours)
    if flags.from_lock is not None:
        if flags.extras:
            raise UsageError("--extra resolves a project: it does not go with --from-lock")
        return _from_lock(flags.from_lock, out, mode, pip_args)
    pip_args += [f".[{','.join(flags.extras)}]"] if flags.extras else []
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
    old = read_text(out, "lock file") if out.exists() else None
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


def _outcome(mode: LockMode, refused: list[Any], rc: int, changed: bool) -> tuple[int, str]:
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
    mode: LockMode,
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


def _from_lock(source: Path, out: Path, mode: LockMode, pip_args: list[str]) -> int:
    """``lock --from-lock``: annotate a lock any tool wrote with the identities its files
    prove, keeping every other byte."""
    fmt, output = output_format()
    settings = Settings.from_env()
    warn_stale_root(settings)
    original = read_text(source, "lock file")  # read once: what is checked is what is kept
    check = check_lock(source, pip_args, settings, text=original)
    records = [r.to_json() for r in check.results]
    refused = [r for r in records if r.get("blocking")]
    text = "" if refused else annotated(original, check.identities)
    if text:
        validate_text(text)
    old = read_text(out, "lock file") if out.exists() else None
    changed = bool(text) and text != old
    code, outcome = _outcome(mode, refused, 0, changed)
    sys.stderr.write(render_text(records, installed=None))
    packages = parse_lock(parse_toml(text), str(out)) if text else []
    _tell(out, mode, refused, 0, changed, code, old, text, packages)
    if fmt != "json":
        return code
    extra = {"lock_file": str(out), "from_lock": str(source), "changed": changed}
    doc = render_json(records, command="lock", outcome=outcome, exit_code=code, extra=extra)
    return emit(doc, output, sys.stdout, code)
