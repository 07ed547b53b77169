"""Comparing what pip-attest installs with what plain pip installs (tests/test_differential_e2e.py).

A distribution is what an installer leaves behind: a ``*.dist-info`` directory whose
``METADATA`` names it. Names are canonicalized (PEP 503) and versions normalized (PEP 440),
so ``PyYAML-6.0.4`` and ``pyyaml-6.0.4`` are one distribution, as they are to pip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import TypeVar

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.support.registry import registry_env
from tests.support.venvs import Result, Venv

TIMEOUT = 900  # one install of the big tree, from a cold cache, on a slow runner
ENFORCE = {"PIP_ATTEST_ENFORCE": "1"}

T = TypeVar("T")
U = TypeVar("U")

# pip-attest's end-of-run summary on stderr: a header, then one line per checked file:
#   pip-attest: checked 7 files: 6 missing, 1 invalid; nothing was installed
#     missing  pysocks 1.7.1   PySocks-1.7.1-py3-none-any.whl   the Integrity API has no ...
#     missing  setuptools 84.2.1  setuptools-84.2.1-py3-none-any.whl [build-dependency]  ...
#     missing  docopt 0.6.2  docopt-0.6.2.tar.gz [wheel-cache]  the Integrity API has no ...
#     missing  file:///tmp/p  file:///tmp/p   local source tree: not a distribution file, ...
SUMMARY_HEADER = re.compile(r"^pip-attest: checked (?P<count>\d+) files?: (?P<counts>.*)$", re.M)
SUMMARY_LINE = re.compile(
    r"^  (?P<status>[a-z][a-z-]*)\s+(?P<name>\S+) (?P<version>\S+)\s+(?P<file>\S+)"
    r"(?P<tags>(?: \[[a-z-]+\])*)(?:\s|$)"
)


def normalize_version(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:  # a legacy version: compare it as written
        return version


def installed(where: Path) -> dict[str, str]:
    """``{canonical name: version}`` of every distribution installed directly in ``where``
    (a ``--target`` directory or a site-packages). Two versions of one name (which no
    installer should leave) are both kept, joined by ``" + "``, so that they show."""
    found: dict[str, list[str]] = {}
    for metadata in sorted(where.glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"))
        name, version = headers.get("Name"), headers.get("Version")
        if not name or not version:
            raise AssertionError(f"{metadata}: no Name or Version header")
        found.setdefault(canonicalize_name(name), []).append(normalize_version(version))
    return {name: " + ".join(sorted(versions)) for name, versions in found.items()}


def difference(plain: Mapping[str, str], attest: Mapping[str, str]) -> str:
    """What one side installed and the other did not, or installed at another version."""
    lines = []
    for name in sorted(set(plain) | set(attest)):
        left, right = plain.get(name), attest.get(name)
        if left != right:
            lines.append(f"  {name}: pip {left or '-'}, pip-attest {right or '-'}")
    return "\n".join(lines) if lines else "  (none)"


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


@dataclass(frozen=True)
class Checked:
    status: str
    name: str
    version: str
    filename: str
    build_dependency: bool


@dataclass(frozen=True)
class Summary:
    header: str
    files: tuple[Checked, ...]
    other_lines: tuple[str, ...]  # summary lines with no name and version (local trees)

    def statuses(self) -> set[str]:
        found = {f.status for f in self.files}
        found.update(line.split()[0] for line in self.other_lines)
        return found

    def listed(self, status: str) -> set[tuple[str, str]]:
        """``(canonical name, version)`` of the installed-side files with ``status``."""
        return {
            (canonicalize_name(f.name), normalize_version(f.version))
            for f in self.files
            if f.status == status and not f.build_dependency
        }


def summary(stderr: str) -> Summary | None:
    """pip-attest's last summary in ``stderr`` (``None`` when there is none)."""
    headers = list(SUMMARY_HEADER.finditer(stderr))
    if not headers:
        return None
    files: list[Checked] = []
    others: list[str] = []
    for line in stderr[headers[-1].end() :].splitlines()[1:]:
        if not line.startswith("  ") or line.startswith("   "):
            break
        match = SUMMARY_LINE.match(line)
        if match is None:
            others.append(line.strip())
            continue
        files.append(
            Checked(
                match["status"],
                match["name"],
                match["version"],
                match["file"],
                "[build-dependency]" in match["tags"],
            )
        )
    return Summary(headers[-1].group(0), tuple(files), tuple(others))


def both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """Run two installs at once (two threads, each waiting on its own pip process):
    the pair takes as long as the slower one. An exception in either is raised here."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        return a.result(), b.result()


def names(dists: Iterable[str]) -> str:
    return ", ".join(sorted(dists)) or "(none)"


def install_pair(
    venv: Venv,
    cache: Path,
    tmp_path: Path,
    args: Sequence[str],
    cwd: Path,
    *,
    enforce: bool = False,
    attest_env: Mapping[str, str] | None = None,
) -> tuple[Result, Result, Path, Path]:
    """Plain pip and pip-attest (or enforced plain pip) install ``args``, at once, each into
    its own ``--target``. ``attest_env``: more variables for the guarded side only."""
    plain_dir, attest_dir = tmp_path / "by-pip", tmp_path / "by-pip-attest"

    def install(
        run: Callable[..., Result], target: Path, extra: Mapping[str, str] | None = None
    ) -> Callable[[], Result]:
        command = ("install", "--no-compile", "--target", str(target), *args)
        return lambda: run(*command, env=registry_env(cache, extra), cwd=cwd, timeout=TIMEOUT)

    plain = install(venv.pip, plain_dir)
    guarded = {**(ENFORCE if enforce else {}), **(attest_env or {})}
    attest = install(venv.pip if enforce else venv.pip_attest, attest_dir, guarded)
    plain_result, attest_result = both(plain, attest)
    return plain_result, attest_result, plain_dir, attest_dir


def assert_same(
    plain: Result,
    attest: Result,
    plain_site: Path,
    attest_site: Path,
    *,
    before: Mapping[str, str] | None = None,
    local: Sequence[str] = (),
    who: str = "pip-attest",
) -> dict[str, str]:
    """Both exit 0, install the same distributions at the same versions, and pip-attest's
    summary lists each distribution it installed as missing, none as invalid. ``before``:
    what the site held before (not checked again); ``local``: projects from local source
    trees (nothing to attest). Returns what plain pip installed."""
    by_pip = installed(plain_site)
    by_attest = installed(attest_site) if attest_site.exists() else {}
    assert plain.returncode == 0, f"plain pip failed ({plain.returncode}):\n{tail(plain.output)}"
    assert attest.returncode == 0 and by_pip == by_attest, (
        f"{who} exited {attest.returncode}; what pip and it installed differs:\n"
        f"{difference(by_pip, by_attest)}\n"
        f"{who}'s stderr (tail):\n{tail(attest.stderr)}"
    )
    report = summary(attest.stderr)
    assert report is not None, f"no pip-attest summary on stderr:\n{tail(attest.stderr)}"
    statuses = report.statuses()
    assert "invalid" not in report.header and statuses <= {"missing"}, (
        f"the registry serves no provenance, so every file is 'missing'; got {statuses}:\n"
        f"{tail(attest.stderr)}"
    )
    new = {
        (name, version)
        for name, version in by_attest.items()
        if (before or {}).get(name) != version and name not in local
    }
    unlisted = new - report.listed("missing")
    assert not unlisted, (
        f"installed but not in pip-attest's summary: {sorted(unlisted)}\n{tail(attest.stderr)}"
    )
    return by_pip
