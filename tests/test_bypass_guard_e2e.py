"""The ways around the guard of issue 16 other than file names, end to end: pip's
``--python`` (§2), dry runs under the hook (§3), pip's wheel cache (§5), local files
swapped between hashing and use (§6), and the smaller holes of §8 (the legacy resolver,
requirements pip names only by building them, the first install's check of the whole set).

Each run is a real pip in a real venv, from the loopback index or a find-links folder,
with attestations minted by the throwaway Sigstore and checked by the real verifier.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.version import Version

from tests.support.index_server import Fault, IndexServer
from tests.support.packages import make_sdist, make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_OLDEST, PIP_VERSIONS, Result, Venv
from tests.test_bypass_e2e import ENFORCE, PROJECT, REAL_WHEEL, never_built

pytestmark = pytest.mark.e2e
MakeVenv = Callable[..., Venv]
EVIL = '"""Planted."""\n\nEVIL = True\n'


def genuine_module(name: str, version: str) -> str:
    """What make_sdist and make_wheel put in ``<name>.py`` by default."""
    return f'"""Test package {name}."""\n\n__version__ = "{version}"\n'


def attest(index: IndexServer, sig: ThrowawaySigstore, path: Path, project: str) -> None:
    index.add_file(path, provenance=sig.provenance(path, github(f"example/{project}")))


def installed_module(venv: Venv, name: str) -> str:
    return (venv.site / f"{name}.py").read_text(encoding="utf-8")


def verified(result: Result, what: str, filename: str) -> bool:
    """The summary lists ``filename`` as verified (signed by the throwaway identity)."""
    row = rf"^\s+verified\s+{re.escape(what)}\s+{re.escape(filename)}\s+github:example/"
    return re.search(row, result.stderr, re.M) is not None


def serve_tampered(
    index: IndexServer, real: Path, tmp_path: Path, *, metadata: bool = False
) -> None:
    """Serve the real abi3info 2024.10.8 wheel with one module changed, with the real
    provenance; the index lists the tampered file's own sha256, so pip's hash check passes."""
    src = zipfile.ZipFile(real / REAL_WHEEL)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("__init__.py"):
                body += b"\nimport os  # injected\n"
            dst.writestr(info, body)
    tampered = tmp_path / "tampered" / REAL_WHEEL
    tampered.parent.mkdir()
    tampered.write_bytes(out.getvalue())
    provenance = (real / f"{REAL_WHEEL}.provenance").read_bytes()
    index.add_file(tampered, provenance=provenance, metadata=metadata)


TAMPERED_LINE = (
    f"{PROJECT} 2024.10.8 ({REAL_WHEEL}): invalid: digest mismatch: the file's sha256 is "
)


# -- 2. --python ---------------------------------------------------------------------------

PYTHON_WAYS = ["flag", "PIP_PYTHON", "pip.conf"]


def _python_elsewhere(how: str, other: Venv, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """pip's general options and environment that make it re-run itself under ``other``."""
    if how == "flag":
        return ["--python", str(other.python)], {}
    if how == "PIP_PYTHON":
        return [], {"PIP_PYTHON": str(other.python)}
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\npython = {other.python}\n", encoding="utf-8")
    return [], {"PIP_CONFIG_FILE": str(conf)}


def assert_python_refused(result: Result, other: Venv, prefix: str) -> None:
    assert result.returncode == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{prefix}pip's --python ({str(other.python)!r}; also set by "), line
    assert f"run pip-attest in that interpreter instead ({other.python} -m pip_attest" in line
    assert line.count(str(other.python)) == 2, line


@pytest.mark.parametrize("how", PYTHON_WAYS)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_python_elsewhere_installs_nothing_through_pip_attest_install(
    make_venv: MakeVenv, index: IndexServer, real: Path, tmp_path: Path, pip_version: str, how: str
) -> None:
    serve_tampered(index, real, tmp_path)
    venv, other = make_venv(pip_version), make_venv(pip_version)
    general, env = _python_elsewhere(how, other, tmp_path)

    # 'pip-attest install' takes pip install's arguments: the flag can only come after it.
    result = venv.pip_attest("install", *general, "-i", index.simple_url, PROJECT, env=env)

    assert result.returncode == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "--python" in line
    assert "Traceback" not in result.output
    assert index.paths() == []  # pip never looked for the file, here or there
    assert PROJECT not in venv.installed()
    assert PROJECT not in other.installed()


