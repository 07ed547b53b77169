"""Every benchmark, one table: what the README's Performance section shows.

    python benchmarks/bench.py [--rounds N] [--count N] [--startup-rounds N] [--pep658]
                               [--realtree [--realtree-rounds N] [--realtree-requirement REQ]]

Runs ``bench_install.py`` (pip-attest install against plain pip install, verification
cache cold and warm; the ``.pth`` hook's start-up cost) and ``bench_verify.py``
(verification throughput per core), then prints the machine it ran on and a Markdown
table. With ``--realtree``, also ``bench_realtree.py``: the real wheels of a large tree
(``jupyterlab``) from the package registry, CI-cold and dev-warm against plain pip, with CPU
seconds; it needs the registry and takes minutes. Nothing here is a test: tests check
correctness, this reports speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_install, bench_realtree, bench_verify  # noqa: E402


def machine() -> str:
    import pip

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"pip {pip.__version__}, load average {load:.1f} at the start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--packages", type=int, default=30)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--startup-rounds", type=int, default=200)
    parser.add_argument("--pep658", action="store_true", help="serve PEP 658 metadata")
    parser.add_argument("--realtree", action="store_true", help="also install a real tree")
    parser.add_argument("--realtree-rounds", type=int, default=4)
    parser.add_argument("--realtree-requirement", default="jupyterlab")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    realtree = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        times = bench_install.bench_install(work, args.rounds, args.packages, pep658=args.pep658)
        bare, hooked = bench_install.bench_startup(work, args.startup_rounds)
    if args.realtree:
        with tempfile.TemporaryDirectory() as tmp:
            realtree = bench_realtree.bench_realtree(
                Path(tmp), args.realtree_rounds, args.realtree_requirement
            )
    verify_rows = bench_verify.rows(args.count)
    print()
    print("| benchmark | baseline | pip-attest | ratio / cost |")
    print("|---|---|---|---|")
    for row in bench_install.install_rows(times, args.packages, args.pep658):
        print(row)
    for row in verify_rows:
        print(row)
    print(bench_install.startup_row(bare, hooked, args.startup_rounds))
    if realtree is not None:
        for row in bench_realtree.rows(realtree):
            print(row)
        print()
        for line in bench_realtree.details(realtree):
            print(line)


if __name__ == "__main__":
    main()
