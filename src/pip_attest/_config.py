"""Settings, read from ``PIP_ATTEST_*`` environment variables.

The CLI turns its flags into these variables before it runs pip, so the in-process pip, the
``PIP_ATTEST_ENFORCE=1`` hook and the subprocess pips that install build dependencies all
read one source and agree. The README's environment table lists every variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from pip_attest._errors import UsageError
from pip_attest._fileio import read_regular_file
from pip_attest._identity import Identity, parse_identity
from pip_attest._process import trust_root_from_env

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
POLICY = "PIP_ATTEST_POLICY"
ACCEPT_PUBLISHER = "PIP_ATTEST_ACCEPT_PUBLISHER"
FIRST_SEEN_DIR = "PIP_ATTEST_FIRST_SEEN_DIR"
# The pylock.toml whose attestation-identities are the expected publishers (set by
# 'pip-attest install -r pylock.toml' and 'pip-attest lock').
LOCK = "PIP_ATTEST_LOCK"
NO_CACHE = "PIP_ATTEST_NO_CACHE"
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
    """``PKG=IDENTITY`` items into canonical project name → identities (same-run items
    for one project add up)."""
    pins: dict[str, tuple[Identity, ...]] = {}
    for item in values:
        project, sep, ident = item.partition("=")
        if not sep or not project.strip():
            raise UsageError(f"invalid publisher pin {item!r}: expected PACKAGE=IDENTITY")
        name = canonicalize_name(project.strip())
        pins[name] = (*pins.get(name, ()), parse_identity(ident))
    return pins


# The keys a policy table may hold. Anything else is an error: a misspelt
# 'require-attestation' silently ignored would be a policy the user believes in and
# does not have.
_POLICY_KEYS = {"require-attestations", "allow-unattested", "publishers"}
# The default for mapping fields: read-only, so one object can serve every instance.
_NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})


class FilePolicy(NamedTuple):
    """The ``[tool.pip-attest]`` table of a pyproject.toml, or a ``--policy`` file."""

    path: Path
    require_attestations: bool | None = None
    allow_unattested: frozenset[str] = frozenset()
    pins: Mapping[str, tuple[Identity, ...]] = _NO_ENTRIES


def find_policy_file(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` (the project being worked on).

    A file owned by another user (a ``/tmp/pyproject.toml`` someone planted) is skipped with
    a warning: a policy can loosen checks, so only the user's own files (or root's) count.
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        try:
            info = candidate.stat()
        except OSError:
            continue
        if uid is not None and info.st_uid not in (uid, 0):
            print(
                f"pip-attest: warning: ignoring {candidate}: it belongs to another user",
                file=sys.stderr,
            )
            continue
        if candidate.is_file():
            return candidate
    return None


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as a dict. Raises ValueError (bad TOML) or RecursionError (deep nesting)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    doc: dict[str, Any] = tomllib.loads(text)
    return doc


# A policy or lock file is text a person reviews: far below this. Anything larger (or
# /dev/zero, or a FIFO) is refused unread.
MAX_TOML_BYTES = 16 * 1024 * 1024


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file (a policy, a lock), or a one-line :class:`UsageError` saying why not.
    Only a regular file of at most :data:`MAX_TOML_BYTES` is read."""
    try:
        data = read_regular_file(path, MAX_TOML_BYTES)
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror}") from None
    try:
        return parse_toml(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # TOMLDecodeError, UnicodeDecodeError
        reason = " ".join(str(err).split())[:200]
        raise UsageError(f"{path}: not valid TOML ({reason})") from None


def load_policy_file(path: Path) -> FilePolicy | None:
    """Read a policy. In a pyproject.toml it is the ``[tool.pip-attest]`` table (absent:
    no policy); any other file may hold the table or the keys at its top level."""
    doc = read_toml(path, "policy file")
    tool = doc.get("tool")
    table = tool.get("pip-attest") if isinstance(tool, dict) else None
    if table is None:
        if path.name == "pyproject.toml":
            return None
        table = {k: v for k, v in doc.items() if k != "tool"}
    where = f"{path} [tool.pip-attest]" if path.name == "pyproject.toml" else str(path)
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table")
    unknown = sorted(set(table) - _POLICY_KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_POLICY_KEYS))}"
        )
    require = table.get("require-attestations")
    if require is not None and not isinstance(require, bool):
        raise UsageError(f"{where}: require-attestations must be true or false")
    allow = table.get("allow-unattested", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise UsageError(f"{where}: allow-unattested must be a list of project names")
    publishers = table.get("publishers", {})
    if not isinstance(publishers, dict):
        raise UsageError(f"{where}: publishers must be a table of PROJECT = IDENTITY")
    pins: dict[str, tuple[Identity, ...]] = {}
    spelled: dict[str, str] = {}
    for project, value in publishers.items():
        name = canonicalize_name(project)
        if name in spelled:
            raise UsageError(
                f"{where}: publishers names {name} twice ({spelled[name]!r} and {project!r}); "
                "list every identity for it under one key"
            )
        spelled[name] = project
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise UsageError(
                f"{where}: publishers.{project} must be an identity or a list of identities"
            )
        try:
            pins[name] = tuple(parse_identity(v) for v in values)
        except UsageError as err:
            raise UsageError(f"{where}: publishers.{project}: {err}") from None
    return FilePolicy(
        path=path,
        require_attestations=require,
        allow_unattested=frozenset(canonicalize_name(a) for a in allow),
        pins=pins,
    )


def _policy_from(env: Mapping[str, str], cwd: Path | None) -> FilePolicy | None:
    """The policy file in force: named by PIP_ATTEST_POLICY ("none" for no file), else
    discovered from the working directory.

    When reading the process's own environment, the discovery is written back into it, so
    every pip subprocess of the run (build-dependency installs, which may run elsewhere,
    or next to an sdist's own pyproject.toml) reads the same policy, never one of its own.
    """
    named = env.get(POLICY, "").strip()
    if named.lower() == "none":
        return None
    if named:
        path = Path(named).expanduser()
        file = load_policy_file(path)
        if file is None:
            raise UsageError(f"{path}: has no [tool.pip-attest] table")
        return file
    found = find_policy_file(cwd or Path.cwd())
    file = load_policy_file(found.resolve()) if found else None
    if env is os.environ:
        os.environ[POLICY] = str(file.path) if file else "none"
    return file


class Settings(NamedTuple):
    """Everything a run needs, merged from its sources.

    Precedence (README, "Security model"): command-line flag, then environment variable,
    then policy file (``--policy`` / ``PIP_ATTEST_POLICY``, else the nearest
    pyproject.toml's ``[tool.pip-attest]``), then the default. The CLI writes its flags into
    the environment, so flags and variables are one layer. Per-project entries merge: a
    flag's pin for a project replaces the file's pin for that project only, and
    allow-unattested lists are joined. ``sources`` says where each part came from.
    """

    require_attestations: bool = False
    allow_unattested: frozenset[str] = frozenset()
    pins: Mapping[str, tuple[Identity, ...]] = _NO_ENTRIES
    accepted: Mapping[str, tuple[Identity, ...]] = _NO_ENTRIES
    policy_file: Path | None = None
    first_seen_dir: Path | None = None
    lock_file: Path | None = None
    locked: Mapping[str, tuple[Identity, ...]] = _NO_ENTRIES
    sources: Mapping[str, str] = _NO_ENTRIES
    trust_root: Path | None = None
    integrity_apis: tuple[str, ...] = ()
    timeout: float = 60.0
    results_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        env = os.environ if env is None else env
        file = _policy_from(env, cwd)
        file_label = f"file {file.path}" if file else ""
        sources: dict[str, str] = {}
        timeout_text = env.get(TIMEOUT, "").strip()
        try:
            timeout = float(timeout_text) if timeout_text else 60.0
        except ValueError:
            raise UsageError(f"{TIMEOUT}={timeout_text!r}: expected a number of seconds") from None
        if not 0 < timeout <= 3600:
            raise UsageError(f"{TIMEOUT}={timeout_text!r}: expected 0 < seconds <= 3600")
        trust_root = trust_root_from_env(env)
        results = env.get(RESULTS_FILE, "").strip()

        if env.get(REQUIRE, "").strip():
            require = env_flag(REQUIRE, env)
            sources["require-attestations"] = f"--require-attestations / {REQUIRE}"
        elif file and file.require_attestations is not None:
            require = file.require_attestations
            sources["require-attestations"] = file_label
        else:
            require = False
            sources["require-attestations"] = "default"

        allow_env = {canonicalize_name(n) for n in _words(env.get(ALLOW_UNATTESTED, ""))}
        allow_file = set(file.allow_unattested) if file else set()
        for name in allow_file:
            sources[f"allow-unattested:{name}"] = file_label
        for name in allow_env:
            sources[f"allow-unattested:{name}"] = f"--allow-unattested / {ALLOW_UNATTESTED}"

        pins = dict(file.pins) if file else {}
        for name in pins:
            sources[f"publisher:{name}"] = file_label
        for name, identities in parse_pins(env.get(PUBLISHER, "").split()).items():
            pins[name] = identities
            sources[f"publisher:{name}"] = f"--publisher / {PUBLISHER}"
        env_flag(NO_CACHE, env)  # a value we cannot read is a usage error here, as for all
        first_seen = env.get(FIRST_SEEN_DIR, "").strip()
        lock_name = env.get(LOCK, "").strip()
        lock_file = Path(lock_name).expanduser() if lock_name else None
        locked: dict[str, tuple[Identity, ...]] = {}
        if lock_file is not None:
            from pip_attest._lock import locked_identities, read_lock

            locked = locked_identities(read_lock(lock_file))
        return cls(
            require_attestations=require,
            allow_unattested=frozenset(allow_env | allow_file),
            pins=pins,
            accepted=parse_pins(env.get(ACCEPT_PUBLISHER, "").split()),
            policy_file=file.path if file else None,
            first_seen_dir=Path(first_seen).expanduser() if first_seen else None,
            lock_file=lock_file,
            locked=locked,
            sources=sources,
            trust_root=trust_root,
            integrity_apis=tuple(_words(env.get(INTEGRITY_API, ""))),
            timeout=timeout,
            results_file=Path(results) if results else None,
        )
