"""What is installed: the ``*.dist-info`` (and legacy ``*.egg-info``) folders of an
environment's directories, read as hostile input.

Everything here is read with :func:`~pip_attest._fileio.read_regular_file`: bounded, regular
files only, never following a symbolic link out of a folder we did not expect, so a FIFO
named ``RECORD`` cannot hang the audit, a 10 GB ``RECORD`` cannot exhaust memory, and a
symbolic-link loop is one line. Whatever cannot be read, or reads as something no installer
writes (a ``METADATA`` that names another project than its folder, a ``WHEEL`` file with tags
that are not tags, non-UTF-8 text, a ``RECORD`` row with a path that escapes the
environment), is kept as the distribution's ``problem``: one line, shown as is.
"""

from __future__ import annotations

import base64
import binascii
import csv
import errno
import json
import os
import re
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, NamedTuple

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pip_attest._fileio import read_regular_file
from pip_attest._names import version_after
from pip_attest._text import plain, shown

# Bounds for each file of an installed distribution. Real ones are far smaller: the largest
# RECORD in a big scientific stack is a few megabytes (tens of thousands of files).
MAX_METADATA_BYTES = 16 * 1024 * 1024
MAX_WHEEL_BYTES = 64 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_RECORD_ROWS = 500_000
MAX_DIRECT_URL_BYTES = 1024 * 1024
MAX_INSTALLER_BYTES = 1024
MAX_TAGS = 4096
# RECORD's hash algorithms: the wheel spec asks for sha256 or better, from hashlib's
# guaranteed set.
RECORD_ALGORITHMS = ("sha256", "sha384", "sha512")
# Installers that write a RECORD for every file (a distribution they installed without one
# was changed after install); anything else (a system package manager) may legitimately
# keep none.
WHEEL_INSTALLERS = frozenset({"pip", "uv", "poetry", "pdm", "hatch", "installer", "pipenv"})

_TAG = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+$")
_VERSIONED_LIB = re.compile(r"^(python|pypy)\d+(\.\d+)?t?$", re.IGNORECASE)


class Site(NamedTuple):
    """A directory whose distributions are audited.

    ``root`` is how far the paths in its RECORDs may reach: the environment's prefix for a
    ``<prefix>/lib/pythonX.Y/site-packages`` (scripts go to ``<prefix>/bin``), else the
    directory itself (a ``pip install --target`` folder). ``target`` says the latter: pip
    writes a target folder's RECORD from a temporary ``lib/python`` inside it, so its
    scripts are listed as ``../../bin/NAME`` and live in ``<target>/bin/NAME``.
    """

    path: Path
    root: Path
    target: bool


def site_for(path: Path) -> Site:
    parts = [p.lower() for p in path.parts]
    if len(parts) >= 3 and parts[-1] in ("site-packages", "dist-packages"):
        if _VERSIONED_LIB.match(parts[-2]) and len(parts) >= 4 and parts[-3] in ("lib", "lib64"):
            return Site(path, path.parents[2], target=False)
        if parts[-2] == "lib":  # Windows: <prefix>/Lib/site-packages
            return Site(path, path.parents[1], target=False)
    return Site(path, path, target=True)


class RecordEntry(NamedTuple):
    path: str  # as RECORD writes it, with "/" separators
    algorithm: str  # "" when the row has no hash (RECORD itself, pip's .pyc files)
    digest: str  # hex
    size: int | None


class DirectUrl(NamedTuple):
    """PEP 610's ``direct_url.json``: where a distribution installed from a URL came from."""

    kind: str  # editable | directory | vcs | archive
    url: str
    sha256: str = ""  # an archive's, when given


class InstalledDist(NamedTuple):
    """One installed distribution, as its metadata folder describes it."""

    site: Site
    info_dir: Path
    name: str  # canonical; from METADATA, else from the folder's name
    version: str
    tags: frozenset[Tag] = frozenset()
    build: str = ""
    record: tuple[RecordEntry, ...] | None = None  # None: no RECORD
    direct_url: DirectUrl | None = None
    installer: str = ""
    egg_info: bool = False
    problem: str = ""  # why what is installed cannot be what an installer wrote

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip()


class ScanProblem(NamedTuple):
    """A directory of the environment that could not be listed."""

    path: Path
    reason: str


def scan(sites: list[Site]) -> tuple[list[InstalledDist], list[ScanProblem]]:
    """Every distribution installed in ``sites`` (in sys.path order), read."""
    found: list[InstalledDist] = []
    problems: list[ScanProblem] = []
    for site in sites:
        try:
            entries = sorted(os.scandir(site.path), key=lambda e: e.name)
        except OSError as err:
            problems.append(ScanProblem(site.path, err.strerror or str(err)))
            continue
        for entry in entries:
            name = entry.name
            if name.endswith(".dist-info"):
                found.append(read_dist_info(site, Path(entry.path)))
            elif name.endswith(".egg-info"):
                found.append(read_egg_info(site, Path(entry.path)))
    return found, problems


