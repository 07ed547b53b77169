"""Side-by-side costs, as ratios measured in one run (never as timed assertions in tests).

    .venv/bin/python benchmarks/bench_install.py [--rounds N] [--packages N]

1. ``pip-attest install`` against plain ``pip install`` of the same generated graph of attested
   wheels from a loopback index; each round uses fresh venvs and a warm pip HTTP cache, and
   the two commands alternate so drift hits both alike.
2. Start-up of an interpreter whose site-packages holds pip-attest's ``.pth`` hook, with
   ``PIP_ATTEST_ENFORCE`` unset, against the same interpreter without the hook (``-S`` is not
   used: the point is the real ``site`` path).

Attestations are minted by the project's throwaway Sigstore and verified by the unmodified
sigstore verifier. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.index_server import IndexServer  # noqa: E402
from tests.support.packages import make_graph  # noqa: E402
from tests.support.throwaway_sigstore import ThrowawaySigstore, github  # noqa: E402
from tests.support.venvs import (  # noqa: E402
    PIP_NEWEST,
    REPO,
    build_wheelhouse,
    layered_venv,
    make_template,
)


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def bench_install(work: Path, rounds: int, packages: int) -> tuple[float, float, float]:
    home = work / "home"
    home.mkdir()
    wheelhouse = build_wheelhouse(REPO / ".test-cache", work / "wh-home")
    template = make_template(work / "template", wheelhouse, PIP_NEWEST, work / "tpl-home")
    sig = ThrowawaySigstore()
    root_json = sig.write_trusted_root(work / "trusted_root.json")
    root, wheels = make_graph(work / "dists", packages)
    plain_times: list[float] = []
    attest_times: list[float] = []
    with IndexServer() as index:
        for wheel in wheels:
            index.add_file(wheel, provenance=sig.provenance(wheel, github(f"bench/{wheel.name}")))
        for i in range(rounds + 1):  # round 0 warms pip's HTTP cache and is not counted
            for kind in ("plain", "attest"):
                venv = layered_venv(work / f"v-{kind}-{i}", template, home, PIP_NEWEST)
                env = venv.env()
                base = [str(venv.python), "-m"]
                args = ["install", "-i", index.simple_url, "--no-compile", root]
                if kind == "plain":
                    cmd = [*base, "pip", *args]
                else:
                    cmd = [
                        *base,
                        "pip_attest",
                        *args[:1],
                        "--trust-root",
                        str(root_json),
                        *args[1:],
                    ]
                elapsed = _timed(cmd, env)
                if i:
                    (plain_times if kind == "plain" else attest_times).append(elapsed)
    plain = statistics.median(plain_times)
    attest = statistics.median(attest_times)
    return plain, attest, attest / plain


def bench_startup(work: Path, rounds: int) -> tuple[float, float, float]:
    wheelhouse = build_wheelhouse(REPO / ".test-cache", work / "wh-home")
    template = make_template(work / "template", wheelhouse, PIP_NEWEST, work / "tpl-home")
    hooked = layered_venv(work / "s-hooked", template, work / "home", PIP_NEWEST)
    bare = layered_venv(work / "s-bare", template, work / "home", PIP_NEWEST)
    # Two bare venvs; one gets exactly pip-attest's .pth file, the other nothing at all.
    for venv in (hooked, bare):
        (venv.site / "_pip_attest_template.pth").unlink()
    hook = next(template.rglob("pip_attest_hook.pth"))
    (hooked.site / hook.name).write_text(hook.read_text())
    one = [str(hooked.python), "-c", "pass"]
    two = [str(bare.python), "-c", "pass"]
    env = hooked.env()
    with_hook: list[float] = []
    without: list[float] = []
    for _ in range(rounds):
        with_hook.append(_timed(one, env))
        without.append(_timed(two, env))
    a, b = statistics.median(with_hook), statistics.median(without)
    return a * 1000, b * 1000, (a - b) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--packages", type=int, default=30)
    parser.add_argument("--startup-rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain, attest, ratio = bench_install(work, args.rounds, args.packages)
        hooked, bare, delta = bench_startup(work, args.startup_rounds)
    print("| benchmark | baseline | pip-attest | ratio / cost |")
    print("|---|---|---|---|")
    print(
        f"| install {args.packages} attested wheels (median of {args.rounds}) "
        f"| pip {plain:.2f} s | {attest:.2f} s | {ratio:.2f}x |"
    )
    print(
        f"| interpreter start-up, hook present, variable unset "
        f"(median of {args.startup_rounds}) | {bare:.1f} ms | {hooked:.1f} ms | {delta:+.2f} ms |"
    )


if __name__ == "__main__":
    main()
