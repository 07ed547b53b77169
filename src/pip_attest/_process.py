"""The ``pip-attest`` process, first and last: what runs before pip-attest's own imports
(the run memo and the early verification helper), and how the process ends.

Loading sigstore takes the verification helper 0.3 to 0.45 s of CPU. Every millisecond it
starts sooner is one pip may not wait for at the gate, so for ``install`` and ``lock`` it
is started from here, before the rest of pip-attest (or pip) is imported. This module
therefore imports only the standard library, and platformdirs for the cache directory.

Nothing here decides whether a file is verified: a wrong guess about the helper costs time
(a helper started for nothing, or started late), never a check.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

# The commands that run pip, and so may need the helper.
_PIP_COMMANDS = ("install", "lock")
# Set by pip-attest itself for each run (pip_attest._config.RESULTS_FILE, PARENT_PID).
_PER_RUN_VARIABLES = frozenset({"PIP_ATTEST_RESULTS_FILE", "PIP_ATTEST_PARENT_PID"})
MAX_REQUIREMENTS_BYTES = 4 * 1024 * 1024  # read of a requirements file, for RunMemo
MAX_ENTRY_BYTES = 64 * 1024  # a real cache entry is a few hundred bytes
MEMO_FORMAT = 1  # of a run memo (cache entries have their own, in _cache)

_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from pip_attest._worker import main; main(sys.argv[2])"
)


def run() -> NoReturn:
    """The ``pip-attest`` command and ``python -m pip_attest``."""
    argv = sys.argv[1:]
    start_early_helper(argv)
    from pip_attest._cli import main

    _leave(main(argv))


# -- before: the early helper --------------------------------------------------------------


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
    """Start ``pip_attest._worker.main`` in a new interpreter; it loads sigstore while the
    caller goes on. ``trust_root`` None: the helper uses pip-attest's cached root.

    -I -S: none of the user's environment or site hooks; the parent's sys.path instead, so
    the helper runs exactly the pip-attest and sigstore we run. Under
    ``python -X importtime`` the helper reports its imports too, on our stderr, so that the
    listing stays true for the whole run. Raises OSError when it cannot be started.
    """
    import tempfile

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
        if cache_enabled(env):
            memo = RunMemo(cache_dir(), argv, env)
            _MEMO.append(memo)
            if memo.expects_hits(time.time()):
                return
        early = EarlyHelper(trust_root_setting(argv, env))
        with _EARLY_LOCK:
            _EARLY.append(early)
        # Normally the run stops it (pip_attest._pip._run.close_run); this covers an exit
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
    return trust_root_from_env(env) if value is None else _trust_root_path(value)


def trust_root_from_env(env: Mapping[str, str]) -> Path | None:
    """``PIP_ATTEST_TRUST_ROOT``, or None for pip-attest's own cached root."""
    return _trust_root_path(env.get("PIP_ATTEST_TRUST_ROOT", ""))


def _trust_root_path(value: str) -> Path | None:
    value = value.strip()
    return Path(value).expanduser() if value else None


def _before_dashes(argv: Sequence[str]) -> list[str]:
    args = list(argv)
    return args[: args.index("--")] if "--" in args else args


# -- the run memo ------------------------------------------------------------------------


def cache_enabled(env: Mapping[str, str]) -> bool:
    """False when ``PIP_ATTEST_NO_CACHE`` is set to a true value. A value we cannot read
    also turns the cache off: verifying is always the safe reading."""
    value = env.get("PIP_ATTEST_NO_CACHE", "").strip().lower()
    return value in ("", "0", "false", "no", "off")


def cache_dir() -> Path:
    """The verification cache: ``verified/`` in pip-attest's user cache directory."""
    import platformdirs

    return platformdirs.user_cache_path("pip-attest") / "verified"


