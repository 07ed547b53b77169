"""Real packages, attested: the real wheels of real requirement sets (extras included),
downloaded once per session from the package registry, each file attested by the throwaway
Sigstore and served from the loopback index.

``pip-attest install --require-attestations`` must install every set with every file
verified, and must refuse a tree in which one file deep under an extra was swapped after it
was signed, installing nothing.

The registry serves no provenance here, so the attestations are minted, but the trees, the
wheels, their metadata and their extras are the real ones: whatever pip does with them
(``ExtrasCandidate``, extras of extras, an extra asked for twice) the seam must follow.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.support.index_server import IndexServer
from tests.support.registry import download
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_VERSIONS, Venv

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.slow]

MakeVenv = Callable[..., Venv]

# Each resolves on Python 3.11 with pip 23.3.2 and 26.3, from wheels alone.
SETS = (
    "requests[socks]",  # one extra, one file more (PySocks)
    "httpx[http2,brotli]",  # two extras; h2 brings hpack and hyperframe; a platform wheel
    "jsonschema[format-nongpl]",  # an extra that brings a tree four levels deep
    # Extras of extras, and one extra asked for twice: fastapi[standard] wants
    # uvicorn[standard] and fastapi-cli[standard], which wants uvicorn[standard] again.
    "fastapi[standard]",
)

# (set, project): a file that only an extra brings in, several levels down.
TAMPERED = (
    # jsonschema[format-nongpl] -> isoduration -> arrow -> python-dateutil
    ("jsonschema[format-nongpl]", "python-dateutil"),
    # fastapi[standard] -> uvicorn[standard] (also via fastapi-cli[standard]) -> uvloop
    ("fastapi[standard]", "uvloop"),
)


@dataclass(frozen=True)
class RealSet:
    requirement: str
    files: tuple[Path, ...]
    provenance: dict[str, bytes]  # by filename

    def distributions(self) -> set[tuple[str, Version]]:
        return {parse_wheel_filename(f.name)[:2] for f in self.files}

    def file_of(self, project: str) -> Path:
        found = [f for f in self.files if parse_wheel_filename(f.name)[0] == project]
        # The registry moves on: a release may drop the dependency this test reaches for.
        assert len(found) == 1, f"{project} is not in {self.requirement}'s tree: pick another"
        return found[0]


def identity(project: str) -> str:
    """The one GitHub publisher every file of ``project`` is attested by here."""
    return f"github:{project}/{project}/release.yml"


@pytest.fixture(scope="session")
def real_sets(
    registry_cache: Path,
    sigstore_instance: ThrowawaySigstore,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, RealSet]:
    """Every set's whole tree, downloaded once per session, each file attested once."""
    base = tmp_path_factory.mktemp("real-sets")
    home = base / "home"
    home.mkdir()
    sets = {}
    for number, requirement in enumerate(SETS):
        files = download([requirement], base / f"set{number}", registry_cache, home=home)
        provenance = {}
        for file in files:
            project = parse_wheel_filename(file.name)[0]
            minted = sigstore_instance.provenance(file, github(f"{project}/{project}"))
            provenance[file.name] = json.dumps(minted).encode()
        sets[requirement] = RealSet(requirement, tuple(files), provenance)
    return sets


# With PEP 658 metadata (as PyPI serves it for every wheel) pip resolves from the metadata
# files and downloads the wheels afterwards; without it (an index or mirror that does not
# serve them) pip downloads each wheel to read its metadata while it resolves. The seam sees
# the two orders differently, so every test runs both.
METADATA = pytest.mark.parametrize("metadata", [True, False], ids=["pep658", "no-pep658"])


def serve(index: IndexServer, real_set: RealSet, *, metadata: bool) -> None:
    for file in real_set.files:
        index.add_file(file, provenance=real_set.provenance[file.name], metadata=metadata)


def install(venv: Venv, index: IndexServer, root: Path, requirement: str) -> tuple[int, str]:
    # --ignore-installed: pip-attest's own dependencies (requests, idna, pydantic, rich, ...)
    # are importable in every venv it runs in, and pip would keep those rather than install
    # the downloaded ones. Ignoring them makes pip prepare and install the whole tree.
    result = venv.pip_attest(
        "install",
        "--require-attestations",
        "--trust-root",
        str(root),
        "-i",
        index.simple_url,
        "--ignore-installed",
        requirement,
        timeout=600,
    )
    return result.returncode, result.output


def installed(venv: Venv) -> set[tuple[str, Version]]:
    """(name, version) of every distribution in the venv's own site-packages."""
    found: set[tuple[str, Version]] = set()
    for info in venv.site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found.add((canonicalize_name(name), Version(version)))
    return found


def verified_row(filename: str, who: str) -> re.Pattern[str]:
    return re.compile(rf"^\s+verified\s+\S+ \S+\s+{re.escape(filename)}\s+{re.escape(who)}$", re.M)


def _tamper(data: bytes) -> bytes:
    """The same wheel with one module changed: still a valid wheel, other bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    changed = False
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if not changed and info.filename.endswith("__init__.py"):
                body += b"\nimport os  # injected\n"
                changed = True
            dst.writestr(info, body)
    assert changed, "no module to change in the wheel"
    return out.getvalue()


@METADATA
@pytest.mark.parametrize("requirement", SETS)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_real_set_installs_with_every_file_verified(
    make_venv: MakeVenv,
    index: IndexServer,
    real_sets: dict[str, RealSet],
    minted_root: Path,
    requirement: str,
    pip_version: str,
    metadata: bool,
) -> None:
    real_set = real_sets[requirement]
    serve(index, real_set, metadata=metadata)
    venv = make_venv(pip_version)

    code, output = install(venv, index, minted_root, requirement)

    assert code == 0, output
    n = len(real_set.files)
    assert f"pip-attest: checked {n} files: {n} verified\n" in output, output
    for file in real_set.files:
        who = identity(parse_wheel_filename(file.name)[0])
        assert verified_row(file.name, who).search(output), f"{file.name} not verified:\n{output}"
    assert installed(venv) == real_set.distributions()
    assert "Traceback" not in output


@METADATA
@pytest.mark.parametrize(("requirement", "project"), TAMPERED)
@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_one_tampered_file_deep_under_an_extra_refuses_the_whole_tree(
    make_venv: MakeVenv,
    index: IndexServer,
    real_sets: dict[str, RealSet],
    minted_root: Path,
    tmp_path: Path,
    requirement: str,
    project: str,
    pip_version: str,
    metadata: bool,
) -> None:
    real_set = real_sets[requirement]
    serve(index, real_set, metadata=metadata)
    original = real_set.file_of(project)
    swapped = tmp_path / original.name
    swapped.write_bytes(_tamper(original.read_bytes()))
    # The index lists the swapped file's own sha256, so pip's hash check passes; the
    # provenance is still the one signed over the original.
    index.add_file(swapped, provenance=real_set.provenance[original.name], metadata=metadata)
    venv = make_venv(pip_version)

    code, output = install(venv, index, minted_root, requirement)

    assert code == 1, output
    assert "pip-attest refused 1 file; nothing was installed." in output, output
    refusal = (
        rf"^  {re.escape(project)} \S+ \({re.escape(original.name)}\): invalid: digest mismatch"
    )
    assert re.search(refusal, output, re.M), output
    assert installed(venv) == set()
    assert "Traceback" not in output
