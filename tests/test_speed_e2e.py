"""The fast paths end to end, checked for what they must never change.

A warm verification cache must answer without importing any cryptography, and still report
the identity the certificate proved. ``python -X importtime`` lists every module the run
imported, the verification helper's included (it inherits the flag and then writes to the
run's stderr). It must not outlive a change of trust root, or survive
being corrupted. Provenance fetched ahead of time (pip's PEP 658 path, where files are
downloaded only after resolution) is fetched once per file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.index_server import Fault, IndexServer
from tests.support.packages import make_graph
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import Result, Venv

pytestmark = pytest.mark.e2e

MakeVenv = Callable[..., Venv]
CRYPTO = ("sigstore", "pypi_attestations", "pip_attest._verify")


def imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines."""
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", stderr, re.M))


def crypto_modules(stderr: str) -> set[str]:
    return {m for m in imported(stderr) if m.split(".")[0] in CRYPTO or m in CRYPTO}


def report(result: Result) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def identities(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {f["project"]: f["identities"] for f in doc["files"] if f["status"] == "verified"}


@pytest.fixture
def graph(
    tmp_path: Path, index: IndexServer, sigstore_instance: ThrowawaySigstore
) -> tuple[str, list[Path]]:
    root, wheels = make_graph(tmp_path / "dists", 4, prefix="fast")
    for wheel in wheels:
        index.add_file(
            wheel, provenance=sigstore_instance.provenance(wheel, github(f"o/{wheel.name[:6]}"))
        )
    return root, wheels


def install(venv: Venv, index: IndexServer, root: str, trust_root: Path, *py: str) -> Result:
    return venv.run(
        *py,
        "-m",
        "pip_attest",
        "install",
        "--trust-root",
        str(trust_root),
        "--format",
        "json",
        "--index-url",
        index.simple_url,
        root,
    )


def test_all_hit_run_imports_no_cryptography_and_reports_the_identities(
    make_venv: MakeVenv,
    index: IndexServer,
    graph: tuple[str, list[Path]],
    minted_root: Path,
) -> None:
    root, wheels = graph
    first = make_venv()
    cold = install(first, index, root, minted_root, "-X", "importtime")
    assert cold.returncode == 0, cold.stderr[-3000:]
    assert {"sigstore", "pypi_attestations", "pip_attest._verify"} <= crypto_modules(cold.stderr)

    second = make_venv(home=first.home)  # same user caches, new environment
    warm = install(second, index, root, minted_root, "-X", "importtime")

    assert warm.returncode == 0, warm.stderr[-3000:]
    assert crypto_modules(warm.stderr) == set()
    assert "pip_attest._cache" in imported(warm.stderr)
    assert identities(report(warm)) == identities(report(cold))
    assert sorted(identities(report(warm))) == sorted(f"fast-{i}" for i in range(4))
    assert {f"fast-{i}" for i in range(4)} <= second.installed()


def test_warm_cache_does_not_carry_over_to_another_trust_root(
    make_venv: MakeVenv,
    index: IndexServer,
    graph: tuple[str, list[Path]],
    minted_root: Path,
    tmp_path: Path,
) -> None:
    root, _ = graph
    first = make_venv()
    assert install(first, index, root, minted_root).returncode == 0
    other_root = ThrowawaySigstore().write_trusted_root(tmp_path / "other_root.json")

    second = make_venv(home=first.home)
    result = install(second, index, root, other_root)

    assert result.returncode == 1, result.stderr[-3000:]
    doc = report(result)
    assert doc["outcome"] == "refused"
    assert {f["status"] for f in doc["files"]} == {"invalid"}
    assert all("signature check failed" in f["reason"] for f in doc["files"])
    assert not any(name.startswith("fast") for name in second.installed())


def test_corrupt_cache_entries_are_verified_again_and_rewritten(
    make_venv: MakeVenv,
    index: IndexServer,
    graph: tuple[str, list[Path]],
    minted_root: Path,
) -> None:
    root, _ = graph
    first = make_venv()
    assert install(first, index, root, minted_root).returncode == 0
    entries = sorted((first.home / "cache" / "pip-attest" / "verified").rglob("*.json"))
    assert len(entries) == 4
    good = {e: e.read_bytes() for e in entries}
    for entry in entries:
        entry.write_bytes(good[entry][: len(good[entry]) // 2])  # torn

    second = make_venv(home=first.home)
    result = install(second, index, root, minted_root, "-X", "importtime")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "sigstore" in crypto_modules(result.stderr)  # verified for real
    assert len(identities(report(result))) == 4
    assert {e: e.read_bytes() for e in entries} == good


def test_provenance_prefetched_before_downloads_is_fetched_once(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    """With PEP 658 metadata pip resolves first and downloads afterwards: the provenance
    of every file is requested as that download phase starts (here, while the index is
    slow to send the first wheel), once per file, and still checked against the bytes."""
    root, wheels = make_graph(tmp_path / "meta", 5, prefix="meta")
    for wheel in wheels:
        prov = sigstore_instance.provenance(wheel, github(f"m/{wheel.name[:6]}"))
        index.add_file(wheel, provenance=prov, metadata=True)
        index.fault(f"/files/{wheel.name}", Fault(delay=0.3))
    venv = make_venv()

    result = install(venv, index, root, minted_root)

    assert result.returncode == 0, result.stderr[-3000:]
    assert len(identities(report(result))) == 5
    paths = index.paths()
    fetched = [p for p in paths if p.startswith("/provenance/")]
    assert sorted(fetched) == sorted(f"/provenance/{w.name}" for w in wheels)
    downloads = [i for i, p in enumerate(paths) if p.startswith("/files/") and p.endswith(".whl")]
    assert len(downloads) == 5
    # Without the prefetch, a file's provenance is only asked for after its download.
    assert max(paths.index(p) for p in fetched) < downloads[1]
