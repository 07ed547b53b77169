"""Tiny, valid distributions made on the fly: wheels, sdists and dependency graphs.

Everything here is deterministic (fixed timestamps, sorted entries), so the same call
gives the same bytes and the same sha256, and tests can compare digests across runs.

The sdists carry their own PEP 517 backend (``backend-path``, stdlib only), so pip can
build them with no network and nothing from the index except what the test puts in
``build-system.requires``. That backend and :func:`make_wheel` share one wheel writer,
so a built sdist gives the same wheel, byte for byte, as ``make_wheel``.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import types
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = ["make_graph", "make_sdist", "make_wheel", "named"]

# The module name a built sdist imports its backend as (see ``build-backend`` below).
_BACKEND_MODULE = "pip_attest_test_backend"

# The in-tree backend. It runs in pip's build subprocess, in whatever Python the target
# venv has, so it uses the stdlib only and no syntax newer than 3.8.
_BACKEND_SOURCE = '''\
"""PEP 517 backend inside this sdist (backend-path), stdlib only: builds need no network.

If _backend/marker exists, every hook appends its own name, one line, to the absolute
path written in it, so a test can tell whether any build code ran.
"""
import base64
import email.parser
import hashlib
import os
import re
import tarfile
import zipfile

# A fixed timestamp makes the wheel reproducible, byte for byte.
_DATE_TIME = (2020, 1, 1, 0, 0, 0)
_WHEEL = (
    "Wheel-Version: 1.0\\n"
    "Generator: pip-attest-tests\\n"
    "Root-Is-Purelib: true\\n"
    "Tag: py3-none-any\\n"
)


def dist_name(name):
    # The wheel spec's escaping: normalise (PEP 503), then "-" becomes "_".
    return re.sub(r"[-_.]+", "_", name).lower()


def _tree():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _log(hook):
    marker = os.path.join(_tree(), "_backend", "marker")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            target = f.read()
        with open(target, "a", encoding="utf-8") as f:
            f.write(hook + "\\n")


def _name_version(metadata):
    headers = email.parser.Parser().parsestr(metadata, headersonly=True)
    return dist_name(headers["Name"]), headers["Version"]


def _dist_info(metadata):
    dist, version = _name_version(metadata)
    info = "%s-%s.dist-info" % (dist, version)
    return info, {info + "/METADATA": metadata.encode(), info + "/WHEEL": _WHEEL.encode()}


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d\\n" % (arcname, digest.decode(), len(data))


def write_wheel(wheel_directory, metadata, module_source):
    """Write the wheel for `metadata` (core metadata text); return its file name."""
    dist, version = _name_version(metadata)
    info, files = _dist_info(metadata)
    files = dict(files)
    files[dist + ".py"] = module_source.encode()
    record_name = info + "/RECORD"
    record = "".join(_record_line(n, d) for n, d in sorted(files.items()))
    files[record_name] = (record + record_name + ",,\\n").encode()
    filename = "%s-%s-py3-none-any.whl" % (dist, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        # Module first, RECORD last: the usual layout, and what installers expect.
        order = [dist + ".py"] + sorted(n for n in files if n.startswith(info))
        order.remove(record_name)
        for arcname in order + [record_name]:
            entry = zipfile.ZipInfo(arcname, _DATE_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, files[arcname])
    return filename


def _read(relative):
    with open(os.path.join(_tree(), relative), encoding="utf-8") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    _log("get_requires_for_build_wheel")
    return []


def get_requires_for_build_sdist(config_settings=None):
    _log("get_requires_for_build_sdist")
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _log("prepare_metadata_for_build_wheel")
    info, files = _dist_info(_read("PKG-INFO"))
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    for arcname, data in files.items():
        with open(os.path.join(metadata_directory, arcname), "wb") as f:
            f.write(data)
    return info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _log("build_wheel")
    metadata = _read("PKG-INFO")
    dist, _ = _name_version(metadata)
    return write_wheel(wheel_directory, metadata, _read(dist + ".py"))


def build_sdist(sdist_directory, config_settings=None):
    _log("build_sdist")
    dist, version = _name_version(_read("PKG-INFO"))
    stem = "%s-%s" % (dist, version)
    with tarfile.open(os.path.join(sdist_directory, stem + ".tar.gz"), "w:gz") as tf:
        tf.add(_tree(), arcname=stem)
    return stem + ".tar.gz"
'''

# The same backend, loaded here so that make_wheel and the sdist build share one writer.
_backend = types.ModuleType(_BACKEND_MODULE)
exec(compile(_BACKEND_SOURCE, f"<{_BACKEND_MODULE}>", "exec"), _backend.__dict__)  # noqa: S102

# Fixed tar and gzip timestamps (2020-01-01) keep sdists reproducible.
_SDIST_MTIME = 1577836800


def _normalised(name: str, version: str) -> tuple[str, str]:
    """The wheel/sdist file-name forms of a name and version (the spec's escaping)."""
    dist = canonicalize_name(name).replace("-", "_")
    if not dist.isidentifier():
        raise ValueError(f"{name!r} does not give an importable module name")
    return dist, str(Version(version))


def _metadata(name: str, version: str, requires: Sequence[str]) -> str:
    for requirement in requires:
        Requirement(requirement)  # fail here, not later inside pip
    lines = ["Metadata-Version: 2.2", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    return "\n".join(lines) + "\n"


def _default_module(dist: str, version: str) -> str:
    return f'"""Test package {dist}."""\n\n__version__ = "{version}"\n'


def make_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    module_source: str | None = None,
) -> Path:
    """Write a py3-none-any wheel with one top-level module named after the project.

    The module (``import <normalised_name>``) holds ``module_source``, or by default a
    docstring and ``__version__``.
    """
    dist, norm_version = _normalised(name, version)
    source = _default_module(dist, norm_version) if module_source is None else module_source
    dest.mkdir(parents=True, exist_ok=True)
    filename = str(_backend.write_wheel(str(dest), _metadata(name, norm_version, requires), source))
    return dest / filename


def _tar_member(tf: tarfile.TarFile, arcname: str, data: bytes) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mtime = _SDIST_MTIME
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def make_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    build_requires: Sequence[str] = (),
    marker: Path | None = None,
) -> Path:
    """Write ``<name>-<version>.tar.gz`` that builds, offline, into ``make_wheel``'s wheel.

    ``build_requires`` becomes ``build-system.requires``, so pip installs those into its
    isolated build environment first. If ``marker`` (an absolute path) is given, every
    backend hook appends its name to it: an empty or absent marker proves no build code
    from this sdist ran.
    """
    if marker is not None and not marker.is_absolute():
        raise ValueError(f"marker must be an absolute path, got {marker}")
    for requirement in build_requires:
        Requirement(requirement)
    dist, norm_version = _normalised(name, version)
    stem = f"{dist}-{norm_version}"
    pyproject = (
        "[build-system]\n"
        f"requires = {json.dumps(list(build_requires))}\n"
        f'build-backend = "{_BACKEND_MODULE}"\n'
        'backend-path = ["_backend"]\n'
    )
    members = {
        "PKG-INFO": _metadata(name, norm_version, requires),
        "pyproject.toml": pyproject,
        f"{dist}.py": _default_module(dist, norm_version),
        f"_backend/{_BACKEND_MODULE}.py": _BACKEND_SOURCE,
    }
    if marker is not None:
        members["_backend/marker"] = str(marker)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for arcname, text in sorted(members.items()):
            _tar_member(tf, f"{stem}/{arcname}", text.encode())
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{stem}.tar.gz"
    with path.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=_SDIST_MTIME) as gz:
        gz.write(raw.getvalue())
    return path


