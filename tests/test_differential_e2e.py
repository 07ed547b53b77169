"""pip-attest installs exactly what plain pip installs: real requirement sets from the registry.

Each set is installed twice from the package registry, by plain pip and by
``pip-attest install`` (or by plain pip under ``PIP_ATTEST_ENFORCE=1``), with the same pip,
each into its own ``--target`` directory (or its own venv where a target cannot show the
case: ``--upgrade`` over an install, ``-e``). Both must exit 0 and leave the same
distributions at the same versions. The registry serves no provenance, so pip-attest must
list every file it let through as ``missing`` (a warning) and none as ``invalid``.

Each set also checks that it tests what it says (the extra's dependencies are there, the
marker's are not, the constraint held): two installers that both ignore an extra would
otherwise agree.

Cost: the two installs of a set run at once, every pip shares the run's one registry cache
(``registry_cache``), and nothing is byte-compiled (``--no-compile``). The cache saves
downloads only where the registry sends caching headers (pypi.org does; a proxy may strip
them, and then every install downloads its files again); the wheels pip builds from sdists
are cached either way.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.differential import (
    TIMEOUT,
    assert_same,
    both,
    difference,
    install_pair,
    installed,
    names,
    summary,
    tail,
)
from tests.support.registry import download, registry_env
from tests.support.venvs import PIP_VERSIONS, Result, Venv

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

pytestmark = [pytest.mark.e2e, pytest.mark.network]

MakeVenv = Callable[..., Venv]
# `pip lock` exists from pip 25.1.
PIP_LOCK_VERSIONS = tuple(v for v in PIP_VERSIONS if Version(v) >= Version("25.1"))


@dataclass(frozen=True)
class Case:
    """One requirement set: ``pip install`` arguments, and the files they name (written to
    the directory both installs run in)."""

    id: str
    args: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()
    # What makes the set mean something, checked on plain pip's result:
    expect: tuple[str, ...] = ()  # installed
    absent: tuple[str, ...] = ()  # not installed (markers, --no-deps)
    satisfies: tuple[tuple[str, str], ...] = ()  # (name, specifier) the installed version meets
    at_least: int = 1  # distributions
    sdists: tuple[str, ...] = ()  # pip-attest checked these projects' sdists (they were built)

    def write_files(self, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        for name, text in self.files:
            (where / name).write_text(text, encoding="utf-8")
        return where


# --- Requirement sets --------------------------------------------------------------------

EXTRAS = [
    Case("requests[socks]", ("requests[socks]",), expect=("requests", "pysocks")),
    Case("httpx[http2,brotli]", ("httpx[http2,brotli]",), expect=("httpx", "h2", "brotli")),
    # jsonschema's format-nongpl pulls its validators, some with extras of their own.
    Case(
        "jsonschema[format-nongpl]",
        ("jsonschema[format-nongpl]",),
        expect=("jsonschema", "rfc3339-validator", "webcolors", "uri-template"),
    ),
    Case(
        "uvicorn[standard]",
        ("uvicorn[standard]",),
        expect=("uvicorn", "uvloop", "httptools", "watchfiles", "websockets"),
    ),
    # An extra whose dependency is itself an extra: celery[redis] -> kombu[redis] -> redis.
    Case("celery[redis]", ("celery[redis]",), expect=("celery", "kombu", "redis")),
    Case("pydantic[email]", ("pydantic[email]",), expect=("pydantic", "email-validator")),
    Case("sqlalchemy[asyncio]", ("sqlalchemy[asyncio]",), expect=("sqlalchemy", "greenlet")),
    # The extra's only dependency (tomli) has a marker false on Python >= 3.11.
    Case("coverage[toml]", ("coverage[toml]",), expect=("coverage",)),
    Case("psycopg[binary]", ("psycopg[binary]",), expect=("psycopg", "psycopg-binary")),
    # Extras of extras: fastapi[standard] -> fastapi-cli[standard], uvicorn[standard].
    Case(
        "fastapi[standard]",
        ("fastapi[standard]",),
        expect=("fastapi", "fastapi-cli", "uvicorn", "uvloop", "email-validator"),
        at_least=30,
    ),
    # One extra asked for twice in one tree (by the user and by a dependency), and one
    # project asked for with two different sets of extras.
    Case(
        "same-extra-twice",
        (
            "requests[socks]",
            "requests[socks,use-chardet-on-py3]",
            "jupyter-events",
            "jsonschema[format-nongpl]",
        ),
        expect=("pysocks", "chardet", "jupyter-events", "rfc3339-validator"),
    ),
    # Extras under markers, one true and one false; aiohttp[speedups] is platform wheels.
    Case(
        "extras-with-markers",
        (
            "requests[socks]; python_version >= '3.8'",
            "httpx[http2]; sys_platform == 'win32'",
            "aiohttp[speedups]",
        ),
        expect=("requests", "pysocks", "aiohttp", "aiodns", "brotli"),
        absent=("httpx", "h2"),
    ),
]

MARKERS = """\
tomli>=1.1; python_version < "3.11"
exceptiongroup; python_version < "3.11"
colorama; sys_platform == "win32"
pywin32; platform_system == "Windows"
typing-extensions; python_version >= "3.8"
uvloop; sys_platform != "win32" and implementation_name == "cpython"
pytest
black
"""

PLAIN = [
    Case("requests", ("requests",), expect=("requests", "urllib3"), absent=("pysocks",)),
    # Markers on the user's lines and on the dependencies' (pytest's and black's tomli,
    # exceptiongroup and colorama are for older Pythons or Windows).
    Case(
        "environment-markers",
        ("-r", "requirements.txt"),
        files=(("requirements.txt", MARKERS),),
        expect=("pytest", "black", "typing-extensions", "uvloop"),
        absent=("tomli", "exceptiongroup", "colorama", "pywin32"),
    ),
    Case(
        "constraints",
        ("-c", "constraints.txt", "requests", "jinja2"),
        files=(
            (
                "constraints.txt",
                # numpy is in neither tree: a constraint alone installs nothing.
                "urllib3<2\nidna==3.7\ncharset-normalizer<3.4\nmarkupsafe<3\nnumpy<2\n",
            ),
        ),
        expect=("requests", "jinja2"),
        absent=("numpy",),
        satisfies=(("urllib3", "<2"), ("idna", "==3.7"), ("markupsafe", "<3")),
    ),
    # A requirements file that includes another and a constraints file; the constraint
    # makes pip backtrack from the newest flask.
    Case(
        "nested-requirement-files",
        ("-r", "requirements.txt"),
        files=(
            ("requirements.txt", "-r base.txt\n-c constraints.txt\nflask\n"),
            ("base.txt", "requests\n"),
            ("constraints.txt", "werkzeug<3.1\nurllib3<2.3\n"),
        ),
        expect=("flask", "werkzeug", "requests"),
        satisfies=(("werkzeug", "<3.1"), ("urllib3", "<2.3")),
    ),
    # Platform wheels only, and dotted names (zope.interface, ruamel.yaml, backports.zstd).
    Case(
        "only-binary",
        ("-r", "requirements.txt"),
        files=(
            (
                "requirements.txt",
                "--only-binary :all:\nnumpy\npyyaml\nmarkupsafe\nmsgpack\n"
                "zope.interface\nruamel.yaml\nbackports.zstd\n",
            ),
        ),
        expect=("numpy", "pyyaml", "zope-interface", "ruamel-yaml", "backports-zstd"),
    ),
    # six is built from its sdist (setuptools, fetched as a build dependency).
    Case(
        "no-binary",
        ("-r", "requirements.txt"),
        files=(("requirements.txt", "--no-binary six\nsix\npython-dateutil\n"),),
        expect=("six", "python-dateutil"),
        sdists=("six",),
    ),
    # wget ships only an sdist: --prefer-binary still falls back to it.
    Case(
        "prefer-binary",
        ("-r", "requirements.txt"),
        files=(("requirements.txt", "--prefer-binary\nwget\npyyaml\nhttpx\n"),),
        expect=("wget", "pyyaml", "httpx"),
        sdists=("wget",),
    ),
    # Projects that ship only an sdist and build with setuptools: one asked for (wget),
    # one a dependency (num2words -> docopt).
    Case(
        "sdist-only",
        ("wget", "num2words"),
        expect=("wget", "num2words", "docopt"),
        sdists=("wget", "docopt"),
    ),
    Case("platform-wheels", ("pandas",), expect=("pandas", "numpy", "python-dateutil")),
    Case("big-tree", ("jupyterlab",), expect=("jupyterlab", "notebook-shim"), at_least=80),
    Case(
        "no-deps",
        ("--no-deps", "flask", "jinja2", "requests"),
        expect=("flask", "jinja2", "requests"),
        absent=("werkzeug", "markupsafe", "urllib3"),
    ),
    Case(
        "pre",
        ("--pre", "django<=5.0rc1", "httpx<=1.0.dev3"),
        satisfies=(("django", "==5.0rc1"), ("httpx", "==1.0.dev3")),
    ),
    Case("sphinx", ("sphinx",), expect=("sphinx", "docutils"), at_least=15),
    Case("dev-tools", ("black", "pytest", "ruff"), expect=("black", "pytest", "ruff")),
]

CASES = EXTRAS + PLAIN
# A few sets again, guarded through the .pth hook instead of the pip-attest command.
ENFORCED = [c for c in CASES if c.id in ("requests[socks]", "uvicorn[standard]", "sdist-only")]


# --- Helpers -----------------------------------------------------------------------------


def assert_meaning(case: Case, dists: Mapping[str, str], attest_stderr: str) -> None:
    """The set tests what it says it tests (checked on plain pip's result)."""
    assert len(dists) >= case.at_least, f"{len(dists)} distributions: {names(dists)}"
    missing = [n for n in case.expect if n not in dists]
    assert not missing, f"expected {missing} among {names(dists)}"
    extra = [n for n in case.absent if n in dists]
    assert not extra, f"did not expect {extra} among {names(dists)}"
    for name, spec in case.satisfies:
        assert name in dists, f"{name} not installed: {names(dists)}"
        assert SpecifierSet(spec).contains(dists[name], prereleases=True), (
            f"{name} {dists[name]} does not satisfy {spec}"
        )
    report = summary(attest_stderr)
    assert report is not None
    for name in case.sdists:
        checked = [f.filename for f in report.files if canonicalize_name(f.name) == name]
        assert any(f.endswith((".tar.gz", ".zip")) for f in checked), (
            f"pip-attest checked no sdist of {name}: {checked}"
        )


# --- Tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_installs_what_pip_installs(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str, case: Case
) -> None:
    venv = make_venv(pip_version)
    work = case.write_files(tmp_path / "work")

    plain, attest, plain_dir, attest_dir = install_pair(
        venv, registry_cache, tmp_path, case.args, work
    )

    dists = assert_same(plain, attest, plain_dir, attest_dir)
    assert_meaning(case, dists, attest.stderr)


