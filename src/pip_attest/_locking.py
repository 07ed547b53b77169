"""The lock flows: resolve and verify for ``pip-attest lock``, and ``-r pylock.toml`` for
``pip-attest install``. Nothing here prints; the CLI shows what these return.

``lock`` resolves with pip (``pip lock`` on 25.1 and later; ``install --dry-run --report``
before), the seam verifying whatever pip fetches on the way (sdists built for metadata, before
their build code runs). Every locked file is then checked against the sha256 the index gives
for it, concurrently, without downloading it, and judged by the policy with the existing
lock's identities as the expected ones.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name
from packaging.version import Version

from pip_attest import _env
from pip_attest._candidate import Candidate
from pip_attest._config import Settings
from pip_attest._errors import Error, UsageError
from pip_attest._lock import (
    LockedFile,
    LockedPackage,
    Resolved,
    index_base,
    is_lock_path,
    parse_pip_lock,
    parse_report,
    read_lock,
    requirements_for,
)
from pip_attest._model import FileResult, Origin
from pip_attest._names import name_problem
from pip_attest._pip import _run
from pip_attest._toml import read_toml


class LockRun(NamedTuple):
    records: list[dict[str, Any]]
    packages: list[LockedPackage]
    rc: int
    pip_version: str


def resolve_and_verify(pip_args: list[str], out: Path) -> LockRun:
    """Resolve ``pip_args`` with pip and check every file of the resolution."""
    pip_version = _run.preflight(pip_args)
    work = Path(tempfile.mkdtemp(prefix="pip-attest-lock-"))
    try:
        if Version(pip_version).release[:2] >= (25, 1):
            # Next to the real lock: pip writes local paths relative to the lock's folder.
            folder = out.resolve().parent
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="pylock.pipattesttmp", suffix=".toml", dir=folder)
            os.close(fd)
            target = Path(name)
            try:
                run = _run.guarded("lock", _last_output(pip_args, target), quiet_stdout=True)
                ok = run.rc == 0
                if ok and target.stat().st_size == 0:
                    raise UsageError(
                        "pip wrote its lock somewhere else: name the lock file with -o FILE"
                    )
                resolved = parse_pip_lock(read_toml(target, "pip's lock output")) if ok else []
            finally:
                target.unlink(missing_ok=True)
        else:
            target = work / "report.json"
            args = ["--dry-run", "--ignore-installed", "--report", str(target), *pip_args]
            run = _run.guarded("install", args, quiet_stdout=True)
            resolved = parse_report(json.loads(target.read_text())) if run.rc == 0 else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if run.rc != 0 or any(r.get("blocking") for r in run.records):
        return LockRun(run.records, [], run.rc, pip_version)
    results, packages = _check_resolved(resolved, Settings.from_env())
    return LockRun([r.to_json() for r in results], packages, 0, pip_version)


def _last_output(pip_args: list[str], target: Path) -> list[str]:
    """pip's arguments with ``-o target`` last among its options: an output option of the
    user's in any spelling pip accepts (``-qoFILE``, ``--outp FILE``) cannot send pip's
    unchecked lock elsewhere."""
    end = pip_args.index("--") if "--" in pip_args else len(pip_args)
    return [*pip_args[:end], "-o", str(target), *pip_args[end:]]


def _check_resolved(
    resolved: list[Resolved], settings: Settings
) -> tuple[list[FileResult], list[LockedPackage]]:
    seen = _run.seen(settings)
    candidates = [_candidate(item, seen) for item in resolved]
    # Files pip already fetched (older pips download wheels to resolve; sdists are built
    # for metadata) were checked by the seam against their bytes: reuse those results.
    done = {(r.project, r.version, r.filename, r.sha256): r for r in seen.results if r.sha256}

    def known(c: Candidate) -> FileResult | None:
        return done.get((c.project, c.version, c.filename, c.sha256))

    todo = [c for c in candidates if known(c) is None]
    # Examined on the checker's threads (most were started when the resolver asked for
    # their metadata); judged here, one at a time, as the policy must be.
    checker = seen.checker
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
        pkg.identities = checker.policy.lock_identities(name, mine)
    return results, list(packages.values())


def _candidate(item: Resolved, seen: _run.Seen) -> Candidate:
    if not item.sha256:
        raise Error(f"cannot lock {item.name}: the index gave no sha256 for {item.filename}")
    legacy = seen.legacy_wheels
    return Candidate(
        item.filename,
        item.sha256,
        item.url,
        item.name,
        item.version,
        advert=seen.adverts.get(item.url.split("#", 1)[0]),
        origin=Origin.INDEX,
        # The lock names a project and version: each file must be one pip would take for
        # exactly those.
        problem=name_problem(item.filename, item.name, item.version, legacy_wheels=legacy),
    )


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def translate_lock_requirements(pip_args: list[str]) -> list[str]:
    """Replace ``-r pylock.toml`` by pinned, hashed requirements; expect its identities.

    Runs for ``pip-attest install``. pip releases before lock support read the temporary
    requirements file; every pip enforces its hashes, so only locked files install.
    """
    if not any("pylock." in arg for arg in pip_args):
        return pip_args  # the common case: no lock named, nothing to import
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
    os.environ[_env.LOCK] = str(lock)
    return [*out, "--no-deps", "-r", name]
