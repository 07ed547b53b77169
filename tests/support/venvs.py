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

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIP_OLDEST = "23.3.2"
PIP_NEWEST = "26.3"
PIP_VERSIONS = (PIP_OLDEST, PIP_NEWEST)
PIP_UNSUPPORTED = "23.2.1"  # just below the supported range


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

    Dependencies come from the package registry (the only network tests use); the project's
    own wheel is rebuilt whenever ``src/`` or ``pyproject.toml`` change.
    """
    env = isolated_env(home)
    deps_key = _tree_hash(REPO / "pyproject.toml")
    house = root / f"wheelhouse-{deps_key}"
    house.mkdir(parents=True, exist_ok=True)
    project_key = _tree_hash(REPO / "src", REPO / "pyproject.toml", REPO / "README.md")
    marker = house / f".project-{project_key}"
    if not marker.exists():
        for old in house.glob("pip_attest-*.whl"):
            old.unlink()
        for old in house.glob(".project-*"):
            old.unlink()
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(house), str(REPO)], env)
        marker.touch()
    done = house / ".deps-complete"
    if not done.exists():
        wheel = next(house.glob("pip_attest-*.whl"))
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--only-binary",
                ":all:",
                "-d",
                str(house),
                str(wheel),
                f"pip=={PIP_NEWEST}",
            ],
            env,
        )
        # One command per pip release: pip refuses two versions of one project at once.
        for extra in (f"pip=={PIP_OLDEST}", f"pip=={PIP_UNSUPPORTED}", "flit_core>=3.2,<4"):
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--only-binary",
                    ":all:",
                    "--no-deps",
                    "-d",
                    str(house),
                    extra,
                ],
                env,
            )
        done.touch()
    return house


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
