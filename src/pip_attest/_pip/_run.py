"""Run pip in this process, with the seam installed."""

from __future__ import annotations

import contextlib
import os
import sys

from pip_attest._config import Settings
from pip_attest._pip import _seam


def preflight(pip_args: list[str]) -> str:
    """Refuse before pip starts when enforcement cannot be guaranteed. Returns pip's version."""
    version = _seam.check_version()
    _seam.refuse_unguardable(pip_args, os.environ)
    return str(version)


def run_pip(command: str, pip_args: list[str], settings: Settings, *, quiet_stdout: bool) -> int:
    """Run ``pip COMMAND ARGS`` in-process and return pip's exit code.

    With ``quiet_stdout`` pip's own output goes to stderr, so that stdout carries only the
    JSON report. pip's logging resolves ``sys.stdout`` when it configures itself, inside
    ``main``, so redirecting around the call is enough.
    """
    _seam.reset()
    _seam.install(settings, report_at_gate=False)
    from pip._internal.cli.main import main as pip_main
    from pip._internal.commands import install as install_command

    _seam.patch_install_command(install_command)

    redirect = contextlib.redirect_stdout(sys.stderr) if quiet_stdout else contextlib.nullcontext()
    with redirect:
        rc = int(pip_main([command, *pip_args]) or 0)
    # Commands that stop before the gate (--dry-run, a failed resolution) may leave wheels
    # checked in the background: collect them, so that the report lists every file.
    _seam._collect()
    return rc


def close_run() -> None:
    """Stop what a run started: its checker's verification helper, and an early one no
    checker took (pip_attest._process.start_early_helper)."""
    from pip_attest._process import discard_early_helper

    discard_early_helper()
    if _seam.STATE.checker is not None:
        _seam.STATE.checker.close()
