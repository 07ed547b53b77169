"""The verification helper's process, and the one started before pip-attest loads.

Loading sigstore is costly in CPU for the verification helper. Every
millisecond it starts sooner is one pip may not wait for at the gate, so for ``install`` and
``lock`` it is started before the rest of pip-attest (or pip) is imported: this module is
imported first, and stays light (the standard library, and the run memo).

Nothing here decides whether a file is verified: a wrong guess about the helper costs time
(a helper started for nothing, or started late), never a check.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from pip_attest import _env
from pip_attest._dirs import verified_dir
from pip_attest._memo import RunMemo

# The commands that run pip, and so may need the helper.
_PIP_COMMANDS = ("install", "lock")

_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from pip_attest._helper_main import main; main(sys.argv[2])"
)


class EarlyHelper:
    """A helper process started before pip runs, for the trust-root setting it was given."""

    def __init__(self, trust_root: Path | None) -> None:
        self.trust_root = trust_root
        self.proc, self.stderr = spawn_helper(trust_root)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


_EARLY: list[EarlyHelper] = []
_MEMO: list[RunMemo] = []
# A checker's thread may take the helper while the main thread discards it (the run ended).
_EARLY_LOCK = threading.Lock()


def spawn_helper(trust_root: Path | None) -> tuple[subprocess.Popen[bytes], IO[bytes] | None]:
    """Start ``pip_attest._helper_main.main`` in a new interpreter; it loads sigstore while the
    caller goes on. ``trust_root`` None: the helper uses pip-attest's cached root.

    -I -S: none of the user's environment or site hooks; the parent's sys.path instead, so
    the helper runs exactly the pip-attest and sigstore we run. Under
    ``python -X importtime`` the helper reports its imports too, on our stderr, so that the
    listing stays true for the whole run. Raises OSError when it cannot be started.
    """
    import tempfile  # tempfile costs milliseconds (random): only when a helper starts

    flags = ["-I", "-S"]
    stderr: IO[bytes] | None = None
    if "importtime" in sys._xoptions:
        flags += ["-X", "importtime"]
    else:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the helper
    command = [
        sys.executable,
        *flags,
        "-c",
        _BOOT,
        json.dumps(sys.path),
        "" if trust_root is None else str(trust_root),
    ]
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
    except BaseException:
        if stderr is not None:
            stderr.close()
        raise
    return proc, stderr


def start_early_helper(argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """For ``install`` and ``lock``: start the verification helper now, unless this same
    command line found every file in the verification cache last time (:class:`RunMemo`).

    A run whose files all hit needs no helper, and must not pay for one. A failure here is
    left to the normal start, at the first file that is not in the cache.
    """
    env = os.environ if env is None else env
    discard_early_helper()
    _MEMO.clear()
    words = [a for a in _before_dashes(argv) if not a.startswith("-")]
    if not words or words[0] not in _PIP_COMMANDS or {"-h", "--help"} & set(argv):
        return
    try:
        if _env.cache_enabled(env):
            memo = RunMemo(verified_dir(), argv, env)
            _MEMO.append(memo)
            if memo.expects_hits(time.time()):
                return
        early = EarlyHelper(trust_root_setting(argv, env))
        with _EARLY_LOCK:
            _EARLY.append(early)
        # Normally the run stops it (the CLI's close_run); this covers an exit
        # before the run even began, like a usage error argparse reports.
        atexit.unregister(discard_early_helper)  # once, however many runs start one
        atexit.register(discard_early_helper)
    except Exception:  # noqa: S110 - only a head start
        pass


def take_early_helper(
    trust_root: Path | None,
) -> tuple[subprocess.Popen[bytes], IO[bytes] | None] | None:
    """The early helper, for the checker whose trust-root setting it was started with."""
    with _EARLY_LOCK:
        if not _EARLY or _EARLY[0].trust_root != trust_root:
            return None
        early = _EARLY.pop()
    return early.proc, early.stderr


def discard_early_helper() -> None:
    """Stop an early helper no checker took (the run is over)."""
    with _EARLY_LOCK:
        unused = _EARLY[:]
        _EARLY.clear()
    for early in unused:
        early.kill()


def run_memo() -> RunMemo | None:
    """This command's memo, to be updated when the run is over."""
    return _MEMO[0] if _MEMO else None


def trust_root_setting(argv: Sequence[str], env: Mapping[str, str]) -> Path | None:
    """The trust root the command line or ``PIP_ATTEST_TRUST_ROOT`` names, read the way
    pip-attest's options are (the last ``--trust-root`` wins). A wrong reading only means
    the checker does not take this helper."""
    value = None
    args = _before_dashes(argv)
    for i, arg in enumerate(args):
        if arg == "--trust-root" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--trust-root="):
            value = arg.partition("=")[2]
    if value is None:
        return _env.path(env, _env.TRUST_ROOT)
    value = value.strip()
    return Path(value).expanduser() if value else None


def _before_dashes(argv: Sequence[str]) -> list[str]:
    args = list(argv)
    return args[: args.index("--")] if "--" in args else args
