"""Which environment is audited, and the directories its distributions live in.

- By default, the interpreter pip-attest runs in; ``--python PYTHON``, another one. Either
  is asked once, in a subprocess run with ``-I`` (no ``PYTHON*`` variables, no user site,
  no current directory on its path, as ``pip --python`` does), for its ``sys.path``: its
  site-packages and whatever its ``.pth`` files add, in the order imports search them.
  That runs the interpreter, and so its ``.pth`` files, as any use of it does; to audit
  an environment without running anything from it, name its directory with ``--path``.
- ``--path DIR`` names a site-packages (or ``pip install --target``) directory directly:
  an image's file system, say. Nothing in it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from pip_attest._audit._installed import Site, site_for
from pip_attest._errors import UsageError
from pip_attest._text import one_line, shown

_QUERY = r"""
import importlib.util, json, sys, sysconfig
paths = sysconfig.get_paths()
print(json.dumps({
    "path": list(sys.path),
    "stdlib": [paths.get("stdlib"), paths.get("platstdlib")],
    "executable": sys.executable,
    "cache_tag": sys.implementation.cache_tag,
    "magic": importlib.util.MAGIC_NUMBER.hex(),
    "version": "%d.%d.%d" % sys.version_info[:3],
}))
"""
MAX_ANSWER_BYTES = 1024 * 1024
QUERY_TIMEOUT = 60.0


class Environment(NamedTuple):
    sites: list[Site]
    source: str  # interpreter | python | path
    python: str  # the interpreter asked ("" for --path)
    python_version: str
    cache_tag: str  # "" when unknown (--path)
    magic: str  # hex; "" when unknown

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "python": self.python or None,
            "python_version": self.python_version or None,
            "paths": [str(s.path) for s in self.sites],
        }


def interpreter(python: str | None) -> Environment:
    """The environment of ``python`` (None: the one pip-attest runs in)."""
    exe = python or sys.executable
    if python is not None:
        found = Path(python).expanduser()
        if not found.exists():
            raise UsageError(f"--python {shown(python)}: no such interpreter")
        exe = str(found)
    try:
        proc = subprocess.run(  # noqa: S603 - the interpreter the user named
            [exe, "-I", "-c", _QUERY],
            capture_output=True,
            timeout=QUERY_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"cannot run {shown(exe)}: {one_line(err)}") from None
    if proc.returncode != 0 or len(proc.stdout) > MAX_ANSWER_BYTES:
        last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"{shown(exe)} is not a Python that pip-attest can ask: {shown(last[0])}")
    try:
        answer = json.loads(proc.stdout)
        entries = [str(p) for p in answer["path"]]
        stdlib = {os.path.normpath(str(p)) for p in answer["stdlib"] if p}
        tag, magic = str(answer["cache_tag"] or ""), str(answer["magic"])
        version, executable = str(answer["version"]), str(answer["executable"])
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{shown(exe)} gave an answer pip-attest cannot read") from None
    sites = _sites(entries, stdlib)
    source = "python" if python is not None else "interpreter"
    return Environment(sites, source, executable or exe, version, tag, magic)


def _sites(entries: list[str], stdlib: set[str]) -> list[Site]:
    """The directories on ``sys.path`` that may hold distributions, each once."""
    sites: list[Site] = []
    seen: set[str] = set()
    for entry in entries:
        if not entry:
            continue
        path = os.path.normpath(entry)
        if path in stdlib or not os.path.isdir(path):
            continue  # the standard library, zip files, folders that do not exist
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        sites.append(site_for(Path(path)))
    return sites


def at_path(path: str) -> Environment:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UsageError(f"--path {shown(path)}: not a directory")
    return Environment([site_for(folder.absolute())], "path", "", "", "", "")
