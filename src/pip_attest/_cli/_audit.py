"""``pip-attest audit``: verify what an environment already has installed."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pip_attest import _env
from pip_attest._cli._common import (
    EXIT_OK,
    EXIT_REFUSED,
    POLICY_OPTIONS_HELP,
    apply_to_env,
    check_output,
    emit,
    output_format,
    split_install_args,
    warn_stale_root,
)
from pip_attest._errors import UsageError

AUDIT_HELP = (
    """\
usage: pip-attest audit [--python PYTHON | --path DIR] [--lock pylock.toml]
                        [pip index options] [pip-attest options]

Checks every distribution installed in an environment: finds the file it was installed
from on the index (or in the lock), verifies that file's PEP 740 attestations as
'pip-attest install' does, and binds what is installed to it (RECORD, every file's hash,
bytecode). Nothing is installed, and no first-seen record is written.

where:
  (default)                 the environment pip-attest runs in
  --python PYTHON           the environment of another interpreter (it is run once, -I)
  --path DIR                a site-packages or 'pip install --target' directory; nothing
                            in it is run
  --lock pylock.toml        the lock's files, hashes and identities are the reference
                                                                PIP_ATTEST_LOCK

pip index options (as for 'pip install'; pip's own variables and config apply):
  -i, --index-url URL  --extra-index-url URL  -f, --find-links URL|DIR  --no-index
  --trusted-host HOST  --cert PATH  --client-cert PATH  --proxy URL  --retries N  --timeout S

pip-attest options (each also read from the environment variable shown):
  --require-attestations    a distribution without attestation is blocking
                                                                PIP_ATTEST_REQUIRE=1
"""
    + POLICY_OPTIONS_HELP
    + """  --format text|json        the report on stdout (or --output)       PIP_ATTEST_FORMAT
  --output FILE             write the report to FILE                 PIP_ATTEST_OUTPUT

Statuses: verified, built-from-sdist, not-from-index, missing, modified, invalid,
          unexpected-publisher, downgrade, unavailable.
Exit codes: 0 nothing blocking, 1 a blocking finding (modified and invalid always are),
            2 usage or unsupported environment, 4 the report could not be written."""
)

# pip's index options 'audit' passes on (flag -> takes a value), read by pip's own parser.
PIP_OPTIONS = {
    "-i": True,
    "--index-url": True,
    "--extra-index-url": True,
    "-f": True,
    "--find-links": True,
    "--no-index": False,
    "--trusted-host": True,
    "--cert": True,
    "--client-cert": True,
    "--proxy": True,
    "--retries": True,
    "--timeout": True,
}
AUDIT_OPTIONS = ("--python", "--path", "--lock")


def parse_audit_args(argv: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    """(pip-attest options, audit's own options, pip's index options in order)."""
    ours, rest = split_install_args(argv)
    own: dict[str, str] = {}
    pip_args: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg.startswith("--"):
            flag, eq, value = arg.partition("=")
        elif arg[:2] in ("-i", "-f") and len(arg) > 2:  # -iURL, as pip takes it
            flag, eq, value = arg[:2], "=", arg[2:]
        else:
            flag, eq, value = arg, "", ""
        takes = PIP_OPTIONS.get(flag) if flag not in AUDIT_OPTIONS else True
        if takes is None:
            raise UsageError(f"audit: unknown option {arg!r} (see 'pip-attest audit --help')")
        if takes and not eq:
            if i + 1 >= len(rest) or (rest[i + 1].startswith("-") and rest[i + 1] != "-"):
                raise UsageError(f"audit: {flag} needs a value")
            i += 1
            value = rest[i]
        elif not takes and eq:
            raise UsageError(f"audit: {flag} takes no value")
        if flag in AUDIT_OPTIONS:
            if flag in own:
                raise UsageError(f"audit: {flag} given twice")
            own[flag] = value
        else:
            pip_args += [flag, value] if takes else [flag]
        i += 1
    if "--python" in own and "--path" in own:
        raise UsageError("audit: --python and --path name two environments; give one")
    return ours, own, pip_args


def cmd_audit(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(AUDIT_HELP)
        return EXIT_OK
    ours, own, pip_args = parse_audit_args(argv)
    apply_to_env(ours)
    lock = None
    if "--lock" in own:
        lock = Path(own["--lock"]).expanduser().resolve()
        if not lock.is_file():
            raise UsageError(f"--lock {own['--lock']}: no such file")
        os.environ[_env.LOCK] = str(lock)  # the policy expects the lock's identities
    fmt, output = output_format()
    check_output(output)
    # Imported here: 'pip-attest' loads each command's code only when it runs.
    from pip_attest._audit import at_path, audit, interpreter
    from pip_attest._audit._report import render_json, render_text
    from pip_attest._config import Settings

    settings = Settings.from_env()
    warn_stale_root(settings)
    environment = at_path(own["--path"]) if "--path" in own else interpreter(own.get("--python"))
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        run = audit(
            environment,
            pip_args,
            settings,
            lock=lock,
            progress=progress.update if progress else None,
        )
    finally:
        if progress is not None:
            progress.clear()
    code = EXIT_REFUSED if any(r.blocking for r in run.results) else EXIT_OK
    text = render_text(run)
    sys.stderr.write(text)
    if fmt == "json":
        return emit(render_json(run, exit_code=code), output, sys.stdout, code)
    if output is not None:
        return emit(text, output, sys.stdout, code)
    return code


class Progress:
    """A progress bar on a terminal, the way pip draws its own: redrawn in place at most
    ten times a second, and only for a run long enough to need one."""

    WIDTH = 40
    AFTER = 0.5  # seconds before the bar first shows

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._start < self.AFTER or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        filled = self.WIDTH * done // max(total, 1)
        bar = "━" * filled + " " * (self.WIDTH - filled)
        elapsed = int(now - self._start)
        clock = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        self._stream.write(f"\rAuditing {bar} {done}/{total} {clock}")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
