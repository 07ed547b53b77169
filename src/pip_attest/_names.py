"""Distribution file names, read the way pip reads them.

A verdict is about the project and version pip installs, never about what some parser makes
of a file's name. pip reads a name *for* a project it already knows: it takes the archive
extension off (``pip._internal.utils.misc.splitext``: ``.tar`` counts as part of it), then
looks for the first ``-`` before which the name canonicalises to that project
(``pip._internal.index.package_finder._extract_version_from_fragment``), and the rest is the
version. So ``NAME-2024.10.9-1.tar.gz`` is NAME ``2024.10.9.post1`` to pip, and
``NAME-1.0.tgz`` is an sdist like any other, where ``packaging.utils.parse_sdist_filename``
reads the first as project ``name-2024-10-9`` and refuses the second. Wheels are read with
``packaging.utils.parse_wheel_filename``, and before pip 25.3 also with pip's older, looser
pattern (``NAME-1.0_1-py3-none-any.whl`` is NAME ``1.0.post1`` there).

:func:`name_problem` says whether a file's name is one pip would accept for a given project
and version; the seam, ``lock`` and the attestation subject check all ask it.
"""

from __future__ import annotations

import posixpath
import re

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

# pip/_internal/utils/filetypes.py: every archive pip unpacks or installs (with bz2 and lzma
# available, as in every CPython build pip-attest supports). Compared case-sensitively, as
# pip's index reader does.
WHEEL_EXTENSION = ".whl"
ARCHIVE_EXTENSIONS = (
    *(".zip", WHEEL_EXTENSION),
    *(".tar.bz2", ".tbz"),
    *(".tar.gz", ".tgz", ".tar"),
    *(".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma"),
)
# The wheel-name pattern of pip before 25.3 (pip/_internal/models/wheel.py), which accepted
# names packaging refuses.
_LEGACY_WHEEL = re.compile(
    r"""^(?P<namever>(?P<name>[^\s-]+?)-(?P<ver>[^\s-]*?))
    ((-(?P<build>\d[^-]*?))?-(?P<pyver>[^\s-]+?)-(?P<abi>[^\s-]+?)-(?P<plat>[^\s-]+?)
    \.whl|\.dist-info)$""",
    re.VERBOSE,
)


def split_extension(filename: str) -> tuple[str, str]:
    """pip's ``splitext``: ``("NAME-1.0", ".tar.gz")``; the extension may be empty."""
    base, ext = posixpath.splitext(filename)
    if base.lower().endswith(".tar"):
        ext = base[-4:] + ext
        base = base[:-4]
    return base, ext


def is_archive(filename: str) -> bool:
    """A file pip would take as a distribution: a wheel or an archive it can unpack."""
    return split_extension(filename)[1] in ARCHIVE_EXTENSIONS


def version_after(stem: str, project: str) -> str | None:
    """What follows ``project``'s name in ``stem`` (``"foo__bar-1.0"`` → ``"1.0"`` for
    ``foo-bar``), found as pip finds it; None when ``stem`` does not start with it."""
    name = canonicalize_name(project)
    for i, char in enumerate(stem):
        if char == "-" and canonicalize_name(stem[:i]) == name:
            return stem[i + 1 :] or None
    return None


def wheel_name(filename: str, *, legacy: bool = False) -> tuple[str, str] | None:
    """A wheel's (canonical project, version), or None when pip would refuse the name.
    ``legacy``: also accept what pip before 25.3 did."""
    try:
        name, version, _, _ = parse_wheel_filename(filename)
        return str(name), str(version)
    except (InvalidWheelFilename, InvalidVersion):
        if not legacy:
            return None
    match = _LEGACY_WHEEL.match(filename)
    if match is None:
        return None
    try:
        version = Version(match.group("ver").replace("_", "-"))
    except InvalidVersion:
        return None
    return str(canonicalize_name(match.group("name").replace("_", "-"))), str(version)


def parse_version(text: str | None) -> Version | None:
    try:
        return None if text is None else Version(text)
    except InvalidVersion:
        return None


def read_for(filename: str, project: str, *, legacy_wheels: bool = False) -> tuple[str | None, str]:
    """``filename`` read as a file of ``project``, the way pip reads it: ``(version, "")``,
    or ``(None, why it is not one)``. ``legacy_wheels``: pip before 25.3."""
    stem, ext = split_extension(filename)
    name = canonicalize_name(project)
    if ext not in ARCHIVE_EXTENSIONS:
        return None, f"the file name {filename!r} is not that of a distribution of {name}"
    if ext == WHEEL_EXTENSION:
        parsed = wheel_name(filename, legacy=legacy_wheels)
        if parsed is None:
            return None, f"the file name {filename!r} is not a valid wheel name"
        if parsed[0] != name:
            return None, f"the file name {filename!r} names project {parsed[0]}, not {name}"
        return parsed[1], ""
    found = version_after(stem, name)
    if found is None:
        return None, f"the file name {filename!r} does not name project {name}"
    version = parse_version(found)
    if version is None:
        return None, f"the file name {filename!r} has no valid version after {name}"
    return str(version), ""


def name_problem(
    filename: str, project: str, version: str | None = None, *, legacy_wheels: bool = False
) -> str:
    """Why ``filename`` is not a file of ``project`` (at ``version``, when given) as pip reads
    names; ``""`` when it is."""
    found, problem = read_for(filename, project, legacy_wheels=legacy_wheels)
    if problem or found is None:
        return problem
    if version is not None and parse_version(found) != parse_version(version):
        return (
            f"the file name {filename!r} names version {found}, not {version} "
            f"of {canonicalize_name(project)}"
        )
    return ""


def parse_any(filename: str) -> tuple[str, str] | None:
    """(canonical project, version) of a name that parses on its own, with no project
    known beforehand (``pip-attest verify``, attestation subjects): packaging's strict
    reading of wheels and of ``.tar.gz`` and ``.zip`` sdists, the only names PyPI takes."""
    try:
        if filename.endswith(WHEEL_EXTENSION):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return str(name), str(version)


def same_file(a: str, b: str) -> bool:
    """Whether two names are spellings of one distribution file (compared parsed, not as
    strings: PEP 740, pypi/warehouse#18128). Names packaging refuses match nothing."""
    try:
        if a.endswith(WHEEL_EXTENSION) and b.endswith(WHEEL_EXTENSION):
            return parse_wheel_filename(a) == parse_wheel_filename(b)
        if not (a.endswith(WHEEL_EXTENSION) or b.endswith(WHEEL_EXTENSION)):
            return parse_sdist_filename(a) == parse_sdist_filename(b)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return False
    return False