@pytest.mark.parametrize("case", ENFORCED, ids=lambda c: c.id)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_enforced_pip_installs_what_pip_installs(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str, case: Case
) -> None:
    venv = make_venv(pip_version)
    work = case.write_files(tmp_path / "work")

    plain, enforced, plain_dir, enforced_dir = install_pair(
        venv, registry_cache, tmp_path, case.args, work, enforce=True
    )

    who = "PIP_ATTEST_ENFORCE=1 pip"
    dists = assert_same(plain, enforced, plain_dir, enforced_dir, who=who)
    assert_meaning(case, dists, enforced.stderr)


OLD_FLASK = (
    "flask==2.2.5",
    "werkzeug==2.2.3",
    "jinja2==3.0.3",
    "click==8.0.4",
    "itsdangerous==2.0.1",
    "markupsafe==2.1.3",
)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_upgrade_over_an_existing_install(
    make_venv: MakeVenv, registry_cache: Path, pip_version: str
) -> None:
    """``--upgrade flask`` over an old flask: pip's only-if-needed strategy upgrades the
    dependencies the new flask needs and leaves the others (markupsafe) alone."""
    by_pip, by_attest = make_venv(pip_version), make_venv(pip_version)
    env = registry_env(registry_cache)
    setup = both(
        lambda: by_pip.pip("install", "--no-compile", *OLD_FLASK, env=env, timeout=TIMEOUT),
        lambda: by_attest.pip("install", "--no-compile", *OLD_FLASK, env=env, timeout=TIMEOUT),
    )
    for result in setup:
        assert result.returncode == 0, tail(result.output)
    before = installed(by_pip.site)
    assert before == installed(by_attest.site)

    upgrade = ("install", "--no-compile", "--upgrade", "flask")
    plain, attest = both(
        lambda: by_pip.pip(*upgrade, env=env, timeout=TIMEOUT),
        lambda: by_attest.pip_attest(*upgrade, env=env, timeout=TIMEOUT),
    )

    after = assert_same(plain, attest, by_pip.site, by_attest.site, before=before)
    assert Version(after["flask"]) > Version("2.2.5")
    assert after["markupsafe"] == "2.1.3"  # still enough for the new werkzeug: not upgraded
    assert after["werkzeug"] != before["werkzeug"]


