"""``pip-attest install`` against plain ``pip install``, and the ``.pth`` hook's start-up cost.

    python benchmarks/bench_install.py [--rounds N] [--packages N] [--pep658] [--baseline DIR]

1. Install: the same generated graph of attested wheels from a loopback index, four ways,
   each in a fresh venv and one after another in every round (so drift hits all alike):
   plain pip; pip-attest with an empty verification cache (cold); pip-attest with the cache
   the previous cold run filled (warm); and warm with ``PIP_ATTEST_FULL_EXIT=1``, which
   keeps the interpreter's teardown that pip-attest otherwise skips and plain pip pays (so
   that row shows pip-attest's own cost apart from that saving). pip's own caches are
   shared and warmed by an uncounted first round. The index sends PyPI's caching headers
   (pages and provenance fresh for 10 minutes, files for ever), so pip's HTTP cache works
   as it does against PyPI. The ratio reported is the median of the per-round ratios
   (paired), next to the median times.
   With ``--baseline DIR`` (a checkout of another revision, e.g. ``git worktree add
   /tmp/base REV``), every round also runs that revision cold and warm, right after this
   one, so that before and after are measured side by side under the same drift.
2. Start-up of an interpreter whose site-packages holds pip-attest's ``.pth`` hook, with
   ``PIP_ATTEST_ENFORCE`` unset, against the same interpreter without the hook (``-S`` is not
   used: the point is the real ``site`` path).

Attestations are minted by the project's throwaway Sigstore and verified by the unmodified
sigstore verifier. ``benchmarks/bench.py`` runs this and the verification throughput
benchmark and prints one table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.index_server import IndexServer  # noqa: E402
from tests.support.packages import make_graph  # noqa: E402
from tests.support.throwaway_sigstore import ThrowawaySigstore, github  # noqa: E402
from tests.support.venvs import (  # noqa: E402
    PIP_NEWEST,
    REPO,
    Venv,
    build_wheelhouse,
    isolated_env,
    layered_venv,
    make_template,
)


@dataclass(frozen=True)
class InstallTimes:
    plain: list[float]
    cold: list[float]
    warm: list[float]
    warm_full_exit: list[float]
    base_cold: list[float]
    base_warm: list[float]

    @staticmethod
    def _paired(attest: list[float], plain: list[float]) -> float:
        return statistics.median(a / p for a, p in zip(attest, plain, strict=True))

    @property
    def cold_ratio(self) -> float:
        return self._paired(self.cold, self.plain)

    @property
    def warm_ratio(self) -> float:
        return self._paired(self.warm, self.plain)

    @property
    def warm_full_exit_ratio(self) -> float:
        return self._paired(self.warm_full_exit, self.plain)

    def ratio(self, attest: list[float]) -> float:
        return self._paired(attest, self.plain)


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def _template(work: Path) -> Path:
    wheelhouse = build_wheelhouse(REPO / ".test-cache", work / "wh-home")
    return make_template(work / "template", wheelhouse, PIP_NEWEST, work / "tpl-home")


def _baseline_template(work: Path, tree: Path) -> Path:
    """A template like :func:`_template` with the pip-attest of another checkout, its
    dependencies from this checkout's wheelhouse (a superset, as long as none was
    dropped since)."""
    wheelhouse = build_wheelhouse(REPO / ".test-cache", work / "wh-home")
    env = isolated_env(work / "tpl-home")
    built = work / "baseline-wheel"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", "-w", str(built), str(tree)], env=env, check=True
    )
    where = work / "baseline-template"
    subprocess.run([sys.executable, "-m", "venv", str(where)], env=env, check=True)
    py = str(where / "bin" / "python")
    offline = ["install", "-q", "--no-index", "--find-links", str(wheelhouse)]
    subprocess.run([py, "-m", "pip", *offline, f"pip=={PIP_NEWEST}"], env=env, check=True)
    wheel = next(built.glob("pip_attest-*.whl"))
    subprocess.run([py, "-m", "pip", *offline, str(wheel)], env=env, check=True)
    return where


def _command(kind: str, venv: Venv, index_url: str, root: str, trust_root: Path) -> list[str]:
    # --trusted-host: pip caches HTTP responses only from https and trusted hosts, and
    # PyPI is https. Without it, pip would download every file again on every run here.
    args = ["install", "-i", index_url, "--trusted-host", "127.0.0.1", "--no-compile", root]
    if kind == "plain":
        return [str(venv.python), "-m", "pip", *args]
    return [
        str(venv.python),
        "-m",
        "pip_attest",
        "install",
        "--trust-root",
        str(trust_root),
        *args[1:],
    ]


def bench_install(
    work: Path, rounds: int, packages: int, *, pep658: bool, baseline: Path | None = None
) -> InstallTimes:
    home = work / "home"
    home.mkdir()
    verified = home / "cache" / "pip-attest" / "verified"
    template = _template(work)
    base_template = _baseline_template(work, baseline) if baseline else None
    sig = ThrowawaySigstore()
    trust_root = sig.write_trusted_root(work / "trusted_root.json")
    root, wheels = make_graph(work / "dists", packages)
    times: dict[str, list[float]] = {"plain": [], "cold": [], "warm": [], "warm-full-exit": []}
    if base_template is not None:
        times.update({"base-cold": [], "base-warm": []})
    with IndexServer(pypi_caching=True) as index:
        for wheel in wheels:
            index.add_file(
                wheel,
                provenance=sig.provenance(wheel, github(f"bench/{wheel.name}")),
                metadata=pep658,
            )
        for i in range(rounds + 1):  # round 0 warms pip's caches and is not counted
            for kind in times:
                if kind.endswith("cold"):
                    shutil.rmtree(verified, ignore_errors=True)
                base = kind.startswith("base-") and base_template is not None
                tpl = base_template if base and base_template is not None else template
                venv = layered_venv(work / f"v-{kind}-{i}", tpl, home, PIP_NEWEST)
                cmd = _command(kind, venv, index.simple_url, root, trust_root)
                env = venv.env()
                if kind == "warm-full-exit":
                    env["PIP_ATTEST_FULL_EXIT"] = "1"
                elapsed = _timed(cmd, env)
                if kind.endswith("warm") and not any(verified.rglob("*.json")):
                    raise SystemExit("the cold run left no verification cache entries")
                if i:
                    times[kind].append(elapsed)
                shutil.rmtree(venv.path, ignore_errors=True)
    return InstallTimes(
        times["plain"],
        times["cold"],
        times["warm"],
        times["warm-full-exit"],
        times.get("base-cold", []),
        times.get("base-warm", []),
    )


def bench_startup(work: Path, rounds: int) -> tuple[float, float]:
    """Median start-up in ms: (without the hook, with it)."""
    template = _template(work)
    hooked = layered_venv(work / "s-hooked", template, work / "home-s", PIP_NEWEST)
    bare = layered_venv(work / "s-bare", template, work / "home-s", PIP_NEWEST)
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
    return statistics.median(without) * 1000, statistics.median(with_hook) * 1000


def install_rows(times: InstallTimes, packages: int, pep658: bool) -> list[str]:
    n = len(times.plain)
    what = f"install {packages} attested wheels, loopback index{', PEP 658' if pep658 else ''}"
    plain = statistics.median(times.plain)
    return [
        f"| {what}, verification cache cold (median of {n}, paired) "
        f"| pip {plain:.2f} s | {statistics.median(times.cold):.2f} s "
        f"| {times.cold_ratio:.2f}x |",
        f"| {what}, verification cache warm (median of {n}, paired) "
        f"| pip {plain:.2f} s | {statistics.median(times.warm):.2f} s "
        f"| {times.warm_ratio:.2f}x |",
        f"| {what}, cache warm, `PIP_ATTEST_FULL_EXIT=1` (median of {n}, paired) "
        f"| pip {plain:.2f} s | {statistics.median(times.warm_full_exit):.2f} s "
        f"| {times.warm_full_exit_ratio:.2f}x |",
    ] + (
        [
            f"| {what}, cache cold, the baseline revision (median of {n}, paired) "
            f"| pip {plain:.2f} s | {statistics.median(times.base_cold):.2f} s "
            f"| {times.ratio(times.base_cold):.2f}x |",
            f"| {what}, cache warm, the baseline revision (median of {n}, paired) "
            f"| pip {plain:.2f} s | {statistics.median(times.base_warm):.2f} s "
            f"| {times.ratio(times.base_warm):.2f}x |",
        ]
        if times.base_cold
        else []
    )


def startup_row(bare: float, hooked: float, rounds: int) -> str:
    return (
        f"| interpreter start-up, hook present, `PIP_ATTEST_ENFORCE` unset (median of {rounds}) "
        f"| {bare:.1f} ms | {hooked:.1f} ms | {hooked - bare:+.2f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--packages", type=int, default=30)
    parser.add_argument("--startup-rounds", type=int, default=200)
    parser.add_argument("--pep658", action="store_true", help="serve PEP 658 metadata")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout of another revision, run side by side"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        times = bench_install(
            work, args.rounds, args.packages, pep658=args.pep658, baseline=args.baseline
        )
        bare, hooked = bench_startup(work, args.startup_rounds)
    print("| benchmark | baseline | pip-attest | ratio / cost |")
    print("|---|---|---|---|")
    for row in install_rows(times, args.packages, args.pep658):
        print(row)
    print(startup_row(bare, hooked, args.startup_rounds))


if __name__ == "__main__":
    main()
