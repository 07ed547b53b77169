"""What pip means by a requirement it is about to use, read off pip's own objects.

Everything here reads ``InstallRequirement`` and ``Link`` attributes that have not changed
from pip 23.3 to 26.3; the one that did (``DirectUrl.info``, ``.archive_info`` since 26.1) is
read both ways. A requirement is described by value (:class:`Seen`): the project pip
installs it as, the link pip took it from and the file pip reads, so that per-file state
never depends on which ``InstallRequirement`` object pip happens to hand over (pip copies
them, for extras among others).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from pip_attest._names import name_problem, parse_version, read_for, version_after


class CacheSource(NamedTuple):
    """The file a wheel from pip's wheel cache was built from, as the cache entry records it
    (``origin.json``: a claim) and as the index lists it (when pip still has that link)."""

    url: str
    filename: str
    sha256: str
    index_sha256: str


class Seen(NamedTuple):
    """A requirement pip is preparing, by value.

    ``project`` is pip's canonical name ("" when pip cannot name it before building it);
    ``version`` the one pip reads from the file's name for that project ("" for a source
    tree or an unnamed requirement). ``problem`` says why the file cannot be the project's
    (its name names another one, say). ``path`` is where pip reads the bytes (None before
    the download); for a source tree, its directory.
    """

    project: str
    version: str
    url: str
    filename: str
    path: str | None
    tree: str
    problem: str
    index_sha256: str
    source: CacheSource | None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.project, self.url, self.path)


def describe(req: Any, *, legacy_wheels: bool) -> Seen:
    """Describe ``req``. Raises on a requirement shape this pip-attest does not know, which
    the caller turns into a refusal."""
    link = req.link
    project = str(canonicalize_name(req.name)) if getattr(req, "name", None) else ""
    url = str(link.url_without_fragment)
    filename = str(link.filename)
    index_sha256 = _sha256_of(link)
    tree = _tree(req, link)
    if tree:
        path = str(link.file_path) if link.scheme == "file" else None
        return Seen(project, "", url, filename, path, tree, "", "", None)
    local = getattr(req, "local_file_path", None)
    path = os.path.normpath(str(local)) if local else None
    source = _cache_source(req, link)
    version, problem = "", ""
    if project and source is not None:
        version, problem = _read_cached(filename, project, source, legacy_wheels)
    elif project:
        version, problem = _read_link(link, filename, project, legacy_wheels)
    return Seen(project, version, url, filename, path, "", problem, index_sha256, source)


def _read_link(link: Any, filename: str, project: str, legacy_wheels: bool) -> tuple[str, str]:
    """(version, problem) of a file as pip reads its link: an sdist's ``#egg=`` fragment,
    when it has one, names the version pip takes (LinkEvaluator.evaluate_link), and the
    file's own name must then say the same."""
    egg = getattr(link, "egg_fragment", None)
    if egg and not filename.endswith(".whl"):
        version = parse_version(version_after(str(egg), project))
        if version is None:
            return "", f"the link's #egg={str(egg)[:80]!r} does not name a version of {project}"
        problem = name_problem(filename, project, str(version), legacy_wheels=legacy_wheels)
        return str(version), problem
    found, problem = read_for(filename, project, legacy_wheels=legacy_wheels)
    return found or "", problem


def file_key(req: Any) -> tuple[str, str, str | None]:
    """The key :func:`describe` gives ``req`` (no name reading, no cache lookups)."""
    link = req.link
    project = str(canonicalize_name(req.name)) if getattr(req, "name", None) else ""
    if _tree(req, link):
        path = str(link.file_path) if link.scheme == "file" else None
    else:
        local = getattr(req, "local_file_path", None)
        path = os.path.normpath(str(local)) if local else None
    return (project, str(link.url_without_fragment), path)


def installs_file(req: Any) -> bool:
    """Whether pip will install something for ``req`` from a link (not an installed
    distribution it keeps)."""
    return getattr(req, "link", None) is not None and not getattr(req, "satisfied_by", None)


def _tree(req: Any, link: Any) -> str:
    if getattr(req, "editable", False):
        return "editable install"
    if link.is_vcs:
        return "VCS checkout"
    if link.scheme == "file" and link.is_existing_dir():
        return "local source tree"
    return ""


def _sha256_of(link: Any) -> str:
    if getattr(link, "hash_name", None) == "sha256" and link.hash:
        return str(link.hash).lower()
    return ""


def _cache_source(req: Any, link: Any) -> CacheSource | None:
    """For a wheel pip took from its wheel cache: the source it says it was built from.

    pip replaces the requirement's link by the cached wheel's and keeps the source's URL
    and sha256 in ``download_info`` (the cache entry's ``origin.json``). A plain local
    wheel's ``download_info`` names the wheel itself.
    """
    info = getattr(req, "download_info", None)
    if not (link.is_wheel and link.scheme == "file") or info is None:
        return None
    url = str(getattr(info, "url", "") or "").split("#", 1)[0]
    if not url or url == link.url_without_fragment:
        return None
    filename = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    index_link = getattr(req, "cached_wheel_source_link", None)
    index_sha256 = _sha256_of(index_link) if index_link is not None else ""
    return CacheSource(url, filename, archive_sha256(info) or "", index_sha256)


def _read_cached(
    wheel: str, project: str, source: CacheSource, legacy_wheels: bool
) -> tuple[str, str]:
    """(version, problem) of a cached wheel: its source's name must name the project (that
    is the file whose provenance counts), and the wheel's name the same project and version;
    the source's sha256 must be the index's, when pip still has the index's link."""
    version, problem = read_for(source.filename, project, legacy_wheels=legacy_wheels)
    if problem or version is None:
        return "", f"pip's cached wheel {wheel!r} names a source that is not {project}'s: {problem}"
    problem = name_problem(wheel, project, version, legacy_wheels=legacy_wheels)
    if problem:
        return version, f"pip's cached wheel is not the one its source builds: {problem}"
    if not source.sha256:
        return version, f"pip's cached wheel {wheel!r} records no sha256 of its source"
    if source.index_sha256 and source.sha256.lower() != source.index_sha256:
        return version, (
            f"pip's cached wheel {wheel!r} records another source file than the index lists "
            f"(sha256 {source.sha256[:16]}..., the index has {source.index_sha256[:16]}...)"
        )
    return version, ""


def archive_sha256(download_info: Any) -> str | None:
    """The sha256 in a ``DirectUrl``'s archive info (``.info`` became ``.archive_info`` in
    pip 26.1)."""
    info = getattr(download_info, "archive_info", None)
    if info is None:
        info = getattr(download_info, "info", None)
    hashes = getattr(info, "hashes", None) or {}
    value = hashes.get("sha256")
    return str(value).lower() if value else None
