"""Every ``PIP_ATTEST_*`` environment variable, and how each kind of value is read.

The CLI turns its flags into these variables before it runs pip, so the in-process pip, the
``PIP_ATTEST_ENFORCE=1`` hook and the pip subprocesses that install build dependencies all
read one source and agree. The README's environment table lists every public one.

Booleans have one meaning everywhere: ``1``/``true``/``yes``/``on`` and ``0``/``false``/
``no``/``off``/empty, any case, surrounding blanks ignored; anything else is unreadable,
which :func:`flag` reports and each caller resolves to its safe side (a usage error, or the
reading that checks more). The ``.pth`` hook line cannot import this module and repeats
the false set: anything else there enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ENFORCE = "PIP_ATTEST_ENFORCE"
REQUIRE = "PIP_ATTEST_REQUIRE"
ALLOW_UNATTESTED = "PIP_ATTEST_ALLOW_UNATTESTED"
PUBLISHER = "PIP_ATTEST_PUBLISHER"
ACCEPT_PUBLISHER = "PIP_ATTEST_ACCEPT_PUBLISHER"
POLICY = "PIP_ATTEST_POLICY"
TRUST_ROOT = "PIP_ATTEST_TRUST_ROOT"
INTEGRITY_API = "PIP_ATTEST_INTEGRITY_API"
TIMEOUT = "PIP_ATTEST_TIMEOUT"
FORMAT = "PIP_ATTEST_FORMAT"
OUTPUT = "PIP_ATTEST_OUTPUT"
ALLOW_UNTESTED_PIP = "PIP_ATTEST_ALLOW_UNTESTED_PIP"
FIRST_SEEN_DIR = "PIP_ATTEST_FIRST_SEEN_DIR"
NO_CACHE = "PIP_ATTEST_NO_CACHE"
FULL_EXIT = "PIP_ATTEST_FULL_EXIT"
# The pylock.toml whose attestation-identities are the expected publishers (set by
# 'pip-attest install -r pylock.toml' and 'pip-attest lock').
LOCK = "PIP_ATTEST_LOCK"
# Internal: where every pip process of one run (the top one and the build-dependency
# subprocesses) appends its results, so that the top process can report them all.
RESULTS_FILE = "PIP_ATTEST_RESULTS_FILE"
# Internal: the pid of that top process; any other pid reporting there is a subprocess pip
# that installs build dependencies.
PARENT_PID = "PIP_ATTEST_PARENT_PID"
# Set by pip-attest itself for each run: not part of what makes two runs "the same".
PER_RUN = frozenset({RESULTS_FILE, PARENT_PID})

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


def flag(env: Mapping[str, str], name: str) -> bool | None:
    """A boolean variable: True, False, or None when its value is neither."""
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    return None


def words(value: str) -> list[str]:
    """A list variable: items separated by blanks or commas."""
    return value.replace(",", " ").split()


def path(env: Mapping[str, str], name: str) -> Path | None:
    """A path variable, ``~`` expanded; None when unset or blank."""
    value = env.get(name, "").strip()
    return Path(value).expanduser() if value else None


def cache_enabled(env: Mapping[str, str]) -> bool:
    """The verification cache is used unless ``PIP_ATTEST_NO_CACHE`` is true; a value that
    cannot be read also turns it off (verifying is the safe reading; the run then stops
    with a usage error anyway)."""
    return flag(env, NO_CACHE) is False
