"""Whether the last run of the same command found every file verified already.

Only a guess, made before pip starts, about whether this run will need the verification
helper: a run whose files are all in the verification cache never imports sigstore, and must
not pay for starting a helper that loads it. A wrong guess costs time, never a check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pip_attest import _env
from pip_attest._fileio import atomic_write, key_digest, read_regular

MAX_REQUIREMENTS_BYTES = 4 * 1024 * 1024  # read of a requirements file
MAX_MEMO_BYTES = 64 * 1024
MEMO_FORMAT = 1  # of a run memo (cache entries have their own, in _cache)


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
        variables = sorted(env.items())
        parts += [
            f"{k}={v}" for k, v in variables if k.startswith("PIP_") and k not in _env.PER_RUN
        ]
        parts += [_file_digest(f) for f in _requirement_files(argv)]
        digest = key_digest(*parts)
        self.path = cache_root / "runs" / digest[:2] / f"{digest[2:]}.json"

    def expects_hits(self, now: float) -> bool:
        data = read_regular(self.path, MAX_MEMO_BYTES)
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
