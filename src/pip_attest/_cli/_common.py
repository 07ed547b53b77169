"""What every command shares: exit codes, pip-attest's own install options, the report's
format and destination, and the warning sink.

Exit codes (README, "Exit codes"):
  0  everything was verified (or allowed) and pip succeeded
  1  pip-attest refused something: nothing was installed
  2  usage error, or an environment pip-attest cannot guard (unsupported pip, bad trust root)
  3  pip itself failed
  4  the run finished as the summary on stderr says, but the report could not be written
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pip_attest import _env
from pip_attest._config import Settings
from pip_attest._errors import UsageError
from pip_attest._trust import describe, ensure_root

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PIP, EXIT_REPORT = 0, 1, 2, 3, 4

# pip-attest's own install options: (flag, takes a value, environment variable).
# Everything else on an install command line belongs to pip, untouched.
INSTALL_OPTIONS: dict[str, tuple[bool, str]] = {
    "--require-attestations": (False, _env.REQUIRE),
    "--allow-unattested": (True, _env.ALLOW_UNATTESTED),
    "--publisher": (True, _env.PUBLISHER),
    "--accept-publisher": (True, _env.ACCEPT_PUBLISHER),
    "--policy": (True, _env.POLICY),
    "--trust-root": (True, _env.TRUST_ROOT),
    "--integrity-api": (True, _env.INTEGRITY_API),
    "--provenance-timeout": (True, _env.TIMEOUT),
    "--format": (True, _env.FORMAT),
    "--output": (True, _env.OUTPUT),
}


# The policy options install, lock and audit share, for their --help.
POLICY_OPTIONS_HELP = """\
  --allow-unattested PKG    with --require-attestations, still allow PKG (repeatable)
                                                                PIP_ATTEST_ALLOW_UNATTESTED
  --publisher PKG=IDENTITY  require PKG to be signed by IDENTITY (repeatable)
                                                                PIP_ATTEST_PUBLISHER
  --accept-publisher PKG=IDENTITY
                            also accept IDENTITY for PKG, for this run only
                                                         PIP_ATTEST_ACCEPT_PUBLISHER
  --policy FILE             policy file (default: the nearest pyproject.toml's
                            [tool.pip-attest] table)             PIP_ATTEST_POLICY
  --trust-root FILE         Sigstore trusted_root.json to verify against
                                                                PIP_ATTEST_TRUST_ROOT
  --integrity-api URL       also ask this index's PEP 740 Integrity API
                                                                PIP_ATTEST_INTEGRITY_API
  --provenance-timeout SEC  time limit for one provenance download  PIP_ATTEST_TIMEOUT
"""


def split_install_args(argv: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Separate pip-attest's options from pip's, keeping pip's in order.

    Matching is exact (``--flag`` or ``--flag=value``), never by prefix, so no pip option can
    be mistaken for ours. Everything after ``--`` is pip's.
    """
    ours: dict[str, list[str]] = {}
    pip_args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            pip_args.extend(argv[i:])
            break
        flag, eq, value = arg.partition("=")
        if flag in INSTALL_OPTIONS:
            takes_value = INSTALL_OPTIONS[flag][0]
            if not takes_value:
                if eq:
                    raise UsageError(f"{flag} takes no value")
                ours.setdefault(flag, []).append("1")
            elif eq:
                ours.setdefault(flag, []).append(value)
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                ours.setdefault(flag, []).append(argv[i])
            else:
                # Never take a pip option as our value: '--output --no-deps' is a mistake.
                raise UsageError(f"{flag} needs a value")
        else:
            pip_args.append(arg)
        i += 1
    return ours, pip_args


def apply_to_env(ours: dict[str, list[str]]) -> None:
    """Flags win over the environment; the run and its pip subprocesses then read env."""
    for flag, values in ours.items():
        env = INSTALL_OPTIONS[flag][1]
        if flag in ("--allow-unattested", "--publisher", "--accept-publisher", "--integrity-api"):
            os.environ[env] = " ".join(values)
        elif flag == "--policy":
            # Absolute, so pip subprocesses that run elsewhere read the same file.
            os.environ[env] = str(Path(values[-1]).expanduser().resolve())
        else:
            os.environ[env] = values[-1]


def output_format() -> tuple[str, Path | None]:
    fmt = os.environ.get(_env.FORMAT, "text").strip().lower() or "text"
    if fmt not in ("text", "json"):
        raise UsageError(f"unknown format {fmt!r}: expected text or json")
    out = os.environ.get(_env.OUTPUT, "").strip()
    return fmt, Path(out) if out else None


def emit(text: str, output: Path | None, stream: TextIO, code: int) -> int:
    """Write the report, and return the exit code: ``code``, or :data:`EXIT_REPORT` when a
    run that went well could not write its report (a full disk, a closed pipe). What the
    run did stands either way, and stderr says so."""
    try:
        if output is None:
            stream.write(text)
            stream.flush()
        else:
            output.write_text(text, encoding="utf-8")
    except OSError as err:
        where = "standard output" if output is None else str(output)
        if output is None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()  # what is buffered can never be written: drop it now
        print(
            f"pip-attest: the run finished (see above), but the report could not be written "
            f"to {where}: {err.strerror or err}",
            file=sys.stderr,
        )
        return EXIT_REPORT if code == EXIT_OK else code
    return code


def check_output(output: Path | None) -> None:
    """Before pip runs: a report that cannot be written must not fail a finished install."""
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"cannot write the report to {output}: no such directory")


def warn_stale_root(settings: Settings) -> Path:
    """The run's trust root, read before pip runs: one that is no trusted root at all is a
    usage error (exit 2) here, not a refusal of every file later."""
    path = ensure_root(settings.trust_root)
    info = describe(path)
    if info.is_stale():
        age = info.age()
        days = f"{age.days} days" if age is not None else "an unknown time"
        print(
            f"warning: the Sigstore trust root is {days} old; refresh it with "
            "'pip-attest trust update'",
            file=sys.stderr,
        )
    return path


def days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def warning(message: str) -> None:
    """The sink for library warnings (pip_attest._notify): one line on stderr."""
    print(f"pip-attest: warning: {message}", file=sys.stderr)
