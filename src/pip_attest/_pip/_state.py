"""The state of one guarded pip run in this process, and what every part of the seam
does with it: record a result, collect the checks running in the background, refuse."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from pip_attest import _env
from pip_attest._check import Checker
from pip_attest._config import Settings
from pip_attest._model import FileResult, Origin
from pip_attest._pip._ledger import Ledger
from pip_attest._policy import Policy
from pip_attest._provenance import Advert
from pip_attest._report import refusal_lines
from pip_attest._results import append_results, read_results
from pip_attest._store import BuiltWheels


class State:
    """Per-process state. One pip run per process; the CLI resets it between runs."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.policy: Policy | None = None
        self.checker: Checker | None = None
        self.session: Any = None
        self.adverts: dict[str, Advert] = {}
        self.results: list[FileResult] = []
        self.ledger = Ledger(legacy_wheels=False)
        # The legacy resolver (pip < 25.3) never reaches the gate: check every file
        # before pip goes on with it, wheels included.
        self.synchronous = False
        self.results_file: Path | None = None
        # The enforcement hook's top process shows each file's result at the gate.
        self.on_gate: Callable[[list[dict[str, Any]]], None] | None = None
        self.reported = 0
        self.dry_run = False
        self.installs = False  # pip install, not a dry run: the first install commits
        # What pip resolved, and what passed the gate: the sets the first install checks.
        self.resolved: list[Any] | None = None
        self.gated: list[Any] | None = None
        self.installing = False
        self.installed: list[str] = []
        self.committed = False
        self.copies: str | None = None
        self.built: BuiltWheels | None = None
        # A lock pip reads itself names the index of its packages: their provenance adverts
        # come from those pages (once each), since pip takes the files from the lock.
        self.lock_indexes: dict[str, str | None] = {}
        self.lock_pages: set[tuple[str, str]] = set()
        self.index_urls: list[str] = []  # pip's, for a lock's packages that name none

    def blocking(self) -> list[FileResult]:
        return [r for r in self.results if r.blocking]


STATE = State()


def reset() -> None:
    """Forget the results of a previous run in this process (tests, repeated CLI runs)."""
    STATE.__init__()  # type: ignore[misc]


def checker(settings: Settings | None = None) -> Checker:
    """The run's checker, made at the first file that needs one."""
    if STATE.checker is None:
        settings = settings or STATE.settings or Settings.from_env()
        STATE.checker = Checker(settings, STATE.session, helper=True, policy=STATE.policy)
    return STATE.checker


def collect() -> None:
    """Wait for the wheels checked in the background and record their results, in the
    order pip prepared them."""
    for entry in list(STATE.ledger.entries.values()):
        pending = entry.pending
        if pending is None:
            continue
        entry.pending = None
        entry.result = checker().conclude(entry.candidate, pending.result())
        record(entry.result)


def record(result: FileResult) -> None:
    STATE.results.append(result)
    if STATE.results_file is not None:
        parent = os.environ.get(_env.PARENT_PID)
        child = parent is not None and parent != str(os.getpid())
        origin = Origin.BUILD_DEPENDENCY if child else None
        append_results(STATE.results_file, [result], origin=origin)


def refuse(refused: type[Exception]) -> NoReturn:
    collect()
    raise refused(refusal_message(STATE.blocking()))


def commit() -> None:
    """The run goes ahead: let the policy remember what it saw (first-seen records)."""
    if not STATE.committed and STATE.checker is not None:
        STATE.committed = True
        STATE.checker.commit(STATE.results)


def report_new() -> None:
    """Hand the results recorded since the last report to whoever shows them."""
    if STATE.on_gate is None or STATE.results_file is None:
        return
    records = read_results(STATE.results_file)
    new = records[STATE.reported :]
    STATE.reported = len(records)
    if new:
        STATE.on_gate(new)


def refusal_message(blocking: list[FileResult]) -> str:
    return "\n".join(refusal_lines(blocking, installed=STATE.installed))
