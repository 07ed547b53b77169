"""Importable files that no RECORD lists.

A file added next to installed code, without touching any installed file, can still run:
``pkg/mod.cpython-311-x86_64-linux-gnu.so`` is imported instead of ``pkg/mod.py``
(extension modules come first), ``pkg/mod/__init__.py`` instead of ``pkg/mod.py``
(packages come before modules), ``pkg/_speedups.py`` by a ``try: import`` that found
nothing before, and a ``.pth`` file in site-packages runs at every start of Python. No
RECORD check sees such a file, since no RECORD lists it.

So every folder that holds a distribution's installed files is listed, and an importable
file or package folder there that no distribution's RECORD lists is a finding for that
distribution (a folder several distributions share, a namespace package, reports it for
the environment). The site-packages folder itself is reported for the environment only,
and as a warning: tools that make environments put files there that no RECORD lists
(``_virtualenv.pth``, say), so it says what is there, to read. The exception is a file or
package named as a distribution's own top-level module (``six/__init__.py`` next to
``six.py``): Python imports it instead, so it is that distribution's finding.
"""

from __future__ import annotations

import importlib.machinery
import os
from collections.abc import Iterable
from typing import NamedTuple

from pip_attest._audit._installed import InstalledDist
from pip_attest._audit._model import DistResult, more_of, with_modified
from pip_attest._text import plain

_SUFFIXES = tuple({".py", ".pyc", ".pyw", ".so", ".pyd", *importlib.machinery.EXTENSION_SUFFIXES})
_TOP_SUFFIXES = (*_SUFFIXES, ".pth")
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)
# The order in which Python's path finder tries a module's files (and a package's
# __init__): extension modules, then source, then bytecode.
_LOADER_SUFFIXES = (*_EXTENSIONS, ".py", ".pyc")
MAX_LISTED = 200


class Unowned(NamedTuple):
    by_dist: dict[str, list[str]]  # .dist-info path -> importable files no RECORD lists
    environment: list[str]  # the same, in shared folders and at the top of site-packages
    # .dist-info path -> (a file its RECORD does not list, the RECORD path of the module
    # of that distribution which Python would import it instead of)
    shadows: dict[str, list[tuple[str, str]]]


def _importable(folder: str, name: str, top: bool) -> bool:
    full = os.path.join(folder, name)
    if name == "__pycache__" or name.endswith((".dist-info", ".egg-info", ".data")):
        return False
    try:
        is_dir = os.path.isdir(full)  # a link to a folder imports like one
    except OSError:
        return False
    if is_dir:
        return any(os.path.exists(os.path.join(full, f"__init__{s}")) for s in _SUFFIXES)
    return name.endswith(_TOP_SUFFIXES if top else _SUFFIXES)