def digest_fields(*fields: str) -> str:
    """Where a cache file is filed. Two keys that share a digest (they cannot, short of a
    sha256 collision or a NUL inside a field) only share a file: every entry repeats its
    whole key, and a key that differs is a miss."""
    text = "\0".join(fields)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def read_entry(path: str) -> bytes | None:
    """A cache file's bytes, or None. Non-blocking, and only from a regular file: a FIFO
    put in the cache must not hang every run."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_ENTRY_BYTES + 1)  # an entry is far smaller: one read
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if len(data) > MAX_ENTRY_BYTES else data


class RunMemo:
    """Whether the last run of this same command line found everything already verified.

    Used only to guess, before pip starts, whether this run will need the verification
    helper. "The same command line" is every argument, the working directory, every
    ``PIP_*`` variable, and the bytes of each requirement and constraint file the arguments
    name.
    """

    MAX_AGE = 7 * 24 * 60 * 60

    def __init__(
        self, cache_root: Path, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if env is None else env
        parts = [os.getcwd(), *argv, "\0"]
        parts += [
            f"{k}={v}"
            for k, v in sorted(env.items())
            if k.startswith("PIP_") and k not in _PER_RUN_VARIABLES
        ]
        parts += [_file_digest(f) for f in _requirement_files(argv)]
        digest = digest_fields(*parts)
        self.path = cache_root / "runs" / digest[:2] / f"{digest[2:]}.json"

    def expects_hits(self, now: float) -> bool:
        data = read_entry(str(self.path))
        try:
            doc = json.loads(data) if data is not None else None
        except (ValueError, RecursionError):
            return False
        if not isinstance(doc, dict) or doc.get("format") != MEMO_FORMAT:
            return False
        stored = doc.get("stored")
        if not isinstance(stored, (int, float)) or not 0 <= now - stored <= self.MAX_AGE:
            return False
        return doc.get("all_cached") is True

    def record_run(
        self, pip_exit_code: int, records: Iterable[Mapping[str, Any]], now: float
    ) -> None:
        """After a run: would running it again find every file verified already? Not after
        a pip failure, nor when a file could not be fetched or did not verify (failures are
        not cached)."""
        done = ("verified", "missing")
        self.record(pip_exit_code == 0 and all(r.get("status") in done for r in records), now)

    def record(self, all_cached: bool, now: float) -> None:
        from pip_attest._fileio import atomic_write

        doc = {"format": MEMO_FORMAT, "all_cached": all_cached, "stored": now}
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            atomic_write(self.path, json.dumps(doc).encode(), mode=0o600, durable=False)


def _requirement_files(argv: Sequence[str]) -> list[str]:
    files = []
    args = list(argv)
    for i, arg in enumerate(args):
        for flag in ("-r", "--requirement", "-c", "--constraint"):
            if arg == flag and i + 1 < len(args):
                files.append(args[i + 1])
            elif arg.startswith(flag + "=") or (
                len(flag) == 2 and arg.startswith(flag) and arg != flag
            ):
                files.append(arg.removeprefix(flag).removeprefix("="))
    return files


def _file_digest(name: str) -> str:
    """A regular file's sha256. Anything else is not even opened: ``-r <(...)`` is a pipe
    whose bytes belong to pip, and opening a FIFO would release a writer waiting for pip."""
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):
            return "?"
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return "?"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "?"
        return hashlib.sha256(os.read(fd, MAX_REQUIREMENTS_BYTES)).hexdigest()
    except OSError:
        return "?"
    finally:
        os.close(fd)


# -- after: a quick exit -----------------------------------------------------------------


def _leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown.

    Once pip has returned, the ordinary teardown takes every module pip loaded apart one
    object at a time: about 45 ms of CPU on the benchmark machine, a tenth of a small
    install, spent after all the work is done. The exit handlers still run (logging flushes
    and closes pip's log file, temporary directories are removed) and the standard streams
    are flushed; then the process ends with ``os._exit``. It exits the ordinary way instead
    with ``PIP_ATTEST_FULL_EXIT=1``, while a thread Python would wait for is still running,
    or when a stream cannot be flushed (so that Python reports a closed pipe as it always
    does).
    """
    import threading

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    waited_for = [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    full = os.environ.get("PIP_ATTEST_FULL_EXIT", "").strip().lower()
    if full not in ("", "0", "false", "no", "off") or waited_for or run_exit_handlers is None:
        sys.exit(code)
    run_exit_handlers()  # they run once: the ordinary exit would not run them again
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