def write_project(where: Path) -> Path:
    """A local project (built with flit_core from the registry) declaring an extra ``dev``.
    Its dependencies are none of pip-attest's, which the venvs' template already holds."""
    (where / "myproj").mkdir(parents=True)
    (where / "myproj" / "__init__.py").write_text('"""A local project."""\n__version__ = "0.1"\n')
    (where / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core>=3.4,<4"]\nbuild-backend = "flit_core.buildapi"\n'
        '[project]\nname = "myproj"\nversion = "0.1"\ndescription = "A local project"\n'
        'dependencies = ["click", "six"]\n'
        '[project.optional-dependencies]\ndev = ["pytest", "coverage[toml]", "httpx[http2]"]\n'
    )
    return where


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_local_project(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str
) -> None:
    """``pip-attest install .`` in a project's folder."""
    venv = make_venv(pip_version)
    project = write_project(tmp_path / "project")

    plain, attest, plain_dir, attest_dir = install_pair(
        venv, registry_cache, tmp_path, (".",), project
    )

    dists = assert_same(plain, attest, plain_dir, attest_dir, local=("myproj",))
    assert {"myproj", "click", "six"} <= set(dists)
    assert "pytest" not in dists  # the extra was not asked for


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_editable_local_project_with_extra(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str
) -> None:
    """``pip-attest install -e .[dev]``: editable (PEP 660), with the project's extra."""
    by_pip, by_attest = make_venv(pip_version), make_venv(pip_version)
    env = registry_env(registry_cache)
    # One copy each: nothing either build writes can reach the other.
    mine, theirs = write_project(tmp_path / "p1"), write_project(tmp_path / "p2")
    args = ("install", "--no-compile", "-e", ".[dev]")

    plain, attest = both(
        lambda: by_pip.pip(*args, env=env, cwd=mine, timeout=TIMEOUT),
        lambda: by_attest.pip_attest(*args, env=env, cwd=theirs, timeout=TIMEOUT),
    )

    dists = assert_same(plain, attest, by_pip.site, by_attest.site, local=("myproj",))
    assert {"myproj", "click", "six", "pytest", "coverage", "httpx", "h2"} <= set(dists)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_direct_wheel_urls(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str
) -> None:
    """A ``file://`` URL to a real wheel (its dependencies from the registry), and a
    ``name @ https://`` URL to a wheel on the registry."""
    venv = make_venv(pip_version)
    wheels = download(
        ["flask==3.1.1"],
        tmp_path / "wheels",
        registry_cache,
        home=venv.home,
        args=("--only-binary", ":all:", "--no-deps"),
    )
    [flask] = wheels
    report_file = tmp_path / "report.json"
    dry_run = ("install", "--dry-run", "--ignore-installed", "--no-deps", "six==1.17.0")
    located = venv.pip(*dry_run, "--report", str(report_file), env=registry_env(registry_cache))
    assert located.returncode == 0, tail(located.output)
    [six] = json.loads(report_file.read_text())["install"]
    six_url = six["download_info"]["url"]
    assert six_url.startswith("https://"), six_url

    args = (flask.as_uri(), f"six @ {six_url}")
    plain, attest, plain_dir, attest_dir = install_pair(
        venv, registry_cache, tmp_path, args, tmp_path
    )

    dists = assert_same(plain, attest, plain_dir, attest_dir)
    assert dists["flask"] == "3.1.1" and dists["six"] == "1.17.0"
    assert {"werkzeug", "jinja2"} <= set(dists)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_hash_checking_mode(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str
) -> None:
    """A fully pinned requirements file with ``--hash`` for every file (``--require-hashes``
    mode): the hashes of the wheels ``pip download`` picked for this platform."""
    venv = make_venv(pip_version)
    files = download(
        ["requests==2.32.3", "pyyaml"], tmp_path / "dl", registry_cache, home=venv.home
    )
    lines = []
    for file in files:
        name, version = file.name.split("-")[:2]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("\n".join(lines) + "\n")

    plain, attest, plain_dir, attest_dir = install_pair(
        venv, registry_cache, tmp_path, ("-r", "requirements.txt"), work
    )

    dists = assert_same(plain, attest, plain_dir, attest_dir)
    assert dists["requests"] == "2.32.3"
    assert len(dists) == len(files)


