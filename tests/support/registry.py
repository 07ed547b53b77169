"""Real packages from the package registry, for tests and benchmarks that need them.

The registry is the only network these tests use (this machine reaches PyPI, or a mirror of
it, and nothing else). Tests that use it are marked ``network`` so that a machine without it
can deselect them (``-m 'not network'``), and they share one pip cache per run (the
``registry_cache`` fixture), so that each file is downloaded once however many venvs and
pip versions install it.

The registry serves no provenance here, so every real file is "missing" to pip-attest
unless a test attests it itself and serves it from the loopback index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.venvs import REPO, isolated_env

# Set to keep the registry cache between runs on a developer's machine (CI starts empty).
CACHE_ENV = "PIP_ATTEST_TEST_PIP_CACHE"


def default_cache(session_tmp: Path) -> Path:
    named = os.environ.get(CACHE_ENV, "").strip()
    path = Path(named).expanduser() if named else session_tmp
    path.mkdir(parents=True, exist_ok=True)
    return path


def registry_env(pip_cache: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables for a pip that installs from the registry with the run's shared cache
    (on top of the isolated environment every test process gets)."""
    env = {"PIP_CACHE_DIR": str(pip_cache), "PIP_DEFAULT_TIMEOUT": "60"}
    env.update(extra or {})
    return env


def download(
    requirements: Sequence[str],
    dest: Path,
    pip_cache: Path,
    *,
    home: Path,
    args: Sequence[str] = ("--only-binary", ":all:"),
    python: str = sys.executable,
) -> list[Path]:
    """``pip download`` the whole tree of ``requirements`` from the registry into ``dest``
    (for the running Python and platform); returns every file there, sorted."""
    dest.mkdir(parents=True, exist_ok=True)
    env = isolated_env(home, registry_env(pip_cache))
    command = [python, "-m", "pip", "download", "-q", "-d", str(dest), *args, *requirements]
    proc = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return sorted(p for p in dest.iterdir() if p.is_file())
