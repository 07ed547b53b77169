"""Work on a few background threads, and its result."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """The result of work running on a background thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._started = False
        self._value: T | None = None
        self._error: BaseException | None = None

    def running(self) -> bool:
        """Whether a thread has taken up the work (or finished it)."""
        return self._started

    def _finish(self, value: T | None, error: BaseException | None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Background:
    """A few daemon threads, started on first use.

    Daemon threads because a pip that stops early (a resolution error, Ctrl-C) must not
    wait at exit for downloads nobody will read; every result that matters is waited for
    before the gate lets pip install anything.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: queue.SimpleQueue[tuple[Pending[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._threads = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], T]) -> Pending[T]:
        pending: Pending[T] = Pending()
        self._queue.put((pending, fn))
        with self._lock:
            if self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._run, name="pip-attest", daemon=True).start()
        return pending

    def _run(self) -> None:
        while True:
            pending, fn = self._queue.get()
            pending._started = True
            try:
                value = fn()
            except BaseException as err:  # handed to whoever waits for the result
                pending._finish(None, err)
            else:
                pending._finish(value, None)
