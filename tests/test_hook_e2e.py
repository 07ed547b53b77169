"""The ``.pth`` hook itself, in venvs where pip-attest is really installed: what uninstalling
leaves behind, failing closed when the hook cannot load, running once however often the
``.pth`` is processed, staying out of start-up when the variable is unset, and importing
nothing once pip 26.1+ has started blocking imports."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.version import Version

from tests.support.index_server import IndexServer
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import Faults, ThrowawaySigstore, github
from tests.support.venvs import PIP_VERSIONS, Result, Venv

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]
ENFORCE = {"PIP_ATTEST_ENFORCE": "1"}
HOOK_PTH = "pip_attest_hook.pth"
# pip releases that block imports once they start installing files.
BLOCKS_IMPORTS = Version("26.1")


def imported_modules(result: Result) -> set[str]:
    """Module names from ``python -X importtime`` output."""
    return {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def top_packages(modules: set[str], *names: str) -> set[str]:
    return {m for m in modules if m.split(".")[0] in names}


def shipped_pth(wheelhouse: Path) -> bytes:
    """The ``.pth`` inside the pip-attest wheel the venvs were installed from."""
    (wheel,) = wheelhouse.glob("pip_attest-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(HOOK_PTH)


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_uninstalling_pip_attest_removes_its_hook(
    fresh_venv: MakeVenv, wheelhouse: Path, tmp_path: Path, pip_version: str
) -> None:
    venv = fresh_venv(pip_version)
    pth = venv.site / HOOK_PTH
    assert pth.read_bytes() == shipped_pth(wheelhouse)
    # The hook is live: with the variable set, every interpreter start loads it.
    live = venv.run("-c", "import sys; print('pip_attest._pip._hook' in sys.modules)", env=ENFORCE)
    assert (live.returncode, live.stdout) == (0, "True\n"), live.output

    # Uninstalled with the variable still set, as in a CI image that sets it globally.
    removed = venv.pip("uninstall", "-y", "pip-attest", env=ENFORCE)

    assert removed.returncode == 0, removed.output
    assert "Successfully uninstalled pip-attest" in removed.stdout
    assert not pth.exists()
    assert not (venv.site / "pip_attest").exists()
    assert "pip-attest" not in venv.installed()
    quiet = venv.run("-c", "pass", env=ENFORCE)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    after = venv.pip(
        "install", "--no-index", str(make_wheel(tmp_path, "after", "1.0")), env=ENFORCE
    )
    assert after.returncode == 0, after.output
    assert "pip-attest" not in after.output
    assert "after" in venv.installed()


def _remove_package(site: Path) -> None:
    """The package is gone but the .pth stayed (a half-done removal, a stray rm)."""
    shutil.rmtree(site / "pip_attest")


def _corrupt_hook(site: Path) -> None:
    """The hook module itself does not compile."""
    hook = site / "pip_attest" / "_pip" / "_hook.py"
    hook.unlink()  # a new file: the venv's files are hard links to a template's
    hook.write_text("def activate(:\n")
    for cached in (site / "pip_attest" / "_pip" / "__pycache__").glob("_hook.*.pyc"):
        cached.unlink()


def _remove_dependency(site: Path) -> None:
    """The hook loads, but what the seam needs does not (``pip uninstall packaging``; pip
    itself keeps working on its vendored copy)."""
    shutil.rmtree(site / "packaging")


BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "package-removed": (_remove_package, "ModuleNotFoundError: No module named 'pip_attest'"),
    "hook-corrupt": (_corrupt_hook, "SyntaxError"),
    "dependency-removed": (_remove_dependency, "No module named 'packaging'"),
}


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_hook_that_cannot_load_stops_pip_with_one_line_and_exit_2(
    installed_venv: MakeVenv, tmp_path: Path, breakage: str, pip_version: str
) -> None:
    venv = installed_venv(pip_version)
    breaker, cause = BREAKAGES[breakage]
    breaker(venv.site)
    assert (venv.site / HOOK_PTH).is_file()
    wheel = make_wheel(tmp_path / "dist", "victim", "1.0")

    result = venv.pip("install", "--no-index", str(wheel), env=ENFORCE)

    assert result.returncode == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("ERROR: pip-attest: the enforcement hook failed to load (")
    assert cause in line
    assert "pip will not run unguarded" in line
    assert "victim" not in venv.installed()
    # pip download is stopped the same way, before it fetches anything.
    downloads = tmp_path / "downloads"
    fetched = venv.pip("download", "--no-index", "-d", str(downloads), str(wheel), env=ENFORCE)
    assert fetched.returncode == 2, fetched.output
    assert not downloads.exists() or not any(downloads.iterdir())
    # Other programs are not pip: they start normally, and say nothing.
    other = venv.run("-c", "print('ok')", env=ENFORCE)
    assert (other.returncode, other.stdout, other.stderr) == (0, "ok\n", "")
    # Without the variable nothing is enforced, so nothing stops pip.
    plain = venv.pip("install", "--no-index", str(wheel))
    assert plain.returncode == 0, plain.output
    assert "victim" in venv.installed()


# Runs the .pth again (site.addsitedir processes every .pth in the directory each time),
# then pip in-process, and writes what it saw of the hook to argv[1].
_TWICE = """
import json, runpy, site, sys
finders = lambda: sum(type(f).__name__ == "_PostImportFinder" for f in sys.meta_path)
seen = {"at_start": finders()}
site.addsitedir(sys.argv[2])
site.addsitedir(sys.argv[2])
seen["after_rerun"] = finders()
from pip._internal.operations import prepare
seen["left"] = finders()  # still waiting for the other modules it guards
import pip._internal.cli.main_parser, pip._internal.commands.install
seen["done"] = finders()
func, depth = prepare._get_prepared_distribution, 0
while getattr(func, "__pip_attest_wrapped__", False):
    func, depth = func.__wrapped__, depth + 1
