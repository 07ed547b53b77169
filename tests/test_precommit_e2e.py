"""The ``pip-attest-lock`` and ``pip-attest-annotate`` pre-commit hooks, run by real
pre-commit in a real git repository.

pre-commit installs pip-attest from a git snapshot of this working tree into its own
environment (offline, from the session wheelhouse plus the build backend), and the hook
locks from the loopback index with attestations minted by the throwaway Sigstore.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import REPO, isolated_env

pytestmark = pytest.mark.e2e
SNAPSHOT = ("src", "pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml")


def git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _backend_wheels(home: Path) -> Path:
    """hatchling and its dependencies, from the registry, once per checkout."""
    cache = Path(os.environ.get("PIP_ATTEST_TEST_CACHE", str(REPO / ".test-cache")))
    where = cache / "build-backend"
    if not (where / ".complete").exists():
        where.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-d", str(where), "hatchling>=1.25"]
        subprocess.run(cmd, env=isolated_env(home), check=True, capture_output=True)
        (where / ".complete").touch()
    return where


def _hook_repo(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    repo = tmp_path / "pip-attest-snapshot"
    repo.mkdir()
    for name in SNAPSHOT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "snapshot")):
        assert git(repo, env, *args).returncode == 0
    return repo, git(repo, env, "rev-parse", "HEAD").stdout.strip()


def _git_env(home: Path) -> dict[str, str]:
    return isolated_env(
        home,
        {
            "HOME": str(home),
            "PRE_COMMIT_HOME": str(home / "pre-commit"),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "GIT_CONFIG_NOSYSTEM": "1",
        },
    )


def _app_with_hook(
    tmp_path: Path, env: dict[str, str], home: Path, wheelhouse: Path, hook: str, args: str
) -> Path:
    """A git repository whose pre-commit config runs ``hook`` from a snapshot of this
    tree, with the hook's environment built offline."""
    hook_repo, rev = _hook_repo(tmp_path, env)
    app = tmp_path / "app"
    app.mkdir()
    (app / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hook_repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        f"      - id: {hook}\n"
        f"        args: [{args}]\n"
    )
    assert git(app, env, "init", "-q").returncode == 0
    pre_commit = [sys.executable, "-m", "pre_commit"]
    assert subprocess.run([*pre_commit, "install"], cwd=app, env=env).returncode == 0
    # Build the hook's environment offline: the wheelhouse and the build backend only.
    offline = {
        **env,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": f"{wheelhouse} {_backend_wheels(home)}",
    }
    installed = subprocess.run(
        [*pre_commit, "install-hooks"], cwd=app, env=offline, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return app


def test_precommit_hook_writes_the_lock_then_passes(
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    wheelhouse: Path,
    tmp_path: Path,
) -> None:
    wheel = make_wheel(tmp_path, "hookpkg", "1.0")
    identity = github("example/hookpkg")
    index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, identity), metadata=True)
    home = tmp_path / "home"
    home.mkdir()
    env = _git_env(home)
    args = f"-i, '{index.simple_url}', --trust-root, '{minted_root}', -r, requirements.in"
    app = _app_with_hook(tmp_path, env, home, wheelhouse, "pip-attest-lock", args)
    (app / "requirements.in").write_text("hookpkg\n")

    assert git(app, env, "add", "requirements.in", ".pre-commit-config.yaml").returncode == 0
    first = git(app, env, "commit", "-m", "add hookpkg")
    assert first.returncode != 0, first.stdout + first.stderr
    assert "pylock.toml changed; review it and commit it" in first.stderr
    lock = (app / "pylock.toml").read_text()
    assert 'repository = "example/hookpkg"' in lock
    assert git(app, env, "log", "--oneline").returncode != 0  # nothing was committed

    assert git(app, env, "add", "pylock.toml").returncode == 0
    second = git(app, env, "commit", "-m", "add hookpkg")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "pip-attest lock" in second.stdout + second.stderr
    assert git(app, env, "show", "--name-only", "HEAD").stdout.count("pylock.toml") == 1


def test_precommit_annotate_hook_adds_identities_to_a_uv_lock(
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    wheelhouse: Path,
    tmp_path: Path,
) -> None:
    """The hook that follows uv's: uv wrote pylock.toml; the hook adds the identities, keeps
    uv's bytes, and the commit goes through once the annotated lock is staged."""
    wheel = make_wheel(tmp_path, "uvhookpkg", "1.0")
    identity = github("example/uvhookpkg")
    index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, identity))
    home = tmp_path / "home"
    home.mkdir()
    env = _git_env(home)
    args = f"-i, '{index.simple_url}', --trust-root, '{minted_root}'"
    app = _app_with_hook(tmp_path, env, home, wheelhouse, "pip-attest-annotate", args)
    (app / "requirements.in").write_text("uvhookpkg\n")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv is not None, "uv is a dev dependency"
    command = [uv, "pip", "compile", "--format", "pylock.toml", "requirements.in", "-o"]
    command += ["pylock.toml", "--index-url", index.simple_url, "--python", sys.executable]
    uv_env = {**env, "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(home / "uv-cache")}
    compiled = subprocess.run(command, cwd=app, env=uv_env, capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    by_uv = (app / "pylock.toml").read_text()

    assert git(app, env, "add", "-A").returncode == 0
    first = git(app, env, "commit", "-m", "lock with uv")
    assert first.returncode != 0, first.stdout + first.stderr
    assert "pylock.toml changed; review it and commit it" in first.stderr
    annotated = (app / "pylock.toml").read_text()
    assert 'repository = "example/uvhookpkg"' in annotated
    assert annotated.startswith(by_uv.split("\n[[packages]]", 1)[0])  # uv's header, as it was

    assert git(app, env, "add", "pylock.toml").returncode == 0
    second = git(app, env, "commit", "-m", "lock with uv")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "pip-attest lock --from-lock" in second.stdout + second.stderr
    assert (app / "pylock.toml").read_text() == annotated
