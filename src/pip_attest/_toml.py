"""TOML in and out: policy files, locks, and pip's own lock output.

Reading is bounded (a regular file of at most :data:`MAX_TOML_BYTES`) and every failure is a
one-line :class:`~pip_attest._errors.UsageError`. Writing goes through tomlkit, which escapes
every string correctly and keeps a foreign document's comments and layout when it is edited.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

from pip_attest._errors import UsageError
from pip_attest._fileio import read_regular_file

# A policy or lock file is text a person reviews: far below this. Anything larger (or
# /dev/zero, or a FIFO) is refused unread.
MAX_TOML_BYTES = 16 * 1024 * 1024


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as a dict. Raises ValueError (bad TOML) or RecursionError (deep nesting)."""
    doc: dict[str, Any] = tomllib.loads(text)
    return doc


def read_text(path: Path, what: str) -> str:
    """A TOML file's text, or a one-line :class:`UsageError` saying why not."""
    try:
        data = read_regular_file(path, MAX_TOML_BYTES)
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file (a policy, a lock), or a one-line :class:`UsageError` saying why not."""
    return toml_of(read_text(path, what), path)


def toml_of(text: str, path: Path) -> dict[str, Any]:
    """The text of the TOML file at ``path``, parsed, or a one-line :class:`UsageError`."""
    try:
        return parse_toml(text)
    except (ValueError, RecursionError) as err:  # TOMLDecodeError
        reason = " ".join(str(err).split())[:200]
        raise UsageError(f"{path}: not valid TOML ({reason})") from None
