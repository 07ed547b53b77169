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
    entries = first.verification_entries()
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
    of every file is requested while pip resolves (checked against the sha256 the index
    gives) or at the latest as the download phase starts (here, while the index is slow to
    send the first wheel), once per file, and the bytes pip downloads are checked too."""
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


def provenance_requests(index: IndexServer) -> list[str]:
    return [p for p in index.paths() if p.startswith("/provenance/")]


def test_fresh_provenance_is_not_asked_for_again_but_new_bytes_are_checked(
    make_venv: MakeVenv, sigstore_instance: ThrowawaySigstore, minted_root: Path, tmp_path: Path
) -> None:
    """PyPI says its provenance answers stay fresh for 10 minutes. Within that time a
    verified answer is reused with no request at all, for the same file bytes only: a file
    swapped under the same URL is fetched and verified again, and refused."""
    root, wheels = make_graph(tmp_path / "dists", 3, prefix="fresh")
    with IndexServer(pypi_caching=True) as pypi_like:
        provenances = {}
        for wheel in wheels:
            provenances[wheel.name] = sigstore_instance.provenance(wheel, github("o/fresh"))
            pypi_like.add_file(wheel, provenance=provenances[wheel.name])
        first = make_venv()
        cold = install(first, pypi_like, root, minted_root)
        assert cold.returncode == 0, cold.stderr[-3000:]
        assert len(provenance_requests(pypi_like)) == 3

        pypi_like.clear_requests()
        second = make_venv(home=first.home)
        warm = install(second, pypi_like, root, minted_root, "-X", "importtime")
        assert warm.returncode == 0, warm.stderr[-3000:]
        assert provenance_requests(pypi_like) == []
        assert crypto_modules(warm.stderr) == set()
        assert identities(report(warm)) == identities(report(cold))
        assert {"fresh-0", "fresh-1", "fresh-2"} <= second.installed()

        # The index now serves other bytes under the same name and provenance URL.
        swapped = wheels[1]
        swapped.write_bytes(swapped.read_bytes() + b"\0")
        pypi_like.add_file(swapped, provenance=provenances[swapped.name])
        pypi_like.clear_requests()
        third = make_venv(home=first.home)
        result = install(third, pypi_like, root, minted_root)

    assert result.returncode == 1, result.stderr[-3000:]
    assert provenance_requests(pypi_like) == [f"/provenance/{swapped.name}"]
    [refused] = [f for f in report(result)["files"] if f["blocking"]]
    assert refused["filename"] == swapped.name
    assert "digest mismatch" in refused["reason"]
    assert not any(name.startswith("fresh") for name in third.installed())


def test_without_cache_headers_provenance_is_asked_for_every_run(
    make_venv: MakeVenv, index: IndexServer, graph: tuple[str, list[Path]], minted_root: Path
) -> None:
    root, _ = graph
    first = make_venv()
    assert install(first, index, root, minted_root).returncode == 0
    index.clear_requests()

    second = make_venv(home=first.home)
    warm = install(second, index, root, minted_root, "-X", "importtime")

    assert warm.returncode == 0, warm.stderr[-3000:]
    assert len(provenance_requests(index)) == 4  # asked again; not verified again
    assert crypto_modules(warm.stderr) == set()


def helpers_running(venv: Venv) -> list[str]:
    """Command lines of verification helpers started by this venv's Python."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(argv).decode("utf-8", "replace")
        if "pip_attest._helper_main" in text and str(venv.path) in text:
            found.append(text)
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_helper_started_ahead_and_never_needed_does_not_outlive_the_run(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path, minted_root: Path
) -> None:
    """The first run of a command starts the verification helper before pip resolves, on
    the guess that something will need verifying. Here nothing does (no file is attested):
    the helper is stopped with the run, and no cryptography was needed for the answer."""
    root, wheels = make_graph(tmp_path / "plain", 2, prefix="bare")
    for wheel in wheels:
        index.add_file(wheel)
    venv = make_venv()

    result = install(venv, index, root, minted_root, "-X", "importtime")

    assert result.returncode == 0, result.stderr[-3000:]
    assert {f["status"] for f in report(result)["files"]} == {"missing"}
    # The helper did start (its imports are listed: the sigstore package is among its
    # first), and is gone.
    assert "sigstore" in crypto_modules(result.stderr)
    assert helpers_running(venv) == []


def test_a_fresh_answer_does_not_hide_a_mirror_that_strips_provenance(
    make_venv: MakeVenv, sigstore_instance: ThrowawaySigstore, minted_root: Path, tmp_path: Path
) -> None:
    """Within the freshness window the mirror stops advertising the provenance of the very
    same file: there is no URL to reuse an answer for, and the first-seen record makes it
    a downgrade, not a pass."""
    root, [wheel] = make_graph(tmp_path / "dists", 1, prefix="strip")
    with IndexServer(pypi_caching=True) as pypi_like:
        pypi_like.add_file(wheel, provenance=sigstore_instance.provenance(wheel, github("o/s")))
        first = make_venv()
        assert install(first, pypi_like, root, minted_root).returncode == 0

        pypi_like.add_file(wheel, advertise_provenance=False)  # stripped, same bytes
        second = make_venv(home=first.home)
        result = install(second, pypi_like, root, minted_root)

    assert result.returncode == 1, result.stderr[-3000:]
    [refused] = [f for f in report(result)["files"] if f["blocking"]]
    assert refused["status"] == "downgrade"
    assert refused["filename"] == wheel.name
    assert not any(name.startswith("strip") for name in second.installed())


# Runs pip-attest's main() twice in one process, as a tool embedding it would, and counts
# this process's live verification helpers after each run.
_TWO_RUNS = """
import json, os, sys
from pathlib import Path
from pip_attest._cli import main
from pip_attest._spawn import start_early_helper

def helpers():
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = stat.read_text().rsplit(")", 1)[1].split()[1]
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == str(os.getpid()) and b"pip_attest._helper_main" in command:
            count += 1
    return count

seen = []
for _ in range(2):
    start_early_helper(sys.argv[1:])  # as pip_attest.__main__.run does
    seen += [main(sys.argv[1:]), helpers()]
print(json.dumps(seen))
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_each_run_in_one_process_stops_its_helper_when_it_ends(
    make_venv: MakeVenv, index: IndexServer, graph: tuple[str, list[Path]], minted_root: Path
) -> None:
    """``main`` may run several times in one process: each run's verification helper (the
    one started ahead, then the checker's) is stopped when the run ends, not when the
    process exits."""
    root, _ = graph
    venv = make_venv()
    args = ["install", "--trust-root", str(minted_root), "--dry-run", "-i", index.simple_url]

    result = venv.run("-c", _TWO_RUNS, *args, root)

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == [0, 0, 0, 0]
    assert "4 verified" in result.stderr
