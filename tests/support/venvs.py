"""Real virtual environments with a real pip, isolated from this machine's pip configuration.

A session builds a *wheelhouse* once (pip-attest's wheel, its dependencies, and the pip
releases under test), then one *template* venv per pip release with pip-attest installed
from it, offline. Each test gets a fresh, empty venv layered on a template: a
``--without-pip`` venv whose ``_pip_attest_template.pth`` adds the template's site-packages
with ``site.addsitedir`` (so the template's ``pip_attest_hook.pth`` runs too). Whatever a
test installs lands in its own venv's site-packages, which is what the assertions read.
Creating one costs milliseconds instead of the seconds a full install takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIP_OLDEST = "23.3.2"
PIP_NEWEST = "26.3"
PIP_UNSUPPORTED = "23.2.1"  # just below the supported range
# The compatibility matrix (scripts/matrix): the newest patch release of each supported line.
PIP_MATRIX = ("23.3.2", "24.0", "24.3.1", "25.0.1", "25.3", "26.3")
# Space- or comma-separated pip releases the version-parametrized end-to-end tests run on.
# Unset: the oldest and the newest, as in every CI run.
PIP_VERSIONS_ENV = "PIP_ATTEST_TEST_PIPS"


def pip_versions(value: str | None) -> tuple[str, ...]:
    """The pip releases to test, from ``PIP_ATTEST_TEST_PIPS`` (``None``: the default pair).

    Each must be an exact release inside pip-attest's supported range: a typo or an
    unsupported pip would otherwise turn into a matrix that quietly tests something else.
    """
    if value is None or not value.strip():
        return (PIP_OLDEST, PIP_NEWEST)
    from packaging.version import InvalidVersion, Version

    from pip_attest._pip._version import MAX_PIP_EXCLUSIVE, MIN_PIP, SUPPORTED_RANGE

    found: dict[str, Version] = {}
    for item in value.replace(",", " ").split():
        try:
            version = Version(item)
        except InvalidVersion:
            raise ValueError(f"{PIP_VERSIONS_ENV}: {item!r} is not a pip version") from None
        if not MIN_PIP <= version < MAX_PIP_EXCLUSIVE:
            raise ValueError(f"{PIP_VERSIONS_ENV}: pip {item} is not in {SUPPORTED_RANGE}")
        found[item] = version
    return tuple(sorted(found, key=found.__getitem__))


PIP_VERSIONS = pip_versions(os.environ.get(PIP_VERSIONS_ENV))


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every test subprocess gets.

    No ``PIP_*`` (or ``PIP_ATTEST_*``) variable of the machine leaks in, pip reads no config
    file, and every cache (pip's, pip-attest's, sigstore's) lives under ``home``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV")) and k not in ("XDG_CACHE_HOME",)
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_COLOR="1",
        PIP_PROGRESS_BAR="off",
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUTF8="1",
    )
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(proxy, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if extra:
        env.update(extra)
    return env


def _run(cmd: list[str], env: Mapping[str, str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, env=dict(env), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
        )


def _tree_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for base in paths:
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(REPO)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def build_wheelhouse(root: Path, home: Path) -> Path:
    """pip-attest's wheel plus everything needed to install it offline, cached by content.

    Dependencies and pip releases come from the package registry (the only network tests
    use) into ``deps-<pyproject hash>``, which only ever grows. Each state of ``src/`` gets
    its own ``wheelhouse-<hash>``: the project's wheel plus links to those files, created
    whole by one rename. Sessions running side by side on one checkout (while its source
    changes) never see another's half-built or deleted wheel.
    """
    env = isolated_env(home)
    deps = root / f"deps-{_tree_hash(REPO / 'pyproject.toml')}"
    deps.mkdir(parents=True, exist_ok=True)
    project_key = _tree_hash(REPO / "src", REPO / "pyproject.toml", REPO / "README.md")
    house = root / f"wheelhouse-{project_key}"
    if not house.exists():
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(staging), str(REPO)]
        _run(build, env)
        if not (deps / ".complete").exists():
            wheel = next(staging.glob("pip_attest-*.whl"))
            # pip-attest's dependencies with the newest pip; then one command per other
            # release, since pip refuses two versions of one project at once.
            _download(deps, env, str(wheel), f"pip=={PIP_NEWEST}", with_deps=True)
            for extra in (f"pip=={PIP_OLDEST}", f"pip=={PIP_UNSUPPORTED}", "flit_core>=3.2,<4"):
                _download(deps, env, extra)
            (deps / ".complete").touch()
        _link_all(deps, staging)
        try:
            staging.rename(house)
        except OSError:  # another session made the same one first
            shutil.rmtree(staging, ignore_errors=True)
    for version in PIP_VERSIONS:
        # The matrix's releases, fetched once each.
        if not (deps / f"pip-{version}-py3-none-any.whl").exists():
            _download(deps, env, f"pip=={version}")
        _link_all(deps, house)
    return house


def _download(
    deps: Path, env: Mapping[str, str], *requirements: str, with_deps: bool = False
) -> None:
    """Download into a private folder, then move each file in whole."""
    with tempfile.TemporaryDirectory(prefix=".download-", dir=deps.parent) as tmp:
        no_deps = [] if with_deps else ["--no-deps"]
        _run(
            [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", *no_deps]
            + ["-d", tmp, *requirements],
            env,
        )
        for file in Path(tmp).iterdir():
            if not file.name.startswith("pip_attest-"):
                os.replace(file, deps / file.name)


def _link_all(deps: Path, house: Path) -> None:
    for file in deps.glob("*.whl"):
        link = house / file.name
        if not link.exists():
            with contextlib.suppress(FileExistsError):
                link.symlink_to(file)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Venv:
    path: Path
    home: Path
    pip_version: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def site(self) -> Path:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.path / "lib" / version / "site-packages"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return isolated_env(self.home, extra)

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> Result:
        proc = subprocess.run(
            [str(self.python), *args],
            env=self.env(env),
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def pip_attest(self, *args: str, **kwargs: object) -> Result:
        return self.run("-m", "pip_attest", *args, **kwargs)  # type: ignore[arg-type]

    def pip(self, *args: str, **kwargs: object) -> Result:
        return self.run("-m", "pip", *args, **kwargs)  # type: ignore[arg-type]

    def installed(self) -> set[str]:
        """Distributions installed in *this* venv (not the template it is layered on)."""
        names = set()
        for info in self.site.glob("*.dist-info"):
            names.add(
                info.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-")
            )
        return names

    def verification_entries(self) -> list[Path]:
        """The verification cache's entries (``verified/xx/….json``, one per file) in this
        venv's user cache; not its run records (``runs/``)."""
        root = self.home / "cache" / "pip-attest" / "verified"
        return sorted(p for p in root.rglob("*.json") if p.parent.parent == root)