@pytest.mark.parametrize("how", PYTHON_WAYS)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_python_elsewhere_through_pip_attest_install_is_one_clear_line_and_exit_2(
    make_venv: MakeVenv, tmp_path: Path, pip_version: str, how: str
) -> None:
    """What the user sees in the cases above (which prove that nothing is installed)."""
    venv, other = make_venv(pip_version), make_venv(pip_version)
    general, env = _python_elsewhere(how, other, tmp_path)

    result = venv.pip_attest("install", *general, "--no-index", PROJECT, env=env)

    assert_python_refused(result, other, "pip-attest: error: ")
    assert PROJECT not in venv.installed()
    assert PROJECT not in other.installed()


@pytest.mark.parametrize("how", PYTHON_WAYS)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_python_elsewhere_is_refused_under_the_enforcement_hook(
    installed_venv: MakeVenv,
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    how: str,
) -> None:
    serve_tampered(index, real, tmp_path)
    venv, other = installed_venv(pip_version), make_venv(pip_version)
    general, env = _python_elsewhere(how, other, tmp_path)
    args = [*general, "install", "-i", index.simple_url, PROJECT]

    result = venv.pip(*args, env={**ENFORCE, **env})

    assert_python_refused(result, other, "ERROR: pip-attest: ")
    assert PROJECT not in venv.installed()
    assert PROJECT not in other.installed()
    # Not vacuous: without the variable, pip really installs the tampered wheel over there.
    plain = venv.pip(*args, env=env)
    assert plain.returncode == 0, plain.output
    assert PROJECT in other.installed()


# -- 3. dry runs under the hook ------------------------------------------------------------


@pytest.mark.parametrize("metadata", [False, True], ids=["downloaded", "pep658-metadata"])
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_dry_run_under_the_hook_refuses_a_tampered_wheel(
    installed_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
    metadata: bool,
) -> None:
    serve_tampered(index, real, tmp_path, metadata=metadata)
    venv = installed_venv(pip_version)
    report = tmp_path / "r.json"

    result = venv.pip(
        "install",
        "--dry-run",
        "--report",
        str(report),
        "-i",
        index.simple_url,
        PROJECT,
        env=ENFORCE,
    )

    assert result.returncode == 1, result.output
    assert TAMPERED_LINE in result.stderr
    assert "nothing was installed" in result.stderr
    assert not report.exists(), report.read_text()
    assert PROJECT not in venv.installed()
    # Both paths were taken: with PEP 658 metadata, pip 25.3 and later never fetch the
    # wheel itself in a dry run (before, the resolver downloaded it all the same).
    fetched = f"/files/{REAL_WHEEL}" in index.paths()
    dry_run_downloads = Version(pip_version) < Version("25.3")
    assert fetched is not metadata or dry_run_downloads, index.paths()


# -- 5. pip's wheel cache ------------------------------------------------------------------


def cached_wheels(home: Path) -> list[Path]:
    return sorted((home / "cache" / "pip" / "wheels").rglob("*.whl"))


def plant(home: Path, tmp_path: Path, name: str, version: str, *, beside: bool) -> Path:
    """Put other bytes in the cache entry of the one wheel pip built for ``name``, next to
    the ``origin.json`` pip wrote (which still names the attested sdist): under the same
    name, or (``beside``) next to it, under a build-tagged name pip's cache prefers."""
    (cached,) = cached_wheels(home)
    assert (cached.parent / "origin.json").is_file()
    evil = make_wheel(tmp_path / "planted", name, version, module_source=EVIL)
    assert evil.name == cached.name
    if beside:
        target = cached.with_name(cached.name.replace(f"-{version}-", f"-{version}-1-"))
    else:
        target = cached
        cached.unlink()
    shutil.copyfile(evil, target)
    return target


def install(venv: Venv, index: IndexServer, root: Path, mode: str, *args: str) -> Result:
    if mode == "hook":
        env = {**ENFORCE, "PIP_ATTEST_TRUST_ROOT": str(root)}
        return venv.pip("install", "-i", index.simple_url, *args, env=env)
    return venv.pip_attest("install", "-i", index.simple_url, "--trust-root", str(root), *args)