def find_unowned(dists: Iterable[tuple[InstalledDist, Iterable[str]]]) -> Unowned:
    """``dists``: each distribution with the absolute paths its RECORD lists."""
    dists = [(dist, list(paths)) for dist, paths in dists]
    listings: dict[str, set[str]] = {}
    shadows: dict[str, list[tuple[str, str]]] = {}
    shadowing: set[str] = set()  # reported as shadows, so not again below
    for dist, paths in dists:
        found = _shadows(dist, set(paths), listings)
        if found:
            shadows[str(dist.info_dir)] = found
            for shadow, _ in found:
                shadowing.add(shadow)
                if os.path.basename(shadow).startswith("__init__."):
                    shadowing.add(os.path.dirname(shadow))
    owners: dict[str, set[str]] = {}  # folder -> .dist-info paths that own files in it
    modules: dict[str, set[str]] = {}  # site/top-level module -> the .dist-info paths
    owned: set[str] = set()
    sites: set[str] = set()
    for dist, paths in dists:
        base = os.path.normpath(os.fspath(dist.site.path))
        sites.add(base)
        for full in paths:
            owned.add(full)
            if full.startswith(base + os.sep):
                top = os.path.join(base, _module(full[len(base) + 1 :].split(os.sep, 1)[0]))
                modules.setdefault(top, set()).add(str(dist.info_dir))
            folder = os.path.dirname(full)
            # Every folder from the file up to site-packages: a package's subfolders, and
            # the folders that hold them, are where a planted package would go.
            while folder.startswith(base + os.sep):
                owned.add(folder)
                if os.path.basename(folder) != "__pycache__":
                    owners.setdefault(folder, set()).add(str(dist.info_dir))
                folder = os.path.dirname(folder)
    by_dist: dict[str, list[str]] = {}
    environment: list[str] = []
    for folder, dist_paths in sorted(owners.items()):
        if folder.endswith((".dist-info", ".egg-info")):
            continue
        for name in _listing(folder):
            full = os.path.join(folder, name)
            if full in owned or full in shadowing or not _importable(folder, name, top=False):
                continue
            if len(dist_paths) == 1:
                by_dist.setdefault(next(iter(dist_paths)), []).append(full)
            else:
                environment.append(full)
    for site in sorted(sites):
        for name in _listing(site):
            full = os.path.join(site, name)
            if full not in owned and full not in shadowing and _importable(site, name, top=True):
                # Named as one distribution's top-level module or package, it is imported
                # in its place (a package before a module, an extension before source):
                # that distribution's finding, as in its own folders.
                shadowed = modules.get(os.path.join(site, _module(name)), set())
                if len(shadowed) == 1 and not name.endswith(".pth"):
                    by_dist.setdefault(next(iter(shadowed)), []).append(full)
                else:
                    environment.append(full)
    return Unowned(by_dist, environment[:MAX_LISTED], shadows)


def _shadows(
    dist: InstalledDist, mine: set[str], listings: dict[str, set[str]]
) -> list[tuple[str, str]]:
    """Files that ``dist``'s RECORD does not list (no RECORD, or another distribution's)
    and that Python imports instead of one of its modules: a package folder of the same
    name (found before any module), an extension module (before source), source (before
    sourceless bytecode). Its own files are untouched, and yet its code is not what runs."""
    base = os.path.normpath(os.fspath(dist.site.path))
    found: list[tuple[str, str]] = []
    for full in sorted(mine):
        folder, name = os.path.split(full)
        module, dot, rest = name.partition(".")
        suffix = dot + rest
        if not dot or module == "__init__" or os.path.basename(folder) == "__pycache__":
            continue
        if suffix not in _LOADER_SUFFIXES:
            continue
        names = listings.get(folder)
        if names is None:
            names = listings[folder] = set(_listing(folder))
        before = _LOADER_SUFFIXES[: _LOADER_SUFFIXES.index(suffix)]
        candidates = [os.path.join(folder, module + s) for s in before if module + s in names]
        if module in names:
            package = os.path.join(folder, module)
            candidates[:0] = [
                init
                for init in (os.path.join(package, f"__init__{s}") for s in _LOADER_SUFFIXES)
                if os.path.isfile(init)
            ][:1]
        for shadow in candidates:
            if shadow not in mine:
                found.append((shadow, os.path.relpath(full, base).replace(os.sep, "/")))
                break
    return found


def _module(name: str) -> str:
    """The module a top-level file or folder of site-packages is imported as."""
    return name.split(".", 1)[0]


def _listing(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def with_unowned(results: list[DistResult], unowned: Unowned) -> list[DistResult]:
    """The results, each with a ``modified`` finding for the files found beside it that
    its RECORD does not list (added after install, or shadowing one of its modules)."""
    final = []
    for result in results:
        extra = unowned.by_dist.get(result.path)
        if extra:
            result = with_modified(
                result,
                f"{plain(extra[0], 160)} is importable but in no RECORD: a file added after "
                f"install{more_of(extra)}",
            )
        shadows = unowned.shadows.get(result.path)
        if shadows:
            shadow, module = shadows[0]
            result = with_modified(
                result,
                f"{plain(shadow, 160)} is imported instead of {plain(module, 120)}, and "
                f"{result.project}'s RECORD does not list it{more_of(shadows)}",
            )
        final.append(result)
    return final
