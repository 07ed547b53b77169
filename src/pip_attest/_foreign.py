"""Locks written by any tool (uv, pip, pdm, pip-attest): verify every locked file against
its locked sha256 and the lock's identities, and annotate the lock with the identities its
files proved. Nothing here prints; the CLI shows what these return.

A foreign lock names files by URL and hash, often with no index and no file name (uv's
does), so a file's provenance is found this way, never by name alone:

1. the page of the lock's ``index`` for that package, when the lock has one; the file is
   the one at the locked URL, or with the locked sha256;
2. otherwise the pages of the index options given;
3. otherwise, for a file on PyPI's (or TestPyPI's) file host, their Integrity API.

The attestation must then name the locked file's project and version and its locked
sha256. The expected publishers are the lock's own ``attestation-identities`` (and any
pins): a changed publisher or a lost attestation is refused, as in ``pip-attest lock``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pip_attest._candidate import Candidate
from pip_attest._check import Checker
from pip_attest._config import Settings
from pip_attest._identity import Identity
from pip_attest._lock import LockedFile, LockedPackage, LockError, locked_identities, parse_lock
from pip_attest._model import FileResult, Origin, Status
from pip_attest._names import name_problem
from pip_attest._pip._index import Index, IndexFile
from pip_attest._policy import Policy
from pip_attest._provenance import PYPI_FILE_HOSTS
from pip_attest._toml import read_toml, toml_of


class LockCheck(NamedTuple):
    """Every locked file's result, and the identities each package's files proved (what
    the lock should say)."""

    results: list[FileResult]
    identities: dict[tuple[str, str], tuple[Identity, ...]]

    @property
    def refused(self) -> bool:
        return any(r.blocking for r in self.results)


def check_lock(
    path: Path,
    pip_args: Sequence[str],
    settings: Settings,
    *,
    helper: bool = True,
    text: str | None = None,
) -> LockCheck:
    """Check every file of the lock at ``path`` (its ``text`` when the caller read it, to
    write back the very text it checked); ``pip_args`` are pip's index options."""
    doc = toml_of(text, path) if text is not None else read_toml(path, "lock file")
    packages = parse_lock(doc, str(path))
    policy = Policy(settings, locked=locked_identities(packages), lock_name=path.name)
    with Index(pip_args) as index:
        checker = Checker(settings, index.session, helper=helper, policy=policy)
        try:
            return _check(packages, index, checker, bool(list(pip_args)))
        finally:
            checker.close()


def _check(
    packages: list[LockedPackage], index: Index, checker: Checker, options_given: bool
) -> LockCheck:
    planned = [
        (package, _candidate(package, file, index, options_given))
        for package in packages
        for file in package.files
    ]
    # A vcs or directory source has no file an attestation could name: judged as what it
    # is (missing; a downgrade where the package is locked with identities), never skipped.
    planned += [(package, _tree(package)) for package in packages if package.tree]
    # Examined on the checker's threads, judged here one at a time, as the policy must be.
    pending = {id(c): checker.submit(c) for _, c in planned if isinstance(c, Candidate)}
    results: list[FileResult] = []
    for package, item in planned:
        result = (
            checker.conclude(item, pending[id(item)].result())
            if isinstance(item, Candidate)
            else item
        )
        if result.status is Status.MISSING and not package.index and not package.tree:
            hint = f"{_NO_INDEX}; or {result.hint}" if result.hint else _NO_INDEX
            result = result._replace(hint=hint)
        results.append(result)
    identities = {}
    for package in packages:
        mine = [r for (owner, _), r in zip(planned, results, strict=True) if owner is package]
        identities[(package.name, package.version)] = checker.policy.lock_identities(
            package.name, mine
        )
    return LockCheck(results, identities)


