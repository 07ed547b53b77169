"""PEP 751 lock files whose packages carry verified ``attestation-identities``.

``pip-attest lock`` resolves with pip (``pip lock`` where pip has it, 25.1 and later;
``pip install --dry-run --report`` before that), with the seam installed so that an sdist
pip must build for its metadata is verified before its build code runs. Then, for every
locked file, it fetches the provenance the index advertised and verifies it against the
sha256 the index gave: nothing is downloaded for that. The policy judges the result with
the identities of the existing lock as the expected set, so a changed publisher or a lost
attestation never slips into a rewritten lock.

``pip-attest install -r pylock.toml`` goes the other way: the lock becomes pinned
requirements with ``--hash`` for every locked file (so pip installs exactly those, on any
pip), and its identities become the expected publishers (``PIP_ATTEST_LOCK``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from pip_attest._errors import Error, UsageError
from pip_attest._identity import Identity, identity_from_publisher
from pip_attest._provenance import PYPI_FILE_HOSTS
from pip_attest._toml import parse_toml, read_toml

LOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
PIP_LOCK_SINCE = (25, 1)


class LockError(UsageError):
    """A lock file that cannot be read or trusted as written."""


class LockedFile(NamedTuple):
    filename: str
    url: str
    sha256: str
    kind: str  # wheel | sdist | archive (PEP 751's direct-URL archive)


class LockedPackage:
    """One package of a lock. Mutable while ``lock`` assembles it; a plain class, as a
    dataclass is built by running generated code (costly on every run that loads it)."""

    __slots__ = ("files", "identities", "index", "marker", "name", "tree", "version")

    def __init__(
        self,
        name: str,
        version: str,
        files: list[LockedFile] | None = None,
        index: str | None = None,
        marker: str | None = None,
        identities: tuple[Identity, ...] = (),
        tree: str = "",  # a vcs or directory source, which no attestation can name
    ) -> None:
        self.name = name
        self.version = version
        self.files: list[LockedFile] = files if files is not None else []
        self.index = index
        self.marker = marker
        self.identities = identities
        self.tree = tree

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LockedPackage) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"LockedPackage({self.name!r}, {self.version!r}, files={self.files!r})"


def is_lock_path(path: str) -> bool:
    return LOCK_NAME.match(Path(path).name) is not None


# -- reading --


def read_lock(path: Path) -> list[LockedPackage]:
    """Parse and validate a pylock.toml. Raises a :class:`UsageError` with one line."""
    return parse_lock(read_toml(path, "lock file"), str(path))


def parse_lock(doc: Mapping[str, Any], where: str) -> list[LockedPackage]:
    """A lock document's packages, validated: by packaging.pylock, then by what pip-attest
    needs to trust a lock written by any tool (plain URLs, sha256 hashes, files on their
    index's host, no package twice, identities with known keys only)."""
    # packaging.pylock is costly to import: only when a lock is read.
    from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError

    try:
        lock = Pylock.from_dict(dict(doc))
    except (PylockValidationError, PylockUnsupportedVersionError) as err:
        reason = " ".join(str(err).split())[:300]
        raise LockError(f"{where}: not a valid PEP 751 lock file ({reason})") from None
    packages: list[LockedPackage] = []
    seen: set[tuple[str, str]] = set()
    for pkg in lock.packages:
        package = _package(pkg, where)
        key = (package.name, package.version)
        if key in seen:
            raise LockError(f"{where}: {package.name} {package.version} is listed twice")
        seen.add(key)
        packages.append(package)
    return packages


def _package(pkg: Any, where: str) -> LockedPackage:
    name = canonicalize_name(pkg.name)
    index = pkg.index
    if index is not None:
        index = _checked(where, name, "index", index, ("http", "https", "file"))
    archives: list[tuple[Any, str]] = [(w, "wheel") for w in pkg.wheels or ()]
    archives += [(pkg.sdist, "sdist")] if pkg.sdist is not None else []
    # A direct-URL archive is a file too: installers take it by its URL and hashes.
    archives += [(pkg.archive, "archive")] if pkg.archive is not None else []
    files = []
    for archive, kind in archives:
        url = _checked(where, name, "url", archive.url or "", _FILE_SCHEMES)
        if index and url and not _same_host(index, url):
            raise LockError(
                f"{where}: {name}: file URL {url[:80]!r} is not on the host of its index "
                f"{index[:80]!r}"
            )
        filename = getattr(archive, "name", None) or _url_name(url)
        if not filename or _UNSAFE.search(filename) or "/" in filename:
            raise LockError(f"{where}: {name}: file name {filename[:80]!r} is not a file name")
        files.append(LockedFile(filename, url, _sha256(where, name, archive.hashes), kind))
    return LockedPackage(
        name=name,
        version=str(pkg.version) if pkg.version is not None else "",
        files=files,
        index=index,
        marker=str(pkg.marker) if pkg.marker is not None else None,
        identities=_identities(where, name, pkg.attestation_identities or ()),
        tree="VCS checkout" if pkg.vcs else "local source tree" if pkg.directory else "",
    )


# The keys a publisher object may have, by kind (PEP 740; PyPI adds "claims").
_PUBLISHER_KEYS = {
    "GitHub": {"kind", "repository", "workflow", "environment", "claims"},
    "GitLab": {"kind", "repository", "workflow_filepath", "environment", "claims"},
    "Google": {"kind", "email", "claims"},
    "CircleCI": {"kind", "project_id", "pipeline_definition_id", "vcs_origin", "vcs_ref", "claims"},
}


def _identities(where: str, name: str, raw: Iterable[Any]) -> tuple[Identity, ...]:
    """A lock's identities, strictly: a key pip-attest does not know (a misspelt
    "environment", say) would make the expectation weaker than its author meant."""
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise LockError(f"{where}: {name}: attestation-identities holds a non-table")
        unknown = sorted(set(item) - _PUBLISHER_KEYS.get(str(item.get("kind")), {"kind"}))
        if unknown:
            raise LockError(
                f"{where}: {name}: attestation-identities: unknown key {unknown[0][:40]!r} "
                f"for kind {str(item.get('kind'))[:40]!r}"
            )
        try:
            out.append(identity_from_publisher(item))
        except ValueError as err:
            raise LockError(f"{where}: {name}: attestation-identities: {err}") from None
    return tuple(out)


def _same_host(index: str, url: str) -> bool:
    """Whether a file URL is on its index's host (PyPI's and TestPyPI's files are on their
    file hosts). A local index (file:) may name files anywhere on the machine."""
    index_parts, url_parts = urlsplit(index), urlsplit(url)
    if index_parts.scheme == "file":
        return url_parts.scheme == "file"
    file_host = (url_parts.hostname or "").lower()
    index_host = (index_parts.hostname or "").lower()
    home = PYPI_FILE_HOSTS.get(file_host)
    return file_host == index_host or (home is not None and urlsplit(home).hostname == index_host)


# What may reach pip from a lock: pip-attest turns locks into requirement lines, so a
# newline (or any whitespace) in a value would add lines, options among them.
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
_FILE_SCHEMES = ("http", "https", "file")


def _checked(path: str, name: str, what: str, value: str, schemes: Sequence[str]) -> str:
    """A URL from a lock, refused unless it is one plain URL of an expected scheme."""
    if not value:
        return value
    if _UNSAFE.search(value):
        raise LockError(
            f"{path}: {name}: {what} {value[:80]!r} holds whitespace or control characters"
        )
    if urlsplit(value).scheme.lower() not in schemes:
        raise LockError(f"{path}: {name}: {what} {value[:80]!r} is not an {'/'.join(schemes)} URL")
    return value


def locked_identities(packages: Iterable[LockedPackage]) -> dict[str, tuple[Identity, ...]]:
    return {p.name: p.identities for p in packages if p.identities}


def _sha256(path: str, name: str, hashes: Mapping[str, str]) -> str:
    digest = hashes.get("sha256", "")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise LockError(f"{path}: {name}: every file needs a sha256 hash")
    # pip and uv take a file when *any* of its hashes matches: a second algorithm would let
    # in other bytes than the verified sha256's.
    other = sorted(set(hashes) - {"sha256"})
    if other:
        raise LockError(
            f"{path}: {name}: hash {other[0][:20]!r} is not sha256: installers accept a file "
            "that matches any of its hashes, and only the sha256 is verified"
        )
    return digest


def _url_name(url: str | None) -> str:
    return unquote(urlsplit(url or "").path.rsplit("/", 1)[-1])


def requirements_for(packages: Sequence[LockedPackage], *, add_index: bool) -> str:
    """The lock as a pip requirements file: each package pinned, with every locked file's
    hash, so that pip (any version) can install only those files."""
    from packaging.markers import InvalidMarker, Marker, default_environment

    env = default_environment()
    lines = []
    indexes = {p.index for p in packages if p.files}
    if add_index and len(indexes) == 1 and None not in indexes:
        lines.append(f"--index-url {next(iter(indexes))}")
    for pkg in packages:
        if pkg.marker:
            try:
                if not Marker(pkg.marker).evaluate(dict(env)):  # type: ignore[arg-type]
                    continue
            except InvalidMarker as err:
                raise LockError(f"{pkg.name}: bad marker: {err}") from None
        files = [f for f in pkg.files if f.kind != "archive"]
        if not files:
            raise LockError(
                f"{pkg.name}: only files with a URL and a sha256 can be installed from a lock"
            )
        hashes = " ".join(f"--hash=sha256:{f.sha256}" for f in files)
        lines.append(f"{pkg.name}=={pkg.version} {hashes}")
    return "\n".join(lines) + "\n"


# -- resolving --


class Resolved(NamedTuple):
    name: str
    version: str
    filename: str
    url: str
    sha256: str


def parse_report(report: Mapping[str, Any]) -> list[Resolved]:
    """``pip install --dry-run --report`` output → one file per package."""
    out = []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        info = item.get("download_info", {})
        url = str(info.get("url", ""))
        if "dir_info" in info:
            continue  # the local project being locked (--extra): not an index file
        archive = info.get("archive_info")
        if not isinstance(archive, dict):
            raise Error(f"{meta.get('name')}: only index or archive files can be locked")
        sha = (archive.get("hashes") or {}).get("sha256") or ""
        if not sha and str(archive.get("hash", "")).startswith("sha256="):
            sha = str(archive["hash"])[7:]
        out.append(
            Resolved(
                canonicalize_name(str(meta.get("name", ""))),
                str(meta.get("version", "")),
                _url_name(url),
                url,
                sha,
            )
        )
    return out


def parse_pip_lock(doc: Mapping[str, Any]) -> list[Resolved]:
    """``pip lock`` output → every file it recorded."""
    out = []
    for pkg in doc.get("packages", []):
        name = canonicalize_name(str(pkg.get("name", "")))
        version = str(pkg.get("version", ""))
        if "directory" in pkg:
            continue  # the local project being locked (--extra): not an index file
        archives = [*pkg.get("wheels", []), *([pkg["sdist"]] if "sdist" in pkg else [])]
        if not archives:
            raise Error(f"{name}: only index or archive files can be locked")
        for archive in archives:
            url = str(archive.get("url", ""))
            sha = str((archive.get("hashes") or {}).get("sha256", ""))
            out.append(Resolved(name, version, archive.get("name") or _url_name(url), url, sha))
    return out


# -- writing --


def render_lock(packages: Sequence[LockedPackage]) -> str:
    """Deterministic PEP 751 text: sorted packages, sorted files, no timestamps. Written
    with tomlkit, which escapes every value as TOML requires."""
    import tomlkit  # costly to import: only a run that writes a lock pays

    doc = tomlkit.document()
    doc["lock-version"] = "1.0"
    doc["created-by"] = "pip-attest"
    tables = tomlkit.aot()
    for pkg in sorted(packages, key=lambda p: p.name):
        table = tomlkit.table()
        table["name"] = pkg.name
        table["version"] = pkg.version
        if pkg.marker:
            table["marker"] = pkg.marker
        if pkg.index:
            table["index"] = pkg.index
        wheels = sorted((f for f in pkg.files if f.kind == "wheel"), key=lambda f: f.filename)
        if wheels:
            array = tomlkit.array()
            array.extend(_file_table(w) for w in wheels)
            table["wheels"] = array.multiline(True)
        sdists = [f for f in pkg.files if f.kind == "sdist"]
        if sdists:
            table["sdist"] = _file_table(sdists[0])
        if pkg.identities:
            identities = tomlkit.aot()
            for identity in sorted(pkg.identities, key=str):
                entry = tomlkit.table()
                entry.update(identity.to_publisher())
                identities.append(entry)
            table["attestation-identities"] = identities
        tables.append(table)
    doc["packages"] = tables
    return tomlkit.dumps(doc)


def _file_table(file: LockedFile) -> Any:
    import tomlkit

    table = tomlkit.inline_table()
    table.update({"name": file.filename, "url": file.url})
    hashes = tomlkit.inline_table()
    hashes["sha256"] = file.sha256
    table["hashes"] = hashes
    return table


def validate_text(text: str) -> None:
    """What we write must read back as a valid lock (packaging.pylock)."""
    from packaging.pylock import Pylock

    Pylock.from_dict(parse_toml(text))


def index_base(page_url: str | None, name: str) -> str | None:
    """``https://host/simple/NAME/`` → ``https://host/simple/``, else None."""
    if not page_url:
        return None
    stripped = page_url.rstrip("/")
    head, _, last = stripped.rpartition("/")
    return f"{head}/" if canonicalize_name(unquote(last)) == name else None
