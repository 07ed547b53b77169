"""Settings, read from ``PIP_ATTEST_*`` environment variables.

The CLI turns its flags into these variables before it runs pip, so the in-process pip, the
``PIP_ATTEST_ENFORCE=1`` hook and the subprocess pips that install build dependencies all
read one source and agree. The README's environment table lists every variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from pip_attest._errors import UsageError
from pip_attest._identity import Identity, parse_identity

ENFORCE = "PIP_ATTEST_ENFORCE"
REQUIRE = "PIP_ATTEST_REQUIRE"
ALLOW_UNATTESTED = "PIP_ATTEST_ALLOW_UNATTESTED"
PUBLISHER = "PIP_ATTEST_PUBLISHER"
TRUST_ROOT = "PIP_ATTEST_TRUST_ROOT"
INTEGRITY_API = "PIP_ATTEST_INTEGRITY_API"
TIMEOUT = "PIP_ATTEST_TIMEOUT"
FORMAT = "PIP_ATTEST_FORMAT"
OUTPUT = "PIP_ATTEST_OUTPUT"
ALLOW_UNTESTED_PIP = "PIP_ATTEST_ALLOW_UNTESTED_PIP"
# Internal: where every pip process of one run (the top one and the build-dependency
# subprocesses) appends its results, so that the top process can report them all.
RESULTS_FILE = "PIP_ATTEST_RESULTS_FILE"
# Internal: the pid of that top process; any other pid reporting there is a subprocess pip
# that installs build dependencies.
PARENT_PID = "PIP_ATTEST_PARENT_PID"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def _words(value: str) -> list[str]:
    return value.replace(",", " ").split()


def parse_pins(values: list[str]) -> dict[str, tuple[Identity, ...]]:
    """``PKG=IDENTITY`` items into canonical project name → identities."""
    pins: dict[str, tuple[Identity, ...]] = {}
    for item in values:
        project, sep, ident = item.partition("=")
        if not sep or not project.strip():
            raise UsageError(f"invalid publisher pin {item!r}: expected PACKAGE=IDENTITY")
        name = canonicalize_name(project.strip())
        pins[name] = (*pins.get(name, ()), parse_identity(ident))
    return pins


@dataclass(frozen=True, slots=True)
class Settings:
    require_attestations: bool = False
    allow_unattested: frozenset[str] = frozenset()
    pins: Mapping[str, tuple[Identity, ...]] = field(default_factory=dict)
    trust_root: Path | None = None
    integrity_apis: tuple[str, ...] = ()
    timeout: float = 60.0
    results_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        timeout_text = env.get(TIMEOUT, "").strip()
        try:
            timeout = float(timeout_text) if timeout_text else 60.0
        except ValueError:
            raise UsageError(f"{TIMEOUT}={timeout_text!r}: expected a number of seconds") from None
        if not 0 < timeout <= 3600:
            raise UsageError(f"{TIMEOUT}={timeout_text!r}: expected 0 < seconds <= 3600")
        trust_root = env.get(TRUST_ROOT, "").strip()
        results = env.get(RESULTS_FILE, "").strip()
        return cls(
            require_attestations=env_flag(REQUIRE, env),
            allow_unattested=frozenset(
                canonicalize_name(n) for n in _words(env.get(ALLOW_UNATTESTED, ""))
            ),
            pins=parse_pins(env.get(PUBLISHER, "").split()),
            trust_root=Path(trust_root).expanduser() if trust_root else None,
            integrity_apis=tuple(_words(env.get(INTEGRITY_API, ""))),
            timeout=timeout,
            results_file=Path(results) if results else None,
        )
