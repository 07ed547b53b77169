"""Run pip in this process with the seam installed, and give back what happened.

A guarded run sets up the environment its pip subprocesses (build-dependency installs)
inherit: the results file they append to, the parent's pid, ``PIP_ATTEST_ENFORCE=1`` so the
``.pth`` hook guards them, and the policy file in force, so they judge by the same one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pip_attest import _env
from pip_attest._check import Checker
from pip_attest._config import Settings
from pip_attest._model import FileResult
from pip_attest._pip import _pylock, _seam
from pip_attest._provenance import Advert, HttpSession
from pip_attest._results import read_results
from pip_attest._spawn import discard_early_helper


class PipRun(NamedTuple):
    """One guarded pip command: its exit code, every result of the run (subprocesses
    included) as report records, and the pip version that ran."""

    rc: int
    records: list[dict[str, Any]]
    pip_version: str
    installed: tuple[str, ...] = ()  # what pip had installed, in this process, at the end


class Seen(NamedTuple):
    """What the seam learnt during the run, for a caller that goes on checking files pip
    did not download (``lock``)."""

    checker: Checker
    adverts: Mapping[str, Advert]
    results: list[FileResult]
    legacy_wheels: bool


def preflight(pip_args: list[str]) -> str:
    """Refuse before pip starts when enforcement cannot be guaranteed. Returns pip's version."""
    version = _seam.check_version()
    _seam.refuse_unguardable(pip_args, os.environ)
    return str(version)


def guarded(command: str, pip_args: list[str], *, quiet_stdout: bool) -> PipRun:
    """Run ``pip COMMAND ARGS`` guarded, with the run's environment set up."""
    pip_version = preflight(pip_args)
    fd, name = tempfile.mkstemp(prefix="pip-attest-", suffix=".jsonl")
    os.close(fd)
    results = Path(name)
    os.environ[_env.RESULTS_FILE] = name
    os.environ[_env.PARENT_PID] = str(os.getpid())
    # Build dependencies are installed by a pip subprocess: the .pth hook guards it.
    os.environ[_env.ENFORCE] = "1"
    try:
        settings = Settings.from_env()
        os.environ.update(settings.exports())
        rc = run_pip(command, pip_args, settings, quiet_stdout=quiet_stdout)
        records = read_results(results)
    finally:
        results.unlink(missing_ok=True)
    return PipRun(rc, records, pip_version, tuple(_seam.STATE.installed))


def run_pip(command: str, pip_args: list[str], settings: Settings, *, quiet_stdout: bool) -> int:
    """Run ``pip COMMAND ARGS`` in-process and return pip's exit code.

    With ``quiet_stdout`` pip's own output goes to stderr, so that stdout carries only the
    JSON report. pip's logging resolves ``sys.stdout`` when it configures itself, inside
    ``main``, so redirecting around the call is enough.
    """
    _seam.reset()
    _seam.install(settings, on_gate=None)
    # pip's own modules load when a run starts, not when pip-attest does.
    from pip._internal.cli import req_command
    from pip._internal.cli.main import main as pip_main
    from pip._internal.commands import install as install_command

    _seam.patch_install_command(install_command)
    _pylock.patch_lock_reader(req_command)

    redirect = contextlib.redirect_stdout(sys.stderr) if quiet_stdout else contextlib.nullcontext()
    with redirect:
        rc = int(pip_main([command, *pip_args]) or 0)
    # Commands that stop before the gate (a failed resolution) may leave wheels checked in
    # the background: collect them, so that the report lists every file.
    _seam.collect()
    return rc


def seen(settings: Settings, session: HttpSession | None = None) -> Seen:
    """The seam's checker (its verification helper is running if pip prepared files) and
    what it learnt: the provenance the index pages advertised, and the results so far."""
    return Seen(
        _seam.checker(settings),
        dict(_seam.STATE.adverts),
        list(_seam.STATE.results),
        _seam.STATE.ledger.legacy_wheels,
    )


def close_run() -> None:
    """Stop what a run started: its checker's verification helper, and an early one no
    checker took (pip_attest._spawn.start_early_helper)."""
    discard_early_helper()
    if _seam.STATE.checker is not None:
        _seam.STATE.checker.close()
