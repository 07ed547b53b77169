"""``pip-attest install`` of a real tree against plain ``pip install``: CI-cold and dev-warm.

    python benchmarks/bench_realtree.py [--rounds N] [--requirement REQ] [--latency SEC]
                                        [--compile] [--no-pep658] [--nice N]

The workload is the real wheels of a large tree (default ``jupyterlab``, about 90 wheels),
downloaded once from the package registry for this Python and platform, each attested by
the throwaway Sigstore (one GitHub publisher per project) and served from the loopback index
as PyPI serves them: PEP 658 metadata, PyPI's caching headers, and a fixed delay before every
response (``--latency``, 25 ms: a CI runner talking to a CDN).

Every round has two cases, and in each plain pip and pip-attest run one after the other,
each in a fresh venv (which side goes first alternates from round to round, so that drift
does not favour one: use an even number of rounds; the report shows the ratios by order):

- CI-cold: a new, empty home for each side, so no pip cache and an empty verification cache;
- dev-warm: a new venv again, with the home that side's cold run has just filled (pip's HTTP
  cache, and for pip-attest also its verification cache and its run memo).

Both sides pass ``--ignore-installed``: pip-attest's own dependencies (requests, packaging,
platformdirs, …) are importable in the venv it runs in, and pip would otherwise keep those
and install fewer files than plain pip does; with it, both install the whole tree. Both pass
``--trusted-host 127.0.0.1`` (pip caches HTTP responses only from https and trusted hosts,
and PyPI is https) and, unless ``--compile``, ``--no-compile``, as bench_install.py does.

Reported: the median of the per-round ratios (paired), the median times, and for the cold
case the CPU seconds (user + system) of each side's whole process tree: the run and every
process it waited for (pip-attest's verification helper), read with ``os.wait4``. The
benchmark makes itself a child subreaper (Linux) and reaps any process a run left behind,
so that its CPU time counts too; a run that leaves one is reported.

Round 0 is not counted: it fills the operating system's caches (the template venv, the
wheels in memory). Every venv and home stays on disk until the end (for ``jupyterlab``,
about 0.8 GB a round), because deleting them between rounds slowed the next run. It needs
the package registry; ``benchmarks/bench.py --realtree`` runs it with the other benchmarks.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packaging.utils import parse_wheel_filename  # noqa: E402
from tests.support.index_server import IndexServer  # noqa: E402
from tests.support.registry import default_cache, download  # noqa: E402
from tests.support.throwaway_sigstore import ThrowawaySigstore, github  # noqa: E402
from tests.support.venvs import (  # noqa: E402
    PIP_NEWEST,
    REPO,
    Venv,
    build_wheelhouse,
    layered_venv,
    make_template,
)

SIDES = ("plain", "attest")
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Run:
    wall: float  # seconds until the run's own process ended
    cpu: float  # user + system seconds of the run and every process it (or we) reaped


@dataclass
class RealTreeTimes:
    requirement: str
    files: int
    latency: float
    runs: dict[str, list[Run]] = field(
        default_factory=lambda: {f"{s}-{c}": [] for c in ("cold", "warm") for s in SIDES}
    )
    stragglers: int = 0  # processes a run left behind (reaped by the benchmark)
    loads: list[float] = field(default_factory=list)  # 1-minute load average at each start
    first: list[str] = field(default_factory=list)  # the side that ran first, each round

    def values(self, side: str, case: str, what: str = "wall") -> list[float]:
        runs = self.runs[f"{side}-{case}"]
        return [r.wall for r in runs] if what == "wall" else [r.cpu for r in runs]

    def ratios(self, case: str, what: str = "wall") -> list[float]:
        plain, attest = self.values("plain", case, what), self.values("attest", case, what)
        return [a / p for a, p in zip(attest, plain, strict=True)]

    def ratio(self, case: str, what: str = "wall") -> float:
        return statistics.median(self.ratios(case, what))

    def median(self, side: str, case: str, what: str = "wall") -> float:
        return statistics.median(self.values(side, case, what))

    def spread(self, side: str, case: str, what: str = "wall") -> str:
        values = self.values(side, case, what)
        return f"{min(values):.2f}–{max(values):.2f}"


def _make_subreaper() -> bool:
    """Orphans of a run (a helper its parent did not wait for) become our children, so that
    we can reap them and count their CPU time. Linux only; elsewhere they are not counted."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def _reap_stragglers(grace: float = 5.0) -> tuple[int, float]:
    """Wait (up to ``grace`` seconds) for processes a run left behind; (count, CPU seconds)."""
    count, cpu = 0, 0.0
    deadline = time.monotonic() + grace
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return count, cpu
        if pid:
            count += 1
            cpu += usage.ru_utime + usage.ru_stime
        elif time.monotonic() > deadline:
            return count, cpu
        else:
            time.sleep(0.01)