@pytest.mark.parametrize("mode", ["pip-attest", "hook"])
@pytest.mark.parametrize(
    "planted", ["over-a-pip-attest-build", "beside-a-pip-attest-build", "over-a-plain-pip-build"]
)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_a_planted_cached_wheel_is_never_installed(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
    planted: str,
    mode: str,
) -> None:
    """A wheel planted in pip's cache, next to an ``origin.json`` that names the attested
    sdist (as a restored CI cache can hold), after a build pip-attest watched or one it
    never saw: pip builds the verified sdist again and installs that."""
    sdist = make_sdist(tmp_path / "dist", "cachedpkg", "1.0")
    attest(index, sigstore_instance, sdist, "cachedpkg")
    first = make_venv(pip_version)
    if planted.endswith("pip-attest-build"):
        built = install(first, index, minted_root, "pip-attest", "cachedpkg")
    else:
        built = first.pip("install", "-i", index.simple_url, "cachedpkg")
    assert built.returncode == 0, built.output
    wheel = plant(first.home, tmp_path, "cachedpkg", "1.0", beside=planted.startswith("beside"))
    # Not vacuous: plain pip takes the planted wheel from that cache and installs it.
    unguarded = make_venv(pip_version, home=first.home)
    assert unguarded.pip("install", "-i", index.simple_url, "cachedpkg").returncode == 0
    assert installed_module(unguarded, "cachedpkg") == EVIL
    venv = make_venv(pip_version, home=first.home)

    result = install(venv, index, minted_root, mode, "cachedpkg")

    assert result.returncode == 0, result.output
    assert (
        f"not using pip's cached wheel {wheel.name}: nothing on record says "
        "pip-attest checked the source it was built from; building it again"
    ) in result.stderr
    assert verified(result, "cachedpkg 1.0", "cachedpkg-1.0.tar.gz")
    assert "[wheel-cache]" not in result.stderr
    assert installed_module(venv, "cachedpkg") == genuine_module("cachedpkg", "1.0")


# -- 6. a local file swapped between hashing and use ---------------------------------------

# Runs pip-attest (or, for the control, plain pip) in this interpreter, with one of pip's
# functions wrapped so that the original local file is overwritten with other bytes the
# moment pip uses it: just before it unpacks an sdist, or installs a wheel. argv: what to
# wrap, the original file, the file to overwrite it with, "pip-attest" or "pip", and the
# command's arguments.
_SWAP = """
import os, shutil, sys
what, original, evil, runner, *args = sys.argv[1:]
swapped = []
def swap():
    if not swapped:
        shutil.copyfile(evil, original)
        swapped.append(original)
if what == "install":
    from pip._internal.req.req_install import InstallRequirement
    install = InstallRequirement.install
    def swapping_install(self, *a, **k):
        swap()
        return install(self, *a, **k)
    InstallRequirement.install = swapping_install
else:
    from pip._internal.operations import prepare
    unpack_file = prepare.unpack_file
    def swapping_unpack_file(*a, **k):
        swap()
        return unpack_file(*a, **k)
    prepare.unpack_file = swapping_unpack_file
if runner == "pip":
    from pip._internal.cli.main import main
else:
    from pip_attest._cli import main
code = main(args)
sys.stderr.write(f"swapped: {swapped}\\n")
sys.stderr.flush()
os._exit(code or 0)
"""


def repack_sdist(sdist: Path, dest: Path, module: str, source: str) -> Path:
    """``sdist`` with one member's text replaced: same name, other bytes."""
    raw = io.BytesIO()
    with tarfile.open(sdist) as src, tarfile.open(fileobj=raw, mode="w") as out:
        for member in src.getmembers():
            data = src.extractfile(member)
            body = data.read() if data is not None else b""
            if member.name.endswith(f"/{module}"):
                body = source.encode()
                member.size = len(body)
            out.addfile(member, io.BytesIO(body))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / sdist.name
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return path