seen["wrapped"] = depth
with open(sys.argv[1], "w") as out:
    json.dump(seen, out)
sys.argv = ["pip", "install", "-i", sys.argv[3], "twice"]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_the_hook_acts_once_however_often_the_pth_runs(
    installed_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    wheel = make_wheel(tmp_path, "twice", "1.0")
    index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, github("example/twice")))
    venv = installed_venv(pip_version)
    seen_file = tmp_path / "seen.json"
    env = {**ENFORCE, "PIP_ATTEST_TRUST_ROOT": str(minted_root)}

    result = venv.run("-v", "-c", _TWICE, str(seen_file), str(venv.site), index.simple_url, env=env)

    assert result.returncode == 0, result.output[-3000:]
    # Processed at start-up (twice, in a venv, on CPython up to at least 3.12) and twice more.
    assert result.stderr.count(f"Processing .pth file: '{venv.site / HOOK_PTH}'") >= 3
    assert json.loads(seen_file.read_text()) == {
        "at_start": 1,
        "after_rerun": 1,
        "left": 1,
        "done": 0,
        "wrapped": 1,
    }
    assert result.stderr.count("pip-attest: checked 1 file: 1 verified") == 1
    assert "twice" in venv.installed()


def test_start_up_with_the_variable_unset_imports_no_pip_or_sigstore(
    installed_venv: MakeVenv,
) -> None:
    venv = installed_venv()

    result = venv.run("-X", "importtime", "-c", "pass")

    assert result.returncode == 0, result.stderr
    modules = imported_modules(result)
    heavy = ("pip", "sigstore", "pypi_attestations", "cryptography", "pydantic", "packaging")
    assert top_packages(modules, *heavy) == set()
    assert len(top_packages(modules, "pip_attest")) <= 1
    # Not vacuous: in this venv the .pth is processed, and with the variable set it loads
    # the hook module, still without pip or sigstore.
    hooked = imported_modules(venv.run("-X", "importtime", "-c", "pass", env=ENFORCE))
    assert "pip_attest._pip._hook" in hooked
    assert top_packages(hooked, "pip", "sigstore") == set()


