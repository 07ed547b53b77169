"""``pip-attest lock`` against plain ``pip lock`` on the same attested graph.

    python benchmarks/bench_lock.py [--rounds N] [--packages N]

A generated graph of ``--packages`` attested wheels (default 50) is served from a loopback
index with PEP 658 metadata, as PyPI serves it. Every round locks the graph four ways,
one after another in one venv: plain ``pip lock``; ``pip-attest lock`` with an empty
verification cache (cold); the same with ``PIP_ATTEST_FULL_EXIT=1`` (the interpreter's
teardown, which pip-attest otherwise skips and plain pip pays); and again with the cache
the cold run filled (warm). Each run writes a fresh lock file. The index sends PyPI's
caching headers, and pip's HTTP cache is warmed by an uncounted first round. Ratios are the
medians of the per-round ratios (paired).

Attestations are minted by the throwaway Sigstore and verified by the unmodified verifier.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.index_server import IndexServer  # noqa: E402
from tests.support.packages import make_graph  # noqa: E402
from tests.support.throwaway_sigstore import ThrowawaySigstore, github  # noqa: E402
from tests.support.venvs import PIP_NEWEST, layered_venv  # noqa: E402

from benchmarks.bench_install import _template, _timed  # noqa: E402


def bench_lock(work: Path, rounds: int, packages: int) -> dict[str, list[float]]:
    home = work / "home"
    home.mkdir()
    verified = home / "cache" / "pip-attest" / "verified"
    template = _template(work)
    sig = ThrowawaySigstore()
    trust_root = sig.write_trusted_root(work / "trusted_root.json")
    root, wheels = make_graph(work / "dists", packages, prefix="lockbench")
    venv = layered_venv(work / "venv", template, home, PIP_NEWEST)
    out = work / "out"
    out.mkdir()
    times: dict[str, list[float]] = {"plain": [], "cold": [], "cold-full-exit": [], "warm": []}
    with IndexServer(pypi_caching=True) as index:
        for wheel in wheels:
            prov = sig.provenance(wheel, github(f"bench/{wheel.name.split('-')[0]}"))
            index.add_file(wheel, provenance=prov, metadata=True)
        for i in range(rounds + 1):  # round 0 warms pip's caches and is not counted
            for kind in times:
                lock_file = out / "pylock.toml"
                lock_file.unlink(missing_ok=True)
                if kind == "plain":
                    cmd = [str(venv.python), "-m", "pip", "lock", "-o", str(lock_file)]
                else:
                    cmd = [str(venv.python), "-m", "pip_attest", "lock", "-o", str(lock_file)]
                    cmd += ["--trust-root", str(trust_root)]
                env = venv.env()
                if kind.startswith("cold"):
                    shutil.rmtree(verified, ignore_errors=True)
                if kind.endswith("full-exit"):
                    env["PIP_ATTEST_FULL_EXIT"] = "1"
                # --trusted-host: pip's HTTP cache works for https and trusted hosts only.
                index_args = ["-i", index.simple_url, "--trusted-host", "127.0.0.1"]
                elapsed = _timed([*cmd, *index_args, root], env)
                if kind != "plain" and "attestation-identities" not in lock_file.read_text():
                    raise SystemExit("pip-attest lock wrote no attestation-identities")
                if i:
                    times[kind].append(elapsed)
    return times


def lock_rows(times: dict[str, list[float]], packages: int) -> list[str]:
    n = len(times["plain"])
    plain = statistics.median(times["plain"])
    rows = []
    for kind in ("cold", "cold-full-exit", "warm"):
        ratio = statistics.median(a / p for a, p in zip(times[kind], times["plain"], strict=True))
        cache = kind.replace("-full-exit", ", `PIP_ATTEST_FULL_EXIT=1`")
        rows.append(
            f"| lock {packages} attested packages (PEP 658 index), verification cache {cache} "
            f"(median of {n}, paired) | pip lock {plain:.2f} s "
            f"| {statistics.median(times[kind]):.2f} s | {ratio:.2f}x |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--packages", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = bench_lock(Path(tmp), args.rounds, args.packages)
    print("| benchmark | baseline | pip-attest | ratio |")
    print("|---|---|---|---|")
    for row in lock_rows(times, args.packages):
        print(row)


if __name__ == "__main__":
    main()
