"""pip-attest installs exactly what plain pip installs, under pip options and inputs that
tests/test_differential_e2e.py does not use: real files from the package registry, served
from a local folder (``--no-index --find-links``) and named on the command line.

As there, the registry serves no provenance: every file pip-attest lets through is
``missing`` (a warning), none ``invalid``, and both installs leave the same distributions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.differential import assert_same, install_pair, summary, tail
from tests.support.registry import download
from tests.support.venvs import PIP_VERSIONS, Venv

pytestmark = [pytest.mark.e2e, pytest.mark.network]

MakeVenv = Callable[..., Venv]


def json_to(path: Path) -> dict[str, str]:
    """pip-attest's JSON report to ``path`` (its summary stays on stderr)."""
    return {"PIP_ATTEST_FORMAT": "json", "PIP_ATTEST_OUTPUT": str(path)}


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_find_links_folder_with_an_sdist_and_its_build_dependency(
    make_venv: MakeVenv, registry_cache: Path, tmp_path: Path, pip_version: str
) -> None:
    """``--no-index --find-links DIR`` of files ``pip download`` fetched: docopt is an sdist
    whose build needs setuptools, from the same folder. setuptools is installed only into
    pip's build environment, and the report says so: before, a build dependency from a
    local file kept the origin ``local`` and the summary listed it as if installed."""
    venv = make_venv(pip_version)
    folder = tmp_path / "wheels"
    download(["docopt==0.6.2", "six"], folder, registry_cache, home=venv.home, args=())
    # pip before 24.1 adds wheel to the build requirements of a project without pyproject.toml
    download(["setuptools", "wheel"], folder, registry_cache, home=venv.home)
    assert (folder / "docopt-0.6.2.tar.gz").is_file()
    json_report = tmp_path / "report.json"
    args = ("--no-cache-dir", "--no-index", "--find-links", str(folder), "docopt", "six")

    plain, attest, plain_dir, attest_dir = install_pair(
        venv, registry_cache, tmp_path, args, tmp_path, attest_env=json_to(json_report)
    )

    dists = assert_same(plain, attest, plain_dir, attest_dir)
    assert set(dists) == {"docopt", "six"}
    report = summary(attest.stderr)
    assert report is not None
    built_with = [f for f in report.files if f.name not in dists]
    assert {f.name for f in built_with} >= {"setuptools"}, tail(attest.stderr)
    assert all(f.build_dependency for f in built_with), tail(attest.stderr)
    origins = {f["project"]: f["origin"] for f in json.loads(json_report.read_text())["files"]}
    assert origins.pop("docopt") == origins.pop("six") == "local"
    assert set(origins.values()) == {"build-dependency"}, origins