# Records every import of pip-attest's code (or what it uses to verify) that happens after
# pip 26.1+ has started blocking imports, and whether an unrelated import was blocked at exit.
_LATE_IMPORTS = """
import atexit, json, runpy, sys
OURS = ("pip_attest", "sigstore", "pypi_attestations", "cryptography", "pydantic", "packaging",
        "filelock", "platformdirs", "tomli", "tomlkit", "requests", "urllib3")
late, probe_file = [], sys.argv[1]
def audit(event, args):
    if event == "import" and str(args[0]).split(".")[0] in OURS:
        install = sys.modules.get("pip._internal.commands.install")
        if getattr(install, "_ACTIVE_INSTALLATIONS", None):
            late.append(args[0])
sys.addaudithook(audit)
def probe():
    try:
        import sched  # nothing in a pip run imports it
        blocked = "no"
    except BaseException as err:
        blocked = type(err).__name__
    with open(probe_file, "w") as out:
        json.dump({"late": late, "blocked": blocked}, out)
atexit.register(probe)
sys.argv = ["pip", "install", "-i", sys.argv[2], "lateimports"]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_enforcement_imports_nothing_once_pip_blocks_imports(
    installed_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    wheel = make_wheel(tmp_path, "lateimports", "1.0")
    identity = github("example/lateimports")
    index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, identity))
    venv = installed_venv(pip_version)
    probe_file = tmp_path / "probe.json"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**ENFORCE, "PIP_ATTEST_TRUST_ROOT": str(minted_root), "TMPDIR": str(temp)}

    result = venv.run("-c", _LATE_IMPORTS, str(probe_file), index.simple_url, env=env)

    assert result.returncode == 0, result.output
    assert "pip-attest: checked 1 file: 1 verified" in result.stderr
    assert "lateimports" in venv.installed()
    assert "Blocked import" not in result.output and "Unsafe import" not in result.output
    probe = json.loads(probe_file.read_text())
    assert probe["late"] == []
    # Not vacuous: this pip really blocks imports from the install on, until exit.
    expected = "BlockedImportError" if Version(pip_version) >= BLOCKS_IMPORTS else "no"
    assert probe["blocked"] == expected
    # The results file the hook created for this run is gone (removed at exit, import-free).
    assert list(temp.glob("pip-attest-*")) == []
    # The first-seen record, written while pip installs, was not lost to the blocker.
    store = venv.home / "data" / "pip-attest" / "first-seen"
    assert json.loads((store / "lateimports.json").read_text())


def test_a_refusal_from_the_hook_leaves_no_results_file(
    installed_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    wheel = make_wheel(tmp_path, "refusedpkg", "1.0")
    faults = Faults(subject_digest="34" * 32)
    identity = github("example/refusedpkg")
    index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, identity, faults=faults))
    venv = installed_venv()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**ENFORCE, "PIP_ATTEST_TRUST_ROOT": str(minted_root), "TMPDIR": str(temp)}

    result = venv.pip("install", "-i", index.simple_url, "refusedpkg", env=env)

    assert result.returncode == 1, result.output
    assert "refusedpkg 1.0 (refusedpkg-1.0-py3-none-any.whl): invalid" in result.stderr
    assert "refusedpkg" not in venv.installed()
    assert list(temp.glob("pip-attest-*")) == []


def test_status_says_whether_the_hook_is_installed_and_active(
    installed_venv: MakeVenv, tmp_path: Path
) -> None:
    venv = installed_venv()
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.pip-attest]\nrequire-attestations = true\n", encoding="utf-8"
    )

    on = venv.pip_attest("status", "--format", "json", env=ENFORCE, cwd=project)
    off = venv.pip_attest("status", "--format", "json", cwd=project)

    assert on.returncode == 0, on.output
    active = json.loads(on.stdout)
    assert (active["hook_installed"], active["hook_active"], active["enforcing"]) == (
        True,
        True,
        True,
    )
    assert active["pip_supported"] is True
    assert active["pip_version"] == venv.pip_version
    assert active["require_attestations"] is True
    assert active["policy"]["policy_file"] == str(project / "pyproject.toml")
    assert active["trust_root_age_days"] is not None
    idle = json.loads(off.stdout)
    assert (idle["hook_installed"], idle["hook_active"], idle["enforcing"]) == (True, False, False)