def make_template(where: Path, wheelhouse: Path, pip_version: str, home: Path) -> Path:
    """A full, real install of pip-attest with the given pip, offline from the wheelhouse."""
    if (where / ".ready").exists():
        return where
    if where.exists():
        shutil.rmtree(where)
    env = isolated_env(home)
    _run([sys.executable, "-m", "venv", str(where)], env)
    py = str(where / "bin" / "python")
    _run(
        [
            py,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            f"pip=={pip_version}",
        ],
        env,
    )
    _run(
        [py, "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "pip-attest"],
        env,
    )
    (where / ".ready").touch()
    return where


def layered_venv(path: Path, template: Path, home: Path, pip_version: str) -> Venv:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, capture_output=True
    )
    venv = Venv(path, home, pip_version)
    template_site = Path(
        sysconfig.get_paths(vars={"base": str(template), "platbase": str(template)})["purelib"]
    )
    (venv.site / "_pip_attest_template.pth").write_text(
        f"import site; site.addsitedir({str(template_site)!r})\n"
    )
    return venv


def fresh_install(path: Path, wheelhouse: Path, pip_version: str, home: Path) -> Venv:
    """A new venv with pip and pip-attest installed the way a user does it, offline.

    The venv is created without pip; the pip wheel from the wheelhouse runs itself (pip
    supports ``python pip.whl/pip``) to install pip and pip-attest. ``--no-compile`` keeps
    it to about 2 s; the tests that use it run pip a few times at most.
    """
    env = isolated_env(home)
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)], env)
    pip_wheel = wheelhouse / f"pip-{pip_version}-py3-none-any.whl"
    _run(
        [
            str(path / "bin" / "python"),
            str(pip_wheel / "pip"),
            "install",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--no-compile",
            f"pip=={pip_version}",
            "pip-attest",
        ],
        env,
    )
    return Venv(path, home, pip_version)


def copy_venv(template: Path, path: Path, home: Path, pip_version: str) -> Venv:
    """A copy of a template: a standalone venv with pip-attest really installed (not
    layered), for tests that break or inspect the installation itself.

    Files are hard links (0.2 s instead of 2 s for 90 MB): pip and these tests only ever
    create, replace or delete files, which leaves the template alone. A test that wants
    to change a file must delete it and write a new one, never write into it. Console
    scripts still name the template's interpreter; tests run ``python -m``.
    """
    shutil.copytree(template, path, symlinks=True, copy_function=_link_or_copy)
    return Venv(path, home, pip_version)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)