@pytest.mark.parametrize("given_as", ["find-links", "path", "file-url"])
@pytest.mark.parametrize("kind", ["wheel", "sdist"])
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_a_local_file_swapped_after_it_was_checked_is_not_what_pip_uses(
    make_venv: MakeVenv,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
    kind: str,
    given_as: str,
) -> None:
    links = tmp_path / "links"
    marker = tmp_path / "build-ran"
    if kind == "wheel":
        genuine = make_wheel(links, "swappkg", "1.0")
        evil = make_wheel(tmp_path / "evil", "swappkg", "1.0", module_source=EVIL)
        wrap = "install"
    else:
        genuine = make_sdist(links, "swappkg", "1.0")
        # The swapped-in sdist would log its build hooks and installs other code.
        marked = make_sdist(tmp_path / "marked", "swappkg", "1.0", marker=marker)
        evil = repack_sdist(marked, tmp_path / "evil", "swappkg.py", EVIL)
        wrap = "unpack"
    assert evil.name == genuine.name and evil.read_bytes() != genuine.read_bytes()
    provenance = sigstore_instance.provenance(genuine, github("example/swappkg"))
    Path(f"{genuine}.provenance").write_text(json.dumps(provenance))
    pristine = genuine.read_bytes()
    args = {
        "find-links": ["--no-index", "--find-links", str(links), "swappkg"],
        "path": ["--no-index", str(genuine)],
        "file-url": ["--no-index", f"swappkg @ {genuine.as_uri()}"],
    }[given_as]
    venv = make_venv(pip_version)

    result = venv.run(
        "-c",
        _SWAP,
        wrap,
        str(genuine),
        str(evil),
        "pip-attest",
        "install",
        "--trust-root",
        str(minted_root),
        *args,
    )

    assert result.returncode == 0, result.output
    assert f"swapped: [{str(genuine)!r}]" in result.stderr  # the swap happened, mid-run
    assert genuine.read_bytes() == evil.read_bytes()
    assert verified(result, "swappkg 1.0", genuine.name)
    assert installed_module(venv, "swappkg") == genuine_module("swappkg", "1.0")
    never_built(marker)
    # Not vacuous: plain pip, swapped the same way, installs (and builds) the other bytes.
    genuine.write_bytes(pristine)
    plain = make_venv(pip_version)
    control = plain.run("-c", _SWAP, wrap, str(genuine), str(evil), "pip", "install", *args)
    assert control.returncode == 0, control.output
    assert installed_module(plain, "swappkg") == EVIL


# -- 8. smaller holes ----------------------------------------------------------------------


def records(venv: Venv) -> dict[str, list[str]]:
    """The first-seen store as ``trust list --format json`` shows it: project → identities."""
    result = venv.pip_attest("trust", "list", "--format", "json")
    assert result.returncode == 0, result.output
    doc = json.loads(result.stdout)
    return {p["project"]: [i["identity"] for i in p["identities"]] for p in doc["projects"]}


@pytest.mark.skipif(PIP_OLDEST not in PIP_VERSIONS, reason="the legacy resolver is gone in 25.3")
def test_the_legacy_resolver_records_first_seen_publishers(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
) -> None:
    attest(index, sigstore_instance, make_wheel(tmp_path, "legacypkg", "1.0"), "legacypkg")
    attest(index, sigstore_instance, make_sdist(tmp_path, "legacysrc", "1.0"), "legacysrc")
    venv = make_venv(PIP_OLDEST)
    legacy = "--use-deprecated=legacy-resolver"

    result = install(venv, index, minted_root, "pip-attest", legacy, "legacypkg", "legacysrc")

    assert result.returncode == 0, result.output
    assert verified(result, "legacypkg 1.0", "legacypkg-1.0-py3-none-any.whl")
    assert verified(result, "legacysrc 1.0", "legacysrc-1.0.tar.gz")
    assert {"legacypkg", "legacysrc"} <= venv.installed()
    assert records(venv) == {
        "legacypkg": ["github:example/legacypkg/release.yml"],
        "legacysrc": ["github:example/legacysrc/release.yml"],
    }
    # And the record is enforced: the next release, signed by someone else, is refused.
    wheel = make_wheel(tmp_path / "next", "legacypkg", "2.0")
    index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, github("takeover/x")))
    later = make_venv(PIP_OLDEST, home=venv.home)
    refused = install(later, index, minted_root, "pip-attest", legacy, "legacypkg==2.0")
    assert refused.returncode == 1, refused.output
    assert "legacypkg 2.0 (legacypkg-2.0-py3-none-any.whl): unexpected-publisher: " in (
        refused.stderr
    )
    assert "legacypkg" not in later.installed()


NAMELESS = {
    # form: (the refusal's status, what its reason must say)
    "url-named-for-it": ("downgrade", "pinnedsrc is pinned (--publisher / PIP_ATTEST_PUBLISHER)"),
    "url-named-for-another": ("invalid", "does not name project pinnedsrc"),
    "url-without-a-file-name": ("invalid", "is not that of a distribution of pinnedsrc"),
    "directory": ("downgrade", "pinnedsrc is pinned (--publisher / PIP_ATTEST_PUBLISHER)"),
}


