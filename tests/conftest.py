"""Shared fixtures: real fixtures on disk, the wheelhouse, venvs, the throwaway Sigstore."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import Run, runner
from tests.support.index_server import IndexServer
from tests.support.registry import default_cache
from tests.support.throwaway_sigstore import ThrowawaySigstore
from tests.support.venvs import (
    PIP_NEWEST,
    REPO,
    Venv,
    build_wheelhouse,
    copy_venv,
    fresh_install,
    layered_venv,
    make_template,
)

REAL_FIXTURES = Path(
    os.environ.get("PIP_ATTEST_REAL_FIXTURES", str(REPO.parent / "shared" / "fixtures" / "real"))
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``PIP_ATTEST_MATRIX_ONLY=1`` (set by scripts/matrix): keep only the tests that are
    parametrized by pip version; the others do not depend on it and run in .ci/run."""
    if os.environ.get("PIP_ATTEST_MATRIX_ONLY") != "1":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        (keep if callspec is not None and "pip_version" in callspec.params else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process tests see no PIP_* variable of the machine and no shared cache."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(scope="session")
def real() -> Path:
    """``../shared/fixtures/real``: production-signed PEP 740 data (see its MANIFEST.md)."""
    if not (REAL_FIXTURES / "MANIFEST.md").is_file():
        pytest.skip(
            f"real fixtures not found at {REAL_FIXTURES} "
            "(set PIP_ATTEST_REAL_FIXTURES to their folder)"
        )
    return REAL_FIXTURES


@pytest.fixture(scope="session")
def sigstore_instance() -> ThrowawaySigstore:
    return ThrowawaySigstore()


@pytest.fixture(scope="session")
def minted_root(
    sigstore_instance: ThrowawaySigstore, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return sigstore_instance.write_trusted_root(
        tmp_path_factory.mktemp("minted-root") / "trusted_root.json"
    )


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = Path(os.environ.get("PIP_ATTEST_TEST_CACHE", str(REPO / ".test-cache")))
    return build_wheelhouse(cache, tmp_path_factory.mktemp("wheelhouse-home"))


@pytest.fixture(scope="session")
def templates(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


def _template(
    version: str, templates: dict[str, Path], wheelhouse: Path, factory: pytest.TempPathFactory
) -> Path:
    if version not in templates:
        where = factory.mktemp(f"template-pip-{version}") / "venv"
        templates[version] = make_template(where, wheelhouse, version, factory.mktemp("home"))
    return templates[version]


@pytest.fixture
def make_venv(
    tmp_path: Path,
    templates: dict[str, Path],
    wheelhouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Venv]]:
    """``make_venv(pip_version=PIP_NEWEST)``: a fresh venv with pip-attest available."""
    count = 0

    def make(pip_version: str = PIP_NEWEST, home: Path | None = None) -> Venv:
        """``home`` (caches: pip's, pip-attest's) is fresh unless another venv's is given."""
        nonlocal count
        count += 1
        template = _template(pip_version, templates, wheelhouse, tmp_path_factory)
        if home is None:
            home = tmp_path / f"home{count}"
            home.mkdir()
        return layered_venv(tmp_path / f"venv{count}", template, home, pip_version)

    yield make


@pytest.fixture
def installed_venv(
    tmp_path: Path,
    templates: dict[str, Path],
    wheelhouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Venv]:
    """``installed_venv(pip_version=PIP_NEWEST)``: a standalone venv where pip-attest is
    really installed (its ``.pth`` in the venv's own site-packages), free to break."""
    count = 0

    def make(pip_version: str = PIP_NEWEST) -> Venv:
        nonlocal count
        count += 1
        template = _template(pip_version, templates, wheelhouse, tmp_path_factory)
        home = tmp_path / f"installed-home{count}"
        home.mkdir()
        return copy_venv(template, tmp_path / f"installed{count}", home, pip_version)

    return make


@pytest.fixture
def fresh_venv(tmp_path: Path, wheelhouse: Path) -> Callable[..., Venv]:
    """``fresh_venv(pip_version=PIP_NEWEST)``: a new venv into which pip and pip-attest are
    installed by pip itself, offline from the wheelhouse, during the test."""
    count = 0

    def make(pip_version: str = PIP_NEWEST) -> Venv:
        nonlocal count
        count += 1
        home = tmp_path / f"fresh-home{count}"
        home.mkdir()
        return fresh_install(tmp_path / f"fresh{count}", wheelhouse, pip_version, home)

    return make


@pytest.fixture(scope="session")
def registry_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pip cache for every test of a run that installs from the package registry
    (tests/support/registry.py)."""
    return default_cache(tmp_path_factory.mktemp("registry-pip-cache"))


@pytest.fixture
def index() -> Iterator[IndexServer]:
    with IndexServer() as server:
        yield server


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``cli("verify", ...)``: pip-attest's ``main`` in-process (tests/support/cli.py)."""
    return runner(capsys)