def _folder_name(info_dir: Path) -> tuple[str, str]:
    """(name, version) as a metadata folder's name spells them, best effort."""
    stem = info_dir.name.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return str(canonicalize_name(name)) or "?", version.partition("-")[0]


def _problem(site: Site, info_dir: Path, reason: str, **known: Any) -> InstalledDist:
    name, version = _folder_name(info_dir)
    fields: dict[str, Any] = {"name": name, "version": version}
    fields.update(known)
    return InstalledDist(site, info_dir, problem=reason, **fields)


def _read_text(path: Path, limit: int, what: str) -> str | None:
    """The UTF-8 text of ``path``, None when it does not exist. Raises ``_Bad`` otherwise."""
    if path.is_symlink():  # no installer makes one: never read through it
        try:
            path.stat()
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise _Bad(f"{what} is a symbolic link loop") from None
        raise _Bad(f"{what} is a symbolic link")
    try:
        data = read_regular_file(path, limit)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _Bad(f"{what} is a symbolic link loop") from None
        if err.errno == errno.EINVAL:
            raise _Bad(f"{what} is not a regular file") from None
        if err.errno == errno.EFBIG:
            raise _Bad(f"{what} is larger than {limit} bytes") from None
        raise _Bad(f"{what} cannot be read: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Bad(f"{what} is not UTF-8 (byte {err.start})") from None


class _Bad(Exception):
    """A metadata file no installer writes: the message says why, in one line."""


def read_dist_info(site: Site, info_dir: Path) -> InstalledDist:
    try:
        return _read_dist_info(site, info_dir)
    except _Bad as err:
        return _problem(site, info_dir, str(err))
    except RecursionError:
        return _problem(site, info_dir, "metadata nested too deeply")


def _read_dist_info(site: Site, info_dir: Path) -> InstalledDist:
    folder = info_dir.name
    if info_dir.is_symlink():
        raise _Bad(f"{shown(folder)} is a symbolic link, not the folder an installer makes")
    if not info_dir.is_dir():
        raise _Bad(f"{shown(folder)} is not a folder")
    metadata = _read_text(info_dir / "METADATA", MAX_METADATA_BYTES, "METADATA")
    if metadata is None:
        raise _Bad("METADATA is missing")
    name, display, version = _name_version(metadata)
    stem = folder[: -len(".dist-info")]
    found = version_after(stem, name)
    if found is None or not same_version(found, version):
        raise _Bad(
            f"METADATA names {shown(display)} {shown(version)}, but its folder is {shown(folder)}"
        )
    known = {"name": name, "version": version}
    try:
        tags, build = _wheel_tags(_read_text(info_dir / "WHEEL", MAX_WHEEL_BYTES, "WHEEL"))
        installer = _installer(info_dir)
        direct = _direct_url(
            _read_text(info_dir / "direct_url.json", MAX_DIRECT_URL_BYTES, "direct_url.json")
        )
        record_text = _read_text(info_dir / "RECORD", MAX_RECORD_BYTES, "RECORD")
        record = None if record_text is None else _parse_record(record_text)
    except _Bad as err:
        return _problem(site, info_dir, str(err), **known)
    if record is None and (installer in WHEEL_INSTALLERS or not installer):
        return _problem(site, info_dir, "RECORD is missing", **known)
    return InstalledDist(
        site,
        info_dir,
        name,
        version,
        tags=tags,
        build=build,
        record=record,
        direct_url=direct,
        installer=installer,
    )


def _name_version(metadata: str) -> tuple[str, str, str]:
    """(canonical name, name as written, version) from core metadata's headers."""
    headers = HeaderParser().parsestr(metadata)
    name, version = headers.get("Name"), headers.get("Version")
    if not isinstance(name, str) or not name.strip():
        raise _Bad("METADATA has no Name")
    if not isinstance(version, str) or not version.strip():
        raise _Bad("METADATA has no Version")
    name, version = name.strip(), version.strip()
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
        raise _Bad(f"METADATA's Name {shown(name)} is not a project name")
    try:
        version = str(Version(version))
    except InvalidVersion:
        raise _Bad(f"METADATA's Version {shown(version)} is not a version") from None
    return str(canonicalize_name(name)), name, version


def same_version(a: str, b: str) -> bool:
    """Whether two version strings name one version (compared as text when either
    does not parse)."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _wheel_tags(text: str | None) -> tuple[frozenset[Tag], str]:
    """The tags a ``WHEEL`` file lists, and its build number (``""`` for none)."""
    if text is None:
        raise _Bad("WHEEL is missing")
    tags: set[Tag] = set()
    build = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "tag":
            if not _TAG.match(value):
                raise _Bad(f"WHEEL lists {shown(value, 80)}, which is not a wheel tag")
            tags.update(parse_tag(value))
            if len(tags) > MAX_TAGS:
                raise _Bad(f"WHEEL lists more than {MAX_TAGS} tags")
        elif key == "build":
            if not re.fullmatch(r"\d[A-Za-z0-9_.]*", value):
                raise _Bad(f"WHEEL's Build {shown(value, 80)} is not a build number")
            build = value
    if not tags:
        raise _Bad("WHEEL lists no tags")
    return frozenset(tags), build


def _installer(info_dir: Path) -> str:
    try:
        text = _read_text(info_dir / "INSTALLER", MAX_INSTALLER_BYTES, "INSTALLER")
    except _Bad:
        return "?"  # shown only; never decides anything
    return plain((text or "").strip(), 40)


def _direct_url(text: str | None) -> DirectUrl | None:
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        raise _Bad("direct_url.json is not JSON") from None
    url = doc.get("url") if isinstance(doc, dict) else None
    if not isinstance(url, str) or not url:
        raise _Bad("direct_url.json has no url")
    if isinstance(doc.get("vcs_info"), dict):
        return DirectUrl("vcs", url)
    dir_info = doc.get("dir_info")
    if isinstance(dir_info, dict):
        return DirectUrl("editable" if dir_info.get("editable") is True else "directory", url)
    archive = doc.get("archive_info")
    if isinstance(archive, dict):
        sha256 = ""
        hashes = archive.get("hashes")
        if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
            sha256 = hashes["sha256"]
        elif isinstance(archive.get("hash"), str) and archive["hash"].startswith("sha256="):
            sha256 = archive["hash"][len("sha256=") :]
        if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise _Bad("direct_url.json's archive hash is not a sha256")
        return DirectUrl("archive", url, sha256)
    raise _Bad("direct_url.json names no vcs_info, dir_info or archive_info")


def _parse_record(text: str) -> tuple[RecordEntry, ...]:
    entries: list[RecordEntry] = []
    seen: set[str] = set()
    rows = csv.reader(text.splitlines())
    try:
        for number, row in enumerate(rows, 1):
            if not row:
                continue
            if number > MAX_RECORD_ROWS:
                raise _Bad(f"RECORD has more than {MAX_RECORD_ROWS} rows")
            entry = _record_row(number, row)
            if entry.path in seen:
                raise _Bad(f"RECORD lists {shown(entry.path)} twice")
            seen.add(entry.path)
            entries.append(entry)
    except csv.Error as err:
        raise _Bad(f"RECORD is not CSV: {err}") from None
    return tuple(entries)


def _record_row(number: int, row: list[str]) -> RecordEntry:
    if len(row) > 3:
        raise _Bad(f"RECORD row {number} has {len(row)} fields, not 3")
    path, hashed, size = (*row, "", "")[:3]
    problem = path_problem(path)
    if problem:
        raise _Bad(f"RECORD row {number}: {problem}")
    algorithm = digest = ""
    if hashed:
        algorithm, _, encoded = hashed.partition("=")
        if algorithm not in RECORD_ALGORITHMS:
            raise _Bad(f"RECORD row {number}: hash {shown(hashed, 40)} is not sha256 or better")
        try:
            digest = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
        except (binascii.Error, ValueError):
            raise _Bad(f"RECORD row {number}: hash {shown(hashed, 40)} is not base64") from None
    length: int | None = None
    if size:
        if not size.isdigit() or len(size) > 15:
            raise _Bad(f"RECORD row {number}: size {shown(size, 20)} is not a number")
        length = int(size)
    return RecordEntry(path.replace("\\", "/"), algorithm, digest, length)


def path_problem(path: str) -> str:
    """Why a RECORD path is not one an installer writes (``""`` when it is)."""
    if not path:
        return "an empty path"
    if "\x00" in path or not path.isprintable():
        return f"the path {shown(path, 80)} holds control characters"
    posix = path.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return f"the path {shown(path, 80)} is absolute"
    if len(posix) > 4096:
        return f"a path of {len(posix)} characters"
    return ""


def read_egg_info(site: Site, info: Path) -> InstalledDist:
    """A legacy ``.egg-info`` (``setup.py install``/``develop``, or a system package
    manager): its name and version only; there is no RECORD to bind."""
    pkg_info = info / "PKG-INFO" if info.is_dir() else info
    try:
        text = _read_text(pkg_info, MAX_METADATA_BYTES, "PKG-INFO")
        if text is None:
            raise _Bad("PKG-INFO is missing")
        name, _, version = _name_version(text)
    except _Bad:
        name, version = _folder_name(info)
    return InstalledDist(site, info, name, version, egg_info=True)