def _graph_edges(n: int, fanout: int) -> list[list[int]]:
    """Each node's dependencies: a ``fanout``-ary tree, plus one shared edge per node.

    Node ``i``'s children are ``fanout*i + 1 … fanout*i + fanout``; it also depends on
    its right sibling's first child, so some nodes have two parents (diamonds) and the
    resolver sees a DAG, not just a tree. Every edge goes from a lower to a higher
    index, so there are no cycles, and the tree makes every node reachable from node 0.
    """
    edges: list[list[int]] = []
    for i in range(n):
        children = range(fanout * i + 1, fanout * i + fanout + 1)
        shared = fanout * i + fanout + 1
        edges.append([c for c in [*children, shared] if c < n])
    return edges


def make_graph(
    dest: Path, n: int, *, prefix: str = "pkg", fanout: int = 3
) -> tuple[str, list[Path]]:
    """Write ``n`` wheels, ``<prefix>-0`` … ``<prefix>-<n-1>``, forming a connected DAG.

    Returns the root's project name and the wheel paths (root first). Installing the
    root installs all ``n``.
    """
    if n < 1 or fanout < 1:
        raise ValueError(f"need n >= 1 and fanout >= 1, got n={n}, fanout={fanout}")
    names = [f"{prefix}-{i}" for i in range(n)]
    paths = [
        make_wheel(dest, names[i], "1.0", requires=[f"{names[d]}>=1.0" for d in deps])
        for i, deps in enumerate(_graph_edges(n, fanout))
    ]
    return names[0], paths


def named(filename: str) -> tuple[str, str]:
    """The (canonical project, version) a well-formed distribution filename names."""
    from pip_attest._names import parse_any

    parsed = parse_any(filename)
    assert parsed is not None, filename
    return parsed
