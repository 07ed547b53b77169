"""What the audit tests install and break: wheels with scripts and entry points, and
installed distributions with hostile metadata.

:func:`make_app_wheel` writes a deterministic wheel with everything an installer treats
specially: a package with two modules, a ``console_scripts`` entry point (the installer
writes a launcher), a ``.data/scripts`` file starting with ``#!python`` (the installer
rewrites that line) and a ``.data/data`` file (installed under the prefix).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

_DATE_TIME = (2020, 1, 1, 0, 0, 0)


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}\n"


def write_wheel(dest: Path, filename: str, files: dict[str, bytes]) -> Path:
    """A wheel holding ``files`` (``RECORD`` is added, last)."""
    info = next(n.split("/")[0] for n in files if n.split("/")[0].endswith(".dist-info"))
    record_name = f"{info}/RECORD"
    record = "".join(_record_line(n, d) for n, d in sorted(files.items()))
    body = dict(files)
    body[record_name] = (record + f"{record_name},,\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    with zipfile.ZipFile(path, "w") as zf:
        for arcname in [*sorted(files), record_name]:
            entry = zipfile.ZipInfo(arcname, _DATE_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, body[arcname])
    return path


def make_app_wheel(
    dest: Path, name: str, version: str, *, cli_source: str | None = None, requires: str = ""
) -> Path:
    """``NAME-VERSION-py3-none-any.whl`` with a package, a console script, a ``#!python``
    script and a data file."""
    dist = canonicalize_name(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    data = f"{dist}-{version}.data"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires:
        metadata += f"Requires-Dist: {requires}\n"
    files = {
        f"{dist}/__init__.py": f'"""{name}."""\n\n__version__ = "{version}"\n'.encode(),
        f"{dist}/cli.py": (
            cli_source or f"def main():\n    print('{name} {version}')\n    return 0\n"
        ).encode(),
        f"{data}/scripts/{dist}-tool": f"#!python\nprint('{name} tool')\n".encode(),
        f"{data}/data/share/{dist}/notes.txt": f"{name} notes\n".encode(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: pip-attest-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[console_scripts]\n{dist}-cli = {dist}.cli:main\n".encode(),
    }
    return write_wheel(dest, f"{dist}-{version}-py3-none-any.whl", files)


def fake_dist(
    site: Path,
    name: str,
    version: str,
    *,
    files: dict[str, bytes] | None = None,
    metadata: bytes | None = None,
    wheel: bytes | None = None,
    record: bytes | None = None,
) -> Path:
    """An installed distribution written by hand (as an installer would, unless told
    otherwise): its files, and a ``.dist-info`` whose RECORD lists them."""
    dist = canonicalize_name(name).replace("-", "_")
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    files = files if files is not None else {f"{dist}.py": b"x = 1\n"}
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    own = {
        "METADATA": metadata
        or f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        "WHEEL": wheel or b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "INSTALLER": b"pip\n",
    }
    for rel, data in own.items():
        (info / rel).write_bytes(data)
    if record is None:
        rows = [_record_line(rel, data) for rel, data in files.items()]
        rows += [_record_line(f"{info.name}/{rel}", data) for rel, data in own.items()]
        record = ("".join(rows) + f"{info.name}/RECORD,,\n").encode()
    (info / "RECORD").write_bytes(record)
    return info