def _candidate(
    package: LockedPackage, file: LockedFile, index: Index, options_given: bool
) -> Candidate | FileResult:
    """What to check for one locked file, or the refusal when its index cannot be read."""
    listed: list[IndexFile] | None = []
    if package.index:
        listed = index.files(package.name, package.index)
    elif options_given or not _on_pypi(file.url):
        listed = index.files(package.name)
    if listed is None:
        return _unavailable(package, file, package.index or ", ".join(index.index_urls))
    match = _match(file, listed)
    problem = name_problem(file.filename, package.name, package.version)
    if match is not None and match.sha256 and match.sha256 != file.sha256:
        problem = problem or (
            f"the index lists another sha256 at this URL ({match.sha256[:16]}...) than the "
            f"lock ({file.sha256[:16]}...)"
        )
    return Candidate(
        file.filename,
        file.sha256,
        file.url or file.filename,
        package.name,
        package.version,
        advert=match.advert if match is not None else None,
        origin=Origin.LOCAL if file.url.startswith("file:") else Origin.INDEX,
        problem=problem,
    )


def _tree(package: LockedPackage) -> Candidate:
    return Candidate(
        package.tree,
        "",
        "",
        package.name,
        package.version,
        origin=Origin.LOCAL,
        tree=package.tree,
    )


def _match(file: LockedFile, listed: Sequence[IndexFile]) -> IndexFile | None:
    """The index's entry for a locked file: at its URL, else with its sha256."""
    url = file.url.split("#", 1)[0]
    by_url = [f for f in listed if url and f.url == url]
    if by_url:
        return by_url[0]
    by_hash = [f for f in listed if f.sha256 and f.sha256 == file.sha256]
    return by_hash[0] if by_hash else None


_NO_INDEX = (
    "the lock names no index for it: pass its index with --index-url (or the index's "
    "Integrity API with --integrity-api)"
)


def _on_pypi(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in PYPI_FILE_HOSTS


def _unavailable(package: LockedPackage, file: LockedFile, where: str) -> FileResult:
    return FileResult(
        project=package.name,
        version=package.version,
        filename=file.filename,
        sha256=file.sha256,
        status=Status.UNAVAILABLE,
        reason=f"cannot read the index page of {package.name} at {where[:120]}",
        hint="retry, or check the index (or name another with --index-url)",
        blocking=True,
    )


def annotated(text: str, identities: Mapping[tuple[str, str], tuple[Identity, ...]]) -> str:
    """The lock ``text`` with each package's ``attestation-identities`` set to the ones
    given (removed where there are none), and every other byte as it was: the blank lines
    that end a package's table stay after its identities."""
    import tomlkit  # costly to import: only when a lock is written

    doc: Any = tomlkit.parse(text)
    for table in doc.get("packages", []):
        # The version as parse_lock keys it (1.00 is 1.0): a spelling that missed the key
        # would drop identities the check has just verified.
        key = (canonicalize_name(str(table.get("name", ""))), _version(table.get("version")))
        if key not in identities:  # the text is not the one checked: never drop a pin
            raise LockError(f"{key[0]} {key[1]}: not among the packages just checked")
        wanted = identities[key]
        had = table.pop("attestation-identities", None)
        if had:
            _trailing_blank(table)  # the line that separated the package from them
        trailing = _trailing_blank(had[-1] if had else table)
        if wanted:
            entries = tomlkit.aot()
            for identity in sorted(wanted, key=str):
                entry = tomlkit.table()
                entry.update(identity.to_publisher())
                entries.append(entry)
            table["attestation-identities"] = entries
            table = entries[-1]
        table.value.body.extend((None, blank) for blank in trailing)
    return str(tomlkit.dumps(doc))


def _version(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(Version(str(value)))
    except InvalidVersion:
        return str(value)


def _trailing_blank(table: Any) -> list[Any]:
    """Take the blank lines off the end of a tomlkit table (where the text puts them: the
    end of its last sub-table, in pip's style of lock), to put them back after what is
    added to it."""
    from tomlkit.items import AoT, Null, Table, Whitespace

    body = table.value.body
    while body and body[-1][0] is None and isinstance(body[-1][1], Null):
        body.pop()  # what tomlkit leaves of a removed key
    last = body[-1][1] if body else None
    if isinstance(last, Table) and body[-1][0] is not None:
        return _trailing_blank(last)
    if isinstance(last, AoT) and len(last):
        return _trailing_blank(last[-1])
    blank: list[Any] = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace):
        blank.insert(0, body.pop()[1])
    return blank
