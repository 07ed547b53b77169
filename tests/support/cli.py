"""Running ``pip-attest``'s ``main`` in-process, as the CLI and verify tests do."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pip_attest._cli import main


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def row(self, filename: str) -> str:
        """The report line for ``filename`` (exactly one)."""
        rows = [line for line in self.out.splitlines() if f"  {filename}  " in line]
        assert len(rows) == 1, self.out
        return rows[0]


def runner(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``run("verify", ...)``: ``main`` in-process, restoring what it puts in os.environ.

    ``main`` turns flags into PIP_ATTEST_* variables (for pip subprocesses); without the
    restore, a ``--format json`` would leak into the next call of the same test.
    """

    def run(*argv: str | Path) -> Run:
        before = {k: v for k, v in os.environ.items() if k.startswith("PIP_ATTEST")}
        try:
            code = main([str(a) for a in argv])
        finally:
            for key in [k for k in os.environ if k.startswith("PIP_ATTEST")]:
                del os.environ[key]
            os.environ.update(before)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return Run(code, out, err)

    return run
