"""``pip-attest audit`` of a real installed tree, against the ``pip install`` that made it.

    python benchmarks/bench_audit.py [--rounds N] [--requirement REQ] [--latency SEC]
                                     [--compile] [--no-pep658]

The workload is bench_realtree's (branch ``real-tree``): the real wheels of a large tree
(default ``jupyterlab``, about 90 wheels), downloaded once from the package registry for
this Python and platform, each attested by the throwaway Sigstore (one GitHub publisher per
project) and served from the loopback index as PyPI serves them: PEP 658 metadata, PyPI's
caching headers, and a fixed delay before every response (``--latency``, 25 ms: a CI runner
talking to a CDN).

Every round, in a fresh venv with an empty home:

1. ``install``: plain ``pip install`` of the tree (the baseline; ``--ignore-installed`` and
   ``--trusted-host 127.0.0.1`` as in bench_realtree, ``--no-compile`` unless ``--compile``);
2. ``audit, same machine``: ``pip-attest audit --path <site-packages>`` with the home that
   install used: pip's HTTP cache holds the wheels (the CI job that audits what it just
   built), pip-attest's caches are empty;
3. ``audit, cold``: the same audit from a new, empty home: every page, provenance and wheel
   is fetched and every attestation verified (an image audited on another machine);
4. ``audit, warm``: that audit again, with the caches it has just filled.

Each audit must report every distribution verified. Reported: the median time of each, and
the median of the per-round ratios of each audit to that round's install (paired), with the
CPU seconds (user + system, child processes included: the verification helper). Round 0 is
not counted: it fills the operating system's caches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
    isolated_env,
    layered_venv,
    make_template,
)

CASES = ("install", "audit-same-machine", "audit-cold", "audit-warm")


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float


@dataclass
class AuditTimes:
    requirement: str
    files: int
    latency: float
    compiled: bool
    runs: dict[str, list[Run]] = field(default_factory=lambda: {c: [] for c in CASES})

    @staticmethod
    def _value(run: Run, what: str) -> float:
        return run.wall if what == "wall" else run.cpu

    def median(self, case: str, what: str = "wall") -> float:
        return statistics.median(self._value(r, what) for r in self.runs[case])

    def ratio(self, case: str, what: str = "wall") -> float:
        pairs = zip(self.runs[case], self.runs["install"], strict=True)
        return statistics.median(self._value(a, what) / self._value(i, what) for a, i in pairs)

    def spread(self, case: str) -> str:
        walls = [r.wall for r in self.runs[case]]
        return f"{min(walls):.2f}–{max(walls):.2f}"


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[Run, str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if code != 0:
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(cmd)}\n{stderr[-4000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime), stderr


def _template(work: Path) -> Path:
    cache = Path(os.environ.get("PIP_ATTEST_TEST_CACHE", str(REPO / ".test-cache")))
    wheelhouse = build_wheelhouse(cache, work / "wh-home")
    return make_template(work / "template", wheelhouse, PIP_NEWEST, work / "tpl-home")


def bench_audit(
    work: Path,
    rounds: int,
    requirement: str = "jupyterlab",
    *,
    latency: float = 0.025,
    compile_: bool = False,
    pep658: bool = True,
    log: bool = True,
) -> AuditTimes:
    template = _template(work)
    dists = download(
        [requirement],
        work / "dists",
        default_cache(work / "registry-cache"),
        home=work / "download-home",
    )
    sig = ThrowawaySigstore()
    trust_root = sig.write_trusted_root(work / "trusted_root.json")
    results = AuditTimes(requirement, len(dists), latency, compile_)
    verified = f"pip-attest: audited {len(dists)} distributions: {len(dists)} verified\n"
    if log:
        print(
            f"{requirement}: {len(dists)} wheels, {latency * 1000:.0f} ms per response, "
            f"{'compiled' if compile_ else '--no-compile'}",
            file=sys.stderr,
        )
    with IndexServer(pypi_caching=True, latency=latency) as index:
        for dist in dists:
            project = parse_wheel_filename(dist.name)[0]
            provenance = sig.provenance(dist, github(f"{project}/{project}"))
            index.add_file(dist, provenance=provenance, metadata=pep658)
        common = ["-i", index.simple_url, "--trusted-host", "127.0.0.1"]
        for i in range(rounds + 1):
            home, fresh = work / f"home-{i}", work / f"fresh-{i}"
            home.mkdir()
            fresh.mkdir()
            venv: Venv = layered_venv(work / f"v-{i}", template, home, PIP_NEWEST)
            install = [str(venv.python), "-m", "pip", "install", *common, "--ignore-installed"]
            install += [] if compile_ else ["--no-compile"]
            audit = [str(venv.python), "-m", "pip_attest", "audit", "--path", str(venv.site)]
            audit += [*common, "--trust-root", str(trust_root)]
            timed: dict[str, Run] = {}
            timed["install"], _ = measure([*install, requirement], venv.env(), home)
            for case, env_home in (
                ("audit-same-machine", home),
                ("audit-cold", fresh),
                ("audit-warm", fresh),
            ):
                run, stderr = measure(audit, isolated_env(env_home), env_home)
                if verified not in stderr:
                    raise SystemExit(f"{case}: not every distribution verified:\n{stderr[-4000:]}")
                timed[case] = run
            for case, run in timed.items():
                if i:
                    results.runs[case].append(run)
                if log:
                    print(
                        f"round {i}{'' if i else ' (not counted)'} {case:<19} "
                        f"{run.wall:6.2f} s wall {run.cpu:6.2f} s CPU",
                        file=sys.stderr,
                    )
            shutil.rmtree(work / f"v-{i}")
            shutil.rmtree(home)
            shutil.rmtree(fresh)
    return results


def rows(t: AuditTimes) -> list[str]:
    n = len(t.runs["install"])
    what = f"`{t.requirement}`, {t.files} real attested wheels, {t.latency * 1000:.0f} ms latency"
    compiled = ", compiled" if t.compiled else ""
    out = [
        f"| install {what}{compiled} (plain pip, empty home; median of {n}) "
        f"| {t.median('install'):.2f} s | {t.median('install', 'cpu'):.2f} s CPU | 1.00x |"
    ]
    labels = {
        "audit-same-machine": "audit it, same home (pip's HTTP cache holds the wheels)",
        "audit-cold": "audit it from an empty home (fetch and verify everything)",
        "audit-warm": "audit it again (audit and verification caches warm)",
    }
    for case, label in labels.items():
        out.append(
            f"| {label} | {t.median(case):.2f} s | {t.median(case, 'cpu'):.2f} s CPU "
            f"| {t.ratio(case):.2f}x (CPU {t.ratio(case, 'cpu'):.2f}x) |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requirement", default="jupyterlab")
    parser.add_argument("--latency", type=float, default=0.025, help="seconds per response")
    parser.add_argument("--compile", action="store_true", help="let pip byte-compile")
    parser.add_argument("--no-pep658", action="store_true", help="serve no PEP 658 metadata")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = bench_audit(
            Path(tmp),
            args.rounds,
            args.requirement,
            latency=args.latency,
            compile_=args.compile,
            pep658=not args.no_pep658,
        )
        print("| run | wall (median) | CPU (median) | against the install (paired) |")
        print("|---|---|---|---|")
        for row in rows(times):
            print(row)
        print()
        for case in CASES:
            print(f"{case}: {times.spread(case)} s wall")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
