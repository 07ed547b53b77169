"""Settings for a run, read from the ``PIP_ATTEST_*`` variables and the policy file.

Reading only: nothing here prints or writes the environment. :meth:`Settings.exports`
says what a run must put in its environment so that the pip subprocesses it starts (build
dependencies) read the same policy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from pip_attest import _env
from pip_attest._errors import UsageError
from pip_attest._identity import Identity, parse_identity
from pip_attest._notify import warn
from pip_attest._toml import read_toml


def env_flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    """A boolean variable, strictly: a value that is not one is a usage error."""
    value = _env.flag(os.environ if env is None else env, name)
    if value is None:
        shown = (os.environ if env is None else env).get(name, "")
        raise UsageError(f"{name}={shown!r}: expected 1/0, true/false, yes/no or on/off")
    return value


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
            warn(f"ignoring {candidate}: it belongs to another user")
            continue
        if candidate.is_file():
            return candidate
    return None


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
    discovered from the working directory."""
    named = env.get(_env.POLICY, "").strip()
    if named.lower() == "none":
        return None
    if named:
        path = Path(named).expanduser()
        file = load_policy_file(path)
        if file is None:
            raise UsageError(f"{path}: has no [tool.pip-attest] table")
        return file
    found = find_policy_file(cwd or Path.cwd())
    return load_policy_file(found.resolve()) if found else None


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
    sources: Mapping[str, str] = _NO_ENTRIES
    trust_root: Path | None = None
    integrity_apis: tuple[str, ...] = ()
    timeout: float = 60.0
    results_file: Path | None = None

    def exports(self) -> dict[str, str]:
        """What the run's environment must say for its pip subprocesses (which may run
        elsewhere, or next to an sdist's own pyproject.toml) to read this same policy."""
        return {_env.POLICY: str(self.policy_file) if self.policy_file else "none"}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        env = os.environ if env is None else env
        file = _policy_from(env, cwd)
        sources: dict[str, str] = {}
        require = _require(env, file, sources)
        allow = _allowed(env, file, sources)
        pins = _pins(env, file, sources)
        env_flag(_env.NO_CACHE, env)  # a value we cannot read is a usage error, as for all
        return cls(
            require_attestations=require,
            allow_unattested=allow,
            pins=pins,
            accepted=parse_pins(env.get(_env.ACCEPT_PUBLISHER, "").split()),
            policy_file=file.path if file else None,
            first_seen_dir=_env.path(env, _env.FIRST_SEEN_DIR),
            lock_file=_env.path(env, _env.LOCK),
            sources=sources,
            trust_root=_env.path(env, _env.TRUST_ROOT),
            integrity_apis=_integrity_apis(env),
            timeout=_timeout(env),
            results_file=_env.path(env, _env.RESULTS_FILE),
        )


def _integrity_apis(env: Mapping[str, str]) -> tuple[str, ...]:
    apis = tuple(_env.words(env.get(_env.INTEGRITY_API, "")))
    if len(apis) > 1:  # which one answers for a file would be a guess: one, or none
        raise UsageError(f"{_env.INTEGRITY_API} (--integrity-api) names {len(apis)} URLs: give one")
    return apis


def _timeout(env: Mapping[str, str]) -> float:
    text = env.get(_env.TIMEOUT, "").strip()
    try:
        timeout = float(text) if text else 60.0
    except ValueError:
        raise UsageError(f"{_env.TIMEOUT}={text!r}: expected a number of seconds") from None
    if not 0 < timeout <= 3600:
        raise UsageError(f"{_env.TIMEOUT}={text!r}: expected 0 < seconds <= 3600")
    return timeout


def _label(file: FilePolicy | None) -> str:
    return f"file {file.path}" if file else ""


def _require(env: Mapping[str, str], file: FilePolicy | None, sources: dict[str, str]) -> bool:
    if env.get(_env.REQUIRE, "").strip():
        sources["require-attestations"] = f"--require-attestations / {_env.REQUIRE}"
        return env_flag(_env.REQUIRE, env)
    if file and file.require_attestations is not None:
        sources["require-attestations"] = _label(file)
        return file.require_attestations
    sources["require-attestations"] = "default"
    return False


def _allowed(
    env: Mapping[str, str], file: FilePolicy | None, sources: dict[str, str]
) -> frozenset[str]:
    from_env = {canonicalize_name(n) for n in _env.words(env.get(_env.ALLOW_UNATTESTED, ""))}
    from_file = set(file.allow_unattested) if file else set()
    for name in from_file:
        sources[f"allow-unattested:{name}"] = _label(file)
    for name in from_env:
        sources[f"allow-unattested:{name}"] = f"--allow-unattested / {_env.ALLOW_UNATTESTED}"
    return frozenset(from_env | from_file)


def _pins(
    env: Mapping[str, str], file: FilePolicy | None, sources: dict[str, str]
) -> dict[str, tuple[Identity, ...]]:
    pins = dict(file.pins) if file else {}
    for name in pins:
        sources[f"publisher:{name}"] = _label(file)
    for name, identities in parse_pins(env.get(_env.PUBLISHER, "").split()).items():
        pins[name] = identities
        sources[f"publisher:{name}"] = f"--publisher / {_env.PUBLISHER}"
    return pins
