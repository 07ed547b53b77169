"""``pip-attest`` and ``python -m pip_attest``: start the helper early, run the CLI, and end
the process without the interpreter's teardown."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

from pip_attest import _env


def run() -> NoReturn:
    """The ``pip-attest`` command. The verification helper starts before the rest of
    pip-attest (and pip) is imported: it loads sigstore on another core meanwhile."""
    from pip_attest._spawn import start_early_helper

    argv = sys.argv[1:]
    start_early_helper(argv)
    from pip_attest._cli import main

    _leave(main(argv))


def _leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown.

    Once pip has returned, the ordinary teardown takes every module pip loaded apart one
    object at a time, a measurable share of a small install (README, "Performance"), spent
    after all the work is done. The exit handlers still run (logging flushes
    and closes pip's log file, temporary directories are removed) and the standard streams
    are flushed; then the process ends with ``os._exit``. It exits the ordinary way instead
    with ``PIP_ATTEST_FULL_EXIT=1``, while a thread Python would wait for is still running,
    or when a stream cannot be flushed (so that Python reports a closed pipe as it always
    does).
    """
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    waited_for = [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    full = _env.flag(os.environ, _env.FULL_EXIT) is not False  # unreadable: the full exit
    if full or waited_for or run_exit_handlers is None:
        sys.exit(code)
    run_exit_handlers()  # they run once: the ordinary exit would not run them again
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    run()
