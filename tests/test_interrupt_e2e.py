"""Runs killed mid-way (SIGINT or SIGKILL, at seeded random moments) leave every store
pip-attest keeps readable and consistent: the first-seen records, the verification cache
and the trust root. The next run behaves as if the killed ones never happened, except
for what they completed."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.index_server import Fault, IndexServer
from tests.support.packages import make_graph
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import Venv

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]


def store_files(home: Path) -> list[Path]:
    """Every file pip-attest keeps under this home's cache and data directories."""
    roots = [home / "cache" / "pip-attest", home / "data" / "pip-attest"]
    return [p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()]


def assert_stores_consistent(home: Path, venv: Venv) -> None:
    for path in store_files(home):
        if path.name.endswith((".tmp", ".lock")) or path.suffix not in (".json", ""):
            continue  # leftovers of a killed atomic write are never read
        if path.suffix == ".json":
            json.loads(path.read_bytes())  # complete, never torn
    listed = venv.pip_attest("trust", "list", "--format", "json")
    assert listed.returncode == 0, listed.output
    assert json.loads(listed.stdout)["errors"] == []


def test_killed_runs_leave_the_stores_consistent(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    root, wheels = make_graph(tmp_path, 12, prefix="killme")
    for wheel in wheels:
        project = wheel.name.split("-")[0].replace("_", "-")
        index.add_file(
            wheel, provenance=sigstore_instance.provenance(wheel, github(f"ex/{project}"))
        )
        # Slow provenance answers widen the window in which a kill lands mid-verification.
        index.fault(index.provenance_path(wheel.name), Fault(delay=0.05))
    rng = random.Random(740)  # noqa: S311 - reproducible kill times, not cryptography
    first = make_venv()
    home = first.home

    for attempt in range(5):
        venv = first if attempt == 0 else make_venv(home=home)
        proc = subprocess.Popen(
            [
                str(venv.python),
                "-m",
                "pip_attest",
                "install",
                "-i",
                index.simple_url,
                "--trust-root",
                str(minted_root),
                root,
            ],
            env=venv.env(),
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.2, 2.0))
        proc.send_signal(rng.choice([signal.SIGINT, signal.SIGKILL]))
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        assert_stores_consistent(home, venv)

    final = make_venv(home=home)
    result = final.pip_attest(
        "install", "-i", index.simple_url, "--trust-root", str(minted_root), root
    )
    assert result.returncode == 0, result.output
    assert len({n for n in final.installed() if n.startswith("killme")}) == 12
    listed = json.loads(final.pip_attest("trust", "list", "--format", "json").stdout)
    assert {p["project"]: [i["identity"] for i in p["identities"]] for p in listed["projects"]} == {
        f"killme-{i}": [f"github:ex/killme-{i}/release.yml"] for i in range(12)
    }
    assert_stores_consistent(home, final)