@pytest.mark.parametrize("form", sorted(NAMELESS))
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_a_nameless_requirement_of_a_pinned_project_is_judged_under_its_name(
    make_venv: MakeVenv, index: IndexServer, tmp_path: Path, pip_version: str, form: str
) -> None:
    """pip names a bare sdist URL or a directory only by building its metadata (whatever
    the URL's last part says); once it has, the pin applies, before anything is built into
    a wheel or installed, and the refusal names the project."""
    marker = tmp_path / "build-ran"
    sdist = make_sdist(tmp_path / "dist", "pinnedsrc", "1.0", marker=marker)
    if form == "url-named-for-it":
        index.add_file(sdist)
        requirement, shown = index.file_url(sdist.name), sdist.name
    elif form == "url-named-for-another":
        index.add_file(sdist, filename="download-1.tar.gz")
        requirement, shown = index.file_url("download-1.tar.gz"), "download-1.tar.gz"
    elif form == "url-without-a-file-name":
        body = sdist.read_bytes()
        index.fault("/get/latest", Fault(status=200, body=body, content_type="application/gzip"))
        requirement, shown = f"{index.url}/get/latest", "latest"
    else:
        with tarfile.open(sdist) as tf:
            tf.extractall(tmp_path / "src", filter="data")
        tree = tmp_path / "src" / "pinnedsrc-1.0"
        requirement, shown = str(tree), tree.as_uri()
    status, reason = NAMELESS[form]
    venv = make_venv(pip_version)

    result = venv.pip_attest(
        "install", "--publisher", "pinnedsrc=github:example/pinnedsrc/release.yml", requirement
    )

    assert result.returncode == 1, result.output
    lines = [line.strip() for line in result.stderr.splitlines() if f"): {status}: " in line]
    assert lines, result.output
    assert lines[0].startswith(f"pinnedsrc 1.0 ({shown}): {status}: "), lines[0]
    assert reason in lines[0]
    assert "nothing was installed" in result.stderr
    assert "pinnedsrc" not in venv.installed()
    # Naming it takes its metadata hooks; nothing past them ran.
    ran = marker.read_text().split() if marker.exists() else []
    assert set(ran) <= {"get_requires_for_build_wheel", "prepare_metadata_for_build_wheel"}, ran


@pytest.mark.parametrize(
    ("pip_version", "resolver"),
    [pytest.param(v, "resolvelib", id=f"{v}-resolvelib") for v in PIP_VERSIONS]
    + [pytest.param(PIP_OLDEST, "legacy", id=f"{PIP_OLDEST}-legacy")],
)
def test_a_file_failing_late_in_the_middle_of_the_set_installs_nothing(
    make_venv: MakeVenv,
    index: IndexServer,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    tmp_path: Path,
    pip_version: str,
    resolver: str,
) -> None:
    """Three requirements; the middle one, a direct URL, is a wheel whose metadata says 2.0
    under a 1.0 name. pip itself does not compare the two; pip-attest finds out only once
    the file is prepared, and then nothing may be installed, not even the two good ones."""
    for name in ("firstpkg", "lastpkg"):
        attest(index, sigstore_instance, make_wheel(tmp_path / name, name, "1.0"), name)
    liar = make_wheel(tmp_path / "liar", "midpkg", "2.0")
    index.add_file(liar, filename="midpkg-1.0-py3-none-any.whl", project="midpkg")
    middle = f"midpkg @ {index.file_url('midpkg-1.0-py3-none-any.whl')}"
    extra = ("--use-deprecated=legacy-resolver",) if resolver == "legacy" else ()
    venv = make_venv(pip_version)

    result = install(venv, index, minted_root, "pip-attest", *extra, "firstpkg", middle, "lastpkg")

    assert result.returncode == 1, result.output
    assert "pip-attest refused 1 file; nothing was installed." in result.stderr
    assert (
        "midpkg 1.0 (midpkg-1.0-py3-none-any.whl): invalid: the distribution in "
        "'midpkg-1.0-py3-none-any.whl' is version 2.0, its file name says 1.0"
    ) in result.stderr
    assert "Successfully installed" not in result.output
    assert venv.installed().isdisjoint({"firstpkg", "midpkg", "lastpkg"})