# --- pip-attest lock and pip lock --------------------------------------------------------


def locked(path: Path) -> dict[str, str]:
    doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return {canonicalize_name(p["name"]): p["version"] for p in doc["packages"]}


@pytest.mark.parametrize("pip_version", PIP_LOCK_VERSIONS)
def test_lock_locks_what_pip_lock_locks(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str
) -> None:
    """``pip-attest lock`` and ``pip lock`` of every extras set above, in one resolve."""
    requirements = [arg for case in EXTRAS for arg in case.args]
    venv = make_venv(pip_version)
    env = registry_env(registry_cache)
    by_pip, by_attest = tmp_path / "pip" / "pylock.toml", tmp_path / "attest" / "pylock.toml"
    by_pip.parent.mkdir()
    by_attest.parent.mkdir()

    def lock(run: Callable[..., Result], output: Path) -> Callable[[], Result]:
        command = ("lock", "-o", str(output), *requirements)
        return lambda: run(*command, env=env, cwd=output.parent, timeout=TIMEOUT)

    plain, attest = both(lock(venv.pip, by_pip), lock(venv.pip_attest, by_attest))

    assert plain.returncode == 0, f"pip lock failed:\n{tail(plain.output)}"
    pip_locked = locked(by_pip)
    attest_locked = locked(by_attest) if by_attest.exists() else {}
    assert attest.returncode == 0 and pip_locked == attest_locked, (
        f"pip-attest lock exited {attest.returncode}; its lock and pip's differ:\n"
        f"{difference(pip_locked, attest_locked)}\n"
        f"pip-attest's stderr (tail):\n{tail(attest.stderr)}"
    )
    wanted = {name for case in EXTRAS for name in case.expect}
    missing = sorted(wanted - set(pip_locked))
    assert not missing, f"expected {missing} in the lock: {names(pip_locked)}"