def measure(cmd: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[Run, str, int]:
    """Run ``cmd``; (its wall time and process-tree CPU, its stderr, stragglers)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        strays, stray_cpu = _reap_stragglers()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{stdout[-2000:]}\n{stderr[-4000:]}"
        )
    return Run(wall, usage.ru_utime + usage.ru_stime + stray_cpu), stderr, strays


def _template(work: Path) -> Path:
    cache = Path(os.environ.get("PIP_ATTEST_TEST_CACHE", str(REPO / ".test-cache")))
    wheelhouse = build_wheelhouse(cache, work / "wh-home")
    return make_template(work / "template", wheelhouse, PIP_NEWEST, work / "tpl-home")


def _command(
    side: str, venv: Venv, index_url: str, requirement: str, options: Sequence[str], root: Path
) -> list[str]:
    args = ["-i", index_url, "--trusted-host", "127.0.0.1", "--ignore-installed", *options]
    if side == "plain":
        return [str(venv.python), "-m", "pip", "install", *args, requirement]
    ours = ["--trust-root", str(root)]
    return [str(venv.python), "-m", "pip_attest", "install", *ours, *args, requirement]


def _installed(venv: Venv) -> int:
    return sum(1 for _ in venv.site.glob("*.dist-info"))


def bench_realtree(
    work: Path,
    rounds: int,
    requirement: str = "jupyterlab",
    *,
    latency: float = 0.025,
    compile_: bool = False,
    pep658: bool = True,
    log: bool = True,
) -> RealTreeTimes:
    subreaper = _make_subreaper()
    template = _template(work)
    dists = download(
        [requirement],
        work / "dists",
        default_cache(work / "registry-cache"),
        home=work / "download-home",
    )
    sig = ThrowawaySigstore()
    trust_root = sig.write_trusted_root(work / "trusted_root.json")
    options = [] if compile_ else ["--no-compile"]
    results = RealTreeTimes(requirement, len(dists), latency)
    summary = f"pip-attest: checked {len(dists)} files: {len(dists)} verified\n"
    if log:
        print(
            f"{requirement}: {len(dists)} wheels, {latency * 1000:.0f} ms per response, "
            f"{'with' if pep658 else 'without'} PEP 658 metadata, "
            f"{'compiling' if compile_ else '--no-compile'}, "
            f"stragglers {'reaped' if subreaper else 'not counted'}",
            file=sys.stderr,
        )
    with IndexServer(pypi_caching=True, latency=latency) as index:
        for dist in dists:
            project = parse_wheel_filename(dist.name)[0]
            provenance = sig.provenance(dist, github(f"{project}/{project}"))
            index.add_file(dist, provenance=provenance, metadata=pep658)
        for i in range(rounds + 1):  # round 0 fills the OS's caches and is not counted
            order = SIDES if i % 2 == 0 else SIDES[::-1]
            if i:
                results.first.append(order[0])
            homes = {side: work / f"home-{side}-{i}" for side in SIDES}
            for case in ("cold", "warm"):
                for side in order:
                    homes[side].mkdir(exist_ok=True)
                    venv = layered_venv(
                        work / f"v-{side}-{case}-{i}", template, homes[side], PIP_NEWEST
                    )
                    cmd = _command(side, venv, index.simple_url, requirement, options, trust_root)
                    # Untimed: the last run's writes reach the disk now, not during this run.
                    os.sync()
                    load = os.getloadavg()[0]
                    run, stderr, strays = measure(cmd, venv.env(), homes[side])
                    if side == "attest" and summary not in stderr:
                        raise SystemExit(f"pip-attest did not verify every file:\n{stderr[-4000:]}")
                    if _installed(venv) != len(dists):
                        raise SystemExit(
                            f"{side} {case}: {_installed(venv)} of {len(dists)} installed"
                        )
                    if i:
                        results.runs[f"{side}-{case}"].append(run)
                        results.stragglers += strays
                        results.loads.append(load)
                    if log:
                        print(
                            f"round {i}{'' if i else ' (not counted)'} {case:<4} {side:<6} "
                            f"{run.wall:6.2f} s wall {run.cpu:6.2f} s CPU, load {load:.1f}"
                            + (f" ({strays} left behind)" if strays else ""),
                            file=sys.stderr,
                        )
            # Nothing is deleted until the end (the caller's temporary folder): on this
            # discard-mounted disk, deleting a round's venvs slowed the next round's first
            # run by a third, whichever side it was, even after a sync.
    return results


def rows(t: RealTreeTimes) -> list[str]:
    n = len(t.runs["plain-cold"])
    latency = f"{t.latency * 1000:.0f} ms latency"
    what = f"install `{t.requirement}` ({t.files} real attested wheels, {latency})"
    cpu = {side: t.median(side, "cold", "cpu") for side in SIDES}
    return [
        f"| {what}, CI-cold: no pip cache, empty verification cache (median of {n}, paired) "
        f"| pip {t.median('plain', 'cold'):.2f} s | {t.median('attest', 'cold'):.2f} s "
        f"| {t.ratio('cold'):.2f}x |",
        f"| same, dev-warm: pip cache and verification cache warm (median of {n}, paired) "
        f"| pip {t.median('plain', 'warm'):.2f} s | {t.median('attest', 'warm'):.2f} s "
        f"| {t.ratio('warm'):.2f}x |",
        f"| same, CI-cold, CPU seconds (user + system, child processes included) "
        f"| pip {cpu['plain']:.2f} s | {cpu['attest']:.2f} s "
        f"| {t.ratio('cold', 'cpu'):.2f}x |",
    ]


def details(t: RealTreeTimes) -> list[str]:
    """Every round's figures, for the record next to the medians."""
    lines = []
    for case in ("cold", "warm"):
        for what in ("wall", "cpu"):
            listed = ", ".join(f"{r:.3f}" for r in t.ratios(case, what))
            lines.append(
                f"{case} {what}: pip {t.spread('plain', case, what)} s, "
                f"pip-attest {t.spread('attest', case, what)} s; per-round ratios {listed}"
            )
    for case in ("cold", "warm"):
        by_order = []
        for side in SIDES:
            mine = [r for r, f in zip(t.ratios(case), t.first, strict=True) if f == side]
            if mine:
                by_order.append(f"{statistics.median(mine):.3f} ({len(mine)}) with {side} first")
        lines.append(f"{case} wall ratio by order: " + ", ".join(by_order))
    lines.append(f"load average at the runs' starts: {min(t.loads):.1f}–{max(t.loads):.1f}")
    if t.stragglers:
        lines.append(f"processes left behind by runs (reaped, CPU counted): {t.stragglers}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requirement", default="jupyterlab")
    parser.add_argument("--latency", type=float, default=0.025, help="seconds per response")
    parser.add_argument("--compile", action="store_true", help="let pip byte-compile")
    parser.add_argument("--no-pep658", action="store_true", help="serve no PEP 658 metadata")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="change this process's niceness (inherited by both sides' runs alike), e.g. -10 "
        "on a machine other work shares; lowering it needs privileges",
    )
    args = parser.parse_args()
    if args.nice:
        print(f"niceness {os.nice(args.nice)} for both sides", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        times = bench_realtree(
            Path(tmp),
            args.rounds,
            args.requirement,
            latency=args.latency,
            compile_=args.compile,
            pep658=not args.no_pep658,
        )
        # Printed before the folder is removed, which takes a while.
        print("| benchmark | baseline | pip-attest | ratio / cost |")
        print("|---|---|---|---|")
        for row in rows(times):
            print(row)
        print()
        for line in details(times):
            print(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
