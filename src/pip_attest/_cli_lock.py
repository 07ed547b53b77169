"""``pip-attest lock`` and the ``-r pylock.toml`` translation for ``pip-attest install``."""

from __future__ import annotations

import atexit
import contextlib
import difflib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from pip_attest import _config as cfg
from pip_attest._errors import Error, UsageError
from pip_attest._identity import Identity

if TYPE_CHECKING:
    from pip_attest._process import RunMemo

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

Exit codes: 0 written or up to date, 1 refused or stale (--check), 2 usage, 3 pip failed."""


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
    from pip_attest._cli import EXIT_OK, _apply_to_env, split_install_args
    from pip_attest._lock import LOCK_NAME

    if any(a in ("-h", "--help") for a in argv):
        print(LOCK_HELP)
        return EXIT_OK
    out, mode, extras, rest = _take_lock_flags(argv)
    if not LOCK_NAME.match(out.name):
        raise UsageError(f"{out}: PEP 751 lock files are named pylock.toml or pylock.NAME.toml")
    ours, pip_args = split_install_args(rest)
    _apply_to_env(ours)
    pip_args += [f".[{','.join(extras)}]"] if extras else []
    from pip_attest._pip._run import close_run
    from pip_attest._process import run_memo

    try:
        return _lock(out, mode, pip_args, run_memo())
    finally:
        close_run()


def _lock(out: Path, mode: str, pip_args: list[str], memo: RunMemo | None) -> int:
    from pip_attest._cli import (
        EXIT_OK,
        EXIT_PIP,
        EXIT_REFUSED,
        _emit,
        _output_format,
        _warn_stale_root,
    )
    from pip_attest._fileio import atomic_write
    from pip_attest._lock import render_lock, validate_text

    check = mode == "check"
    if out.exists():
        os.environ[cfg.LOCK] = str(out.resolve())
    fmt, output = _output_format()
    settings = cfg.Settings.from_env()
    _warn_stale_root(settings)

    records, packages, pip_rc, pip_version = _resolve_and_verify(pip_args, settings, out)
    refused = [r for r in records if r.get("blocking")]
    if memo is not None:
        memo.record_run(pip_rc, records, time.time())
    text = ""
    if not refused and pip_rc == 0:
        text = render_lock(packages)
        validate_text(text)
    old = out.read_text(encoding="utf-8") if out.exists() else None
    changed = bool(text) and text != old
    if refused:
        code, outcome = EXIT_REFUSED, "refused"
    elif pip_rc != 0:
        code, outcome = EXIT_PIP, "pip-failed"
    elif check and changed:
        code, outcome = EXIT_REFUSED, "stale"
    elif mode == "fail-on-change" and changed:
        code, outcome = EXIT_REFUSED, "changed"
    else:
        code, outcome = EXIT_OK, "ok"

    from pip_attest._report import render_json, render_text

    sys.stderr.write(render_text(records, installed=None))
    if refused:
        if pip_rc == 0:  # found after pip resolved: pip printed nothing about them
            for r in refused:
                hint = f" -> {r['hint']}" if r.get("hint") else ""
                print(
                    f"  {r['project']} {r['version']} ({r['filename']}): {r['status']}: "
                    f"{r['reason']}{hint}",
                    file=sys.stderr,
                )
        print(f"pip-attest: {out} was not written.", file=sys.stderr)
    elif pip_rc != 0:
        print(f"pip-attest: pip could not resolve (exit status {pip_rc})", file=sys.stderr)
    elif check:
        if changed:
            print(
                f"pip-attest: {out} is stale; regenerate it with 'pip-attest lock'", file=sys.stderr
            )
            diff = difflib.unified_diff(
                (old or "").splitlines(), text.splitlines(), str(out), "resolved now", lineterm=""
            )
            sys.stderr.write("".join(f"  {line}\n" for line in list(diff)[:60]))
        else:
            print(f"pip-attest: {out} is up to date", file=sys.stderr)
    elif changed:
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
    if fmt == "json":
        extra = {
            "pip_version": pip_version,
            "pip_exit_code": pip_rc,
            "lock_file": str(out),
            "changed": changed,
        }
        _emit(
            render_json(records, command="lock", outcome=outcome, exit_code=code, extra=extra),
            output,
            sys.stdout,
        )
    return code


def _resolve_and_verify(
    pip_args: list[str], settings: cfg.Settings, out: Path
) -> tuple[list[dict[str, Any]], list[Any], int, str]:
    from pip_attest._check import Candidate, Checker, read_results
    from pip_attest._lock import (
        LockedFile,
        LockedPackage,
        index_base,
        parse_pip_lock,
        parse_report,
    )
    from pip_attest._model import FileResult, Origin
    from pip_attest._names import name_problem
    from pip_attest._pip import _seam
    from pip_attest._pip._run import preflight, run_pip

    pip_version = preflight(pip_args)
    work = Path(tempfile.mkdtemp(prefix="pip-attest-lock-"))
    results_file = work / "results.jsonl"
    os.environ[cfg.RESULTS_FILE] = str(results_file)
    os.environ[cfg.PARENT_PID] = str(os.getpid())
    os.environ[cfg.ENFORCE] = "1"  # sdists built for metadata pull build deps via subprocess
    settings = cfg.Settings.from_env()
    try:
        if Version(pip_version).release[:2] >= (25, 1):
            # Next to the real lock: pip writes local paths relative to the lock's folder.
            folder = out.resolve().parent
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="pylock.pipattesttmp", suffix=".toml", dir=folder)
            os.close(fd)
            target = Path(name)
            try:
                rc = run_pip("lock", ["-o", str(target), *pip_args], settings, quiet_stdout=True)
                resolved = parse_pip_lock(_toml(target)) if rc == 0 else []
            finally:
                target.unlink(missing_ok=True)
        else:
            target = work / "report.json"
            args = ["--dry-run", "--ignore-installed", "--report", str(target), *pip_args]
            rc = run_pip("install", args, settings, quiet_stdout=True)
            resolved = parse_report(json.loads(target.read_text())) if rc == 0 else []
        records = read_results(results_file)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    if rc != 0 or any(r.get("blocking") for r in records):
        return records, [], rc, pip_version

    # The seam's checker, when pip prepared files: its verification helper is running.
    if _seam.STATE.checker is None:
        _seam.STATE.checker = Checker(settings, _seam.STATE.session, helper=True)
    checker = _seam.STATE.checker
    legacy = _seam.STATE.ledger.legacy_wheels
    candidates = []
    for item in resolved:
        if not item.sha256:
            raise Error(f"cannot lock {item.name}: the index gave no sha256 for {item.filename}")
        key = item.url.split("#", 1)[0]
        candidates.append(
            Candidate(
                item.filename,
                item.sha256,
                item.url,
                item.name,
                item.version,
                advert=_seam.STATE.adverts.get(key),
                origin=Origin.INDEX,
                # The lock names a project and version: each file must be one pip would
                # take for exactly those.
                problem=name_problem(item.filename, item.name, item.version, legacy_wheels=legacy),
            )
        )
    # Files pip already fetched (older pips download wheels to resolve; sdists are built
    # for metadata) were checked by the seam against their bytes: reuse those results.
    done = {
        (r.project, r.version, r.filename, r.sha256): r for r in _seam.STATE.results if r.sha256
    }

    def known(c: Candidate) -> FileResult | None:
        return done.get((c.project, c.version, c.filename, c.sha256))

    todo = [c for c in candidates if known(c) is None]
    # Examined on the checker's threads (most were started when the resolver asked for
    # their metadata); judged here, one at a time, as the policy must be.
    pending = [checker.submit(c) for c in todo]
    fresh = {c: checker.conclude(c, p.result()) for c, p in zip(todo, pending, strict=True)}
    results = [known(c) or fresh[c] for c in candidates]
    packages: dict[str, LockedPackage] = {}
    for item, cand in zip(resolved, candidates, strict=True):
        pkg = packages.setdefault(item.name, LockedPackage(item.name, item.version))
        kind = "wheel" if item.filename.endswith(".whl") else "sdist"
        pkg.files.append(LockedFile(item.filename, item.url, item.sha256, kind))
        if pkg.index is None and cand.advert is not None:
            pkg.index = index_base(cand.advert.page_url, item.name)
    for name, pkg in packages.items():
        mine = [r for r in results if r.project and canonicalize_name(r.project) == name]
        pkg.identities = _lock_identities(settings, name, mine)
    records = [r.to_json() for r in results]
    return records, list(packages.values()), 0, pip_version


def _lock_identities(settings: cfg.Settings, name: str, results: list[Any]) -> tuple[Identity, ...]:
    """What the lock records for a package: the identities the existing lock (or a pin)
    already states, plus any accepted this run; otherwise those its files proved."""
    from pip_attest._lock import identities_for

    proven = identities_for(results)
    if not proven:
        return ()
    stated = settings.locked.get(name) or ()
    if not stated:
        return proven
    accepted = settings.accepted.get(name, ())
    extra = tuple(
        i
        for i in proven
        if not any(i.satisfies(s) for s in stated) and any(i.satisfies(a) for a in accepted)
    )
    return (*stated, *extra)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _toml(path: Path) -> dict[str, Any]:
    return cfg.read_toml(path, "pip's lock output")


def translate_lock_requirements(pip_args: list[str]) -> list[str]:
    """Replace ``-r pylock.toml`` by pinned, hashed requirements; expect its identities.

    Runs for ``pip-attest install``. pip releases before lock support read the temporary
    requirements file; every pip enforces its hashes, so only locked files install.
    """
    if not any("pylock." in arg for arg in pip_args):
        return pip_args  # the common case: no lock named, nothing to import
    from pip_attest._lock import is_lock_path, read_lock, requirements_for

    out: list[str] = []
    locks: list[Path] = []
    i = 0
    while i < len(pip_args):
        arg = pip_args[i]
        value = None
        if arg in ("-r", "--requirement") and i + 1 < len(pip_args):
            value = pip_args[i + 1]
            step = 2
        elif arg.startswith("--requirement="):
            value, step = arg.partition("=")[2], 1
        elif arg.startswith("-r") and len(arg) > 2:
            value, step = arg[2:], 1
        if value is not None and is_lock_path(value):
            locks.append(Path(value))
            i += step
            continue
        out.append(arg)
        i += 1
    if not locks:
        return pip_args
    if len(locks) > 1:
        raise UsageError("install from one lock file at a time")
    lock = locks[0].resolve()
    packages = read_lock(lock)
    index_given = any(
        a.split("=")[0]
        in ("-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links")
        or a.startswith(("-i", "-f"))
        for a in out
    )
    fd, name = tempfile.mkstemp(prefix="pip-attest-lock-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(requirements_for(packages, add_index=not index_given))
    atexit.register(_unlink, name)
    os.environ[cfg.LOCK] = str(lock)
    return [*out, "--no-deps", "-r", name]
