"""Bounded runs of ``pip-attest`` for hostile cases, and what every refusal must look like.

A hostile case ends with a clean refusal, or it is a bug: pip-attest is run in a real
subprocess with a time limit and an address-space limit (a decompression bomb or an unbounded
read then fails fast instead of eating the shared machine's memory), and the output is
checked the way a user would read it.

Hostile cases never install anything, so a module can share one venv and run its cases two
at a time (:class:`Runner`) while each case keeps its own test id.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.support.venvs import Venv

__all__ = [
    "MAX_LINE",
    "Outcome",
    "Runner",
    "assert_clean_refusal",
    "assert_clean_run",
    "run_bounded",
    "selected",
]

# A reason line longer than this is echoing hostile input back.
MAX_LINE = 600
# 1.5 GiB of address space: several times what pip-attest needs, far less than a bomb wants.
MEMORY_LIMIT = 3 << 29

# Sets the limit, then becomes ``python -m pip_attest ARGS`` (no fork-time hooks in a
# threaded test process: the child limits itself).
_LAUNCHER = (
    "import os, resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
    "os.execv(sys.executable, [sys.executable, '-m', 'pip_attest', *sys.argv[1:]])"
)


@dataclass(frozen=True)
class Outcome:
    """What the user saw: exit code (None: killed at the time limit), output, seconds, and
    (for installs) what the venv holds afterwards, plus test-side facts in ``extra``."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    installed: frozenset[str] = frozenset()
    extra: tuple[tuple[str, object], ...] = ()

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def get(self, key: str) -> object:
        return dict(self.extra).get(key)


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def run_bounded(venv: Venv, args: list[str], limit: float) -> Outcome:
    """``pip-attest ARGS`` in ``venv``, killed after ``limit`` seconds (returncode None)."""
    start = time.monotonic()
    try:
        result = venv.run("-c", _LAUNCHER, *args, timeout=limit)
    except subprocess.TimeoutExpired as err:
        return Outcome(None, _text(err.stdout), _text(err.stderr), time.monotonic() - start)
    return Outcome(result.returncode, result.stdout, result.stderr, time.monotonic() - start)


class Runner:
    """Runs the selected cases of one test function two at a time, on first demand.

    Only the cases pytest selected are run (``-k one-case`` costs one run). Two workers:
    the CI machine has two cores.
    """

    def __init__(self, job: Callable[[str], Outcome], names: list[str]) -> None:
        self._job = job
        self._names = names
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[Outcome]] = {}

    def get(self, name: str) -> Outcome:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2)
            for wanted in self._names:
                self._futures[wanted] = self._pool.submit(self._job, wanted)
        if name not in self._futures:
            self._futures[name] = self._pool.submit(self._job, name)
        return self._futures[name].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def selected(request: pytest.FixtureRequest, function: str, param: str = "name") -> list[str]:
    """The ``param`` values pytest selected for test ``function`` this session, in order."""
    names = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "originalname", None) == function and callspec is not None:
            names.append(str(callspec.params[param]))
    return names


def assert_clean_run(outcome: Outcome) -> None:
    """Exit 1 within the time limit, no traceback, nothing that drives a terminal."""
    tail = outcome.output[-3000:]
    assert outcome.returncode is not None, f"still running after {outcome.seconds:.1f}s: {tail}"
    assert outcome.returncode == 1, tail
    assert "Traceback" not in outcome.output, tail
    assert "internal error" not in outcome.output, tail
    # Nothing an index or a signer wrote may move the cursor, clear the screen or recolour
    # the terminal.
    for control in ("\x1b", "\r", "\x07"):
        assert control not in outcome.output, (control, tail)


def assert_clean_refusal(outcome: Outcome, phrase: str, *, lines: int) -> list[str]:
    """A clean run whose reason holding ``phrase`` is on ``lines`` short lines.

    ``verify`` prints the reason once (its report row); ``install`` twice: the refusal
    line (pip's "ERROR: pip-attest refused ...") and the summary row.
    """
    assert_clean_run(outcome)
    found = [line for line in outcome.output.splitlines() if phrase in line]
    assert len(found) == lines, (phrase, outcome.output[-3000:])
    for line in found:
        assert len(line) <= MAX_LINE, line[:MAX_LINE]
    return found
