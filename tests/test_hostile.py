"""The hostile-input corpus (issue 8), end to end, as a user meets it.

Every case in ``tests/support/hostile.py`` goes through

* ``pip-attest verify FILE --provenance P``: ``main()`` in-process, one run per case (its
  own exit code and output), and all cases again in one real subprocess with a time limit
  (``verify F1 F2 ...`` with each ``F.provenance`` beside it: the real entry point, the real
  stdout encoding, one interpreter start instead of a hundred);
* ``pip-attest install`` from the loopback index, which advertises and serves the body, one
  real subprocess per case, with a time limit.

Each must end with exit 1, a one-line reason holding the case's key phrase, no traceback and
no "internal error", and (install) nothing installed. Nothing is ever installed by these
cases, so one venv serves the whole module, and installs go two at a time (the machine has
two cores): see ``tests/support/bounded.py``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pip_attest._cli import main
from pip_attest._errors import VerificationError
from pip_attest._model import Artifact
from pip_attest._verify import AttestationVerifier, parse_provenance
from tests.conftest import REAL_FIXTURES, _template
from tests.support.bounded import (
    Outcome,
    Runner,
    assert_clean_refusal,
    assert_clean_run,
    run_bounded,
    selected,
)
from tests.support.hostile import (
    CASES,
    DEMO_IDENTITY_TEXT,
    DEMO_PROJECT,
    REAL_ROOT,
    REAL_WHEEL,
    Case,
    Materials,
)
from tests.support.index_server import IndexServer
from tests.support.packages import make_wheel, named
from tests.support.throwaway_sigstore import ThrowawaySigstore
from tests.support.venvs import PIP_NEWEST, Venv, layered_venv

pytestmark = pytest.mark.e2e

# Generous next to the ~0.5 s (verify) and ~1 s (install) these runs take: a run that
# reaches the limit is a hang, and fails its test.
VERIFY_LIMIT = 30.0
INSTALL_LIMIT = 60.0

HAVE_REAL = (REAL_FIXTURES / "MANIFEST.md").is_file()
_NO_REAL = pytest.mark.skipif(
    not HAVE_REAL, reason=f"real fixtures not found at {REAL_FIXTURES} (PIP_ATTEST_REAL_FIXTURES)"
)


def _cases(path: str) -> list[Any]:
    """The case names for one path; those on the real fixtures skip when they are absent."""
    return [
        pytest.param(name, id=name, marks=[_NO_REAL] if case.target == "real" else [])
        for name, case in CASES.items()
        if path in case.paths
    ]


VERIFY_CASES = _cases("verify")
INSTALL_CASES = _cases("install")


# -- the materials: one minted wheel, the real fixtures, one venv --------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def materials(sigstore_instance: ThrowawaySigstore, minted_root: Path, workdir: Path) -> Materials:
    """The minted cases run everywhere; the real ones need ``REAL_FIXTURES`` (see above)."""
    demo = make_wheel(workdir / "dist", DEMO_PROJECT, "1.0")
    return Materials(sigstore_instance, demo, REAL_FIXTURES, minted_root)


@pytest.fixture(scope="module")
def venv(
    workdir: Path,
    templates: dict[str, Path],
    wheelhouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Venv:
    """One venv for the module: no hostile case may install anything into it."""
    template = _template(PIP_NEWEST, templates, wheelhouse, tmp_path_factory)
    home = workdir / "home"
    home.mkdir()
    return layered_venv(workdir / "venv", template, home, PIP_NEWEST)


# -- running the corpus -------------------------------------------------------------------


def target(case: Case, materials: Materials) -> tuple[Path, Path, str]:
    """(the distribution file, the trust root, the project to install) for a case."""
    if case.target == "real":
        return materials.real / REAL_WHEEL, materials.real / REAL_ROOT, "abi3info"
    return materials.demo, materials.sigstore_root, DEMO_PROJECT


@pytest.fixture(scope="module")
def bodies(materials: Materials, workdir: Path) -> Callable[[str], Path]:
    """``bodies(name)``: the case's provenance body, written to a file once (thread-safe:
    the install workers ask for bodies too)."""
    folder = workdir / "bodies"
    folder.mkdir()
    lock = threading.Lock()

    def body(name: str) -> Path:
        path = folder / f"{name}.json"
        with lock:
            if not path.exists():
                path.write_bytes(CASES[name].build(materials))
        return path

    return body


@dataclass(frozen=True)
class Batch:
    """One ``pip-attest verify`` subprocess over many cases, and its report row per case."""

    outcome: Outcome
    rows: dict[str, str]


@pytest.fixture(scope="module")
def verify_batch(
    request: pytest.FixtureRequest,
    venv: Venv,
    materials: Materials,
    bodies: Callable[[str], Path],
    workdir: Path,
) -> dict[str, Batch]:
    """Every selected case, in two real runs (one per trust root): ``FILE`` in a folder of
    its own with the case's body as ``FILE.provenance``. Rows come out in file order."""
    batches: dict[str, Batch] = {}
    names = selected(request, "test_verify_refuses")
    for kind in ("minted", "real") if HAVE_REAL else ("minted",):
        mine = [n for n in names if CASES[n].target == kind]
        if not mine:
            continue
        files = []
        for name in mine:
            dist, _, _ = target(CASES[name], materials)
            folder = workdir / "batch" / name
            folder.mkdir(parents=True)
            (folder / dist.name).write_bytes(dist.read_bytes())
            (folder / f"{dist.name}.provenance").write_bytes(bodies(name).read_bytes())
            files.append(str(folder / dist.name))
        _, root, _ = target(CASES[mine[0]], materials)
        outcome = run_bounded(venv, ["verify", *files, "--trust-root", str(root)], VERIFY_LIMIT)
        rows = [line for line in outcome.stdout.splitlines() if line.startswith("  ")]
        batch = Batch(outcome, dict(zip(mine, rows, strict=False)))
        assert len(rows) == len(mine), outcome.output[-3000:]
        for name in mine:
            batches[name] = batch
    return batches


@pytest.fixture
def verify_in_process(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """``main(["verify", ...])`` in this process; what it puts in os.environ is undone."""

    def run(*argv: str) -> Outcome:
        before = {k: v for k, v in os.environ.items() if k.startswith("PIP_ATTEST")}
        start = time.monotonic()
        try:
            code = main(list(argv))
        finally:
            for key in [k for k in os.environ if k.startswith("PIP_ATTEST")]:
                del os.environ[key]
            os.environ.update(before)
        out, err = capsys.readouterr()
        return Outcome(code, out, err, time.monotonic() - start)

    return run


@pytest.fixture(scope="module")
def install_runs(
    request: pytest.FixtureRequest,
    venv: Venv,
    materials: Materials,
    bodies: Callable[[str], Path],
) -> Iterator[Runner]:
    def job(name: str) -> Outcome:
        dist, root, project = target(CASES[name], materials)
        with IndexServer() as index:
            index.add_file(dist, provenance=bodies(name).read_bytes())
            outcome = run_bounded(
                venv,
                ["install", "-i", index.simple_url, "--trust-root", str(root), project],
                INSTALL_LIMIT,
            )
        return Outcome(
            outcome.returncode,
            outcome.stdout,
            outcome.stderr,
            outcome.seconds,
            frozenset(venv.installed()),
        )

    wanted = selected(request, "test_install_refuses")
    runner = Runner(job, [n for n in wanted if HAVE_REAL or CASES[n].target != "real"])
    yield runner
    runner.close()


# -- every case, both paths ---------------------------------------------------------------


@pytest.mark.parametrize("name", VERIFY_CASES)
def test_verify_refuses(
    name: str,
    verify_in_process: Callable[..., Outcome],
    verify_batch: dict[str, Batch],
    materials: Materials,
    bodies: Callable[[str], Path],
) -> None:
    case = CASES[name]
    dist, root, _ = target(case, materials)

    alone = verify_in_process(
        "verify", str(dist), "--provenance", str(bodies(name)), "--trust-root", str(root)
    )

    (line,) = assert_clean_refusal(alone, case.phrase("verify"), lines=1)
    assert alone.stdout.splitlines()[0] == "pip-attest: checked 1 file: 1 invalid"
    assert line.split()[0] == "invalid" and f"  {dist.name}  " in line, line
    assert alone.seconds < VERIFY_LIMIT
    # The same case in the real process: the same row, and the run as a whole was clean.
    batch = verify_batch[name]
    row = batch.rows[name]
    assert row == line, (row, line)
    assert_clean_run(batch.outcome)


@pytest.mark.parametrize("name", INSTALL_CASES)
def test_install_refuses(name: str, install_runs: Runner, materials: Materials) -> None:
    case = CASES[name]
    outcome = install_runs.get(name)

    refusal, row = assert_clean_refusal(outcome, case.phrase("install"), lines=2)

    dist, _, project = target(case, materials)
    assert f"({dist.name}): {case.install_status}: " in refusal, refusal
    assert row.split()[0] == case.install_status, row
    assert "pip-attest refused 1 file; nothing was installed." in outcome.stderr
    assert project not in outcome.installed, "a hostile case installed its package"
    assert not outcome.installed, outcome.installed


# -- the controls: the same harness lets valid input through ----------------------------


@pytest.mark.parametrize("kind", ["minted", pytest.param("real", marks=_NO_REAL)])
def test_control_valid_provenance_verifies_and_installs(
    kind: str,
    materials: Materials,
    make_venv: Callable[..., Venv],
    tmp_path: Path,
) -> None:
    """Without these, a harness that refused everything would pass every case above."""
    case = Case("control", lambda m: b"", "", target="real" if kind == "real" else "minted")
    dist, root, project = target(case, materials)
    body = (
        (materials.real / f"{REAL_WHEEL}.provenance").read_bytes()
        if kind == "real"
        else json.dumps(materials.minted()).encode()
    )
    provenance = tmp_path / "provenance.json"
    provenance.write_bytes(body)
    venv = make_venv()

    verified = run_bounded(
        venv,
        ["verify", str(dist), "--provenance", str(provenance), "--trust-root", str(root)],
        VERIFY_LIMIT,
    )
    assert verified.returncode == 0, verified.output
    with IndexServer() as index:
        index.add_file(dist, provenance=body)
        installed = run_bounded(
            venv, ["install", "-i", index.simple_url, "--trust-root", str(root), project], 60
        )
    assert installed.returncode == 0, installed.output
    assert project in venv.installed()


def test_unknown_fields_are_ignored_never_trusted(materials: Materials) -> None:
    """pypi-attestations' models ignore fields they do not know (pydantic's default), at
    every level. That is safe because nothing unknown is ever read: the identity comes from
    the certificate. A body with extra fields verifies exactly like the plain one."""
    provenance: dict[str, Any] = materials.minted()
    provenance["extra"] = {"publisher": "attacker"}
    bundle = provenance["attestation_bundles"][0]
    bundle["verified"] = True
    bundle["publisher"]["trusted"] = "yes"
    attestation = bundle["attestations"][0]
    attestation["identity"] = "github:attacker/evil/release.yml"
    attestation["verification_material"]["chain"] = []
    verifier = AttestationVerifier(materials.sigstore_root)
    artifact = Artifact(materials.demo.name, materials.demo_sha256, *named(materials.demo.name))

    identities = verifier.verify(artifact, parse_provenance(json.dumps(provenance).encode()))

    assert [str(i) for i in identities] == [DEMO_IDENTITY_TEXT]


# -- the verify path reads its file bounded -----------------------------------------------


def test_verify_refuses_a_fifo_at_once(venv: Venv, materials: Materials, workdir: Path) -> None:
    fifo = workdir / "provenance.fifo"
    os.mkfifo(fifo)
    outcome = run_bounded(
        venv,
        [
            "verify",
            str(materials.demo),
            "--provenance",
            str(fifo),
            "--trust-root",
            str(materials.sigstore_root),
        ],
        VERIFY_LIMIT,
    )
    assert outcome.returncode == 1, outcome.output
    assert outcome.seconds < 10


def test_verify_reads_at_most_the_cap_of_a_huge_file(
    venv: Venv, materials: Materials, workdir: Path
) -> None:
    huge = workdir / "huge.provenance"
    with huge.open("wb") as f:
        f.truncate(4 << 30)  # sparse: no disk, and no memory unless someone reads it all
    args = ["verify", str(materials.demo), "--provenance", str(huge)]
    # run_bounded limits the address space, so the old full read fails fast instead of
    # taking 4 GiB of the machine's memory.
    outcome = run_bounded(venv, [*args, "--trust-root", str(materials.sigstore_root)], 30)

    assert_clean_refusal(outcome, f"provenance is {4 << 30} bytes, over the", lines=1)


def test_read_provenance_file_is_bounded(workdir: Path) -> None:
    """The helper the CLI should use: size from fstat, never a full read."""
    from pip_attest._verify import read_provenance_file

    big = workdir / "big.provenance"
    with big.open("wb") as f:
        f.truncate(4 << 30)
    with pytest.raises(VerificationError, match=r"provenance is 4294967296 bytes, over the"):
        read_provenance_file(big)
    small = workdir / "small.provenance"
    small.write_bytes(b"{}")
    assert read_provenance_file(small) == b"{}"
    with pytest.raises(VerificationError, match="cannot read"):
        read_provenance_file(workdir / "absent")
    with pytest.raises(VerificationError, match="not a regular file"):
        read_provenance_file(workdir)


# -- the real attestation, every field, byte by byte ----------------------------------------

# (where, how it is encoded) of every byte string the verifier checks.
_ENTRY = ("verification_material", "transparency_entries", 0)
_SWEPT: dict[str, tuple[tuple[str | int, ...], str]] = {
    "certificate": (("verification_material", "certificate"), "base64"),
    "signature": (("envelope", "signature"), "base64"),
    "statement": (("envelope", "statement"), "base64"),
    "canonicalizedBody": ((*_ENTRY, "canonicalizedBody"), "base64"),
    "signedEntryTimestamp": ((*_ENTRY, "inclusionPromise", "signedEntryTimestamp"), "base64"),
    "rootHash": ((*_ENTRY, "inclusionProof", "rootHash"), "base64"),
    "first proof hash": ((*_ENTRY, "inclusionProof", "hashes", 0), "base64"),
    "last proof hash": ((*_ENTRY, "inclusionProof", "hashes", -1), "base64"),
    "logId": ((*_ENTRY, "logId", "keyId"), "base64"),
    "checkpoint": ((*_ENTRY, "inclusionProof", "checkpoint", "envelope"), "text"),
}
STRIDE = 3  # every third byte: about 2,000 mutations, 2 to 3 seconds


def _at(node: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@_NO_REAL
def test_every_byte_of_a_real_attestation_is_checked(materials: Materials) -> None:
    """Flip one bit in every third byte of every signed or logged field of the real,
    production-signed abi3info attestation: each mutation must be refused.

    The one exception is by design: the key *name* on the checkpoint's signature line
    ("— rekor.sigstore.dev <sig>") is not covered by the signature (C2SP signed-note: the
    verifier picks the key by its hint), so changing it changes nothing that was signed.
    """
    provenance = materials.real_provenance()
    verifier = AttestationVerifier(materials.real / REAL_ROOT)
    artifact = Artifact(
        REAL_WHEEL,
        hashlib.sha256((materials.real / REAL_WHEEL).read_bytes()).hexdigest(),
        *named(REAL_WHEEL),
    )
    attestation = ("attestation_bundles", 0, "attestations", 0)
    checkpoint: str = _at(provenance, (*attestation, *_SWEPT["checkpoint"][0]))
    name_at = checkpoint.encode().index(b"\n\xe2\x80\x94 ") + 5
    unsigned_name = range(name_at, checkpoint.encode().index(b" ", name_at))
    tried, accepted = 0, []
    for field, (path, encoding) in _SWEPT.items():
        full = (*attestation, *path)
        original = _at(provenance, full)
        raw = base64.b64decode(original) if encoding == "base64" else original.encode()
        for i in range(0, len(raw), STRIDE):
            mutated = bytearray(raw)
            mutated[i] ^= 0x01
            value = (
                base64.b64encode(bytes(mutated)).decode()
                if encoding == "base64"
                else mutated.decode("utf-8", "replace")
            )
            body = copy.deepcopy(provenance)
            _at(body, full[:-1])[full[-1]] = value
            tried += 1
            try:
                verifier.verify(artifact, parse_provenance(json.dumps(body).encode()))
            except VerificationError:
                continue
            accepted.append((field, i))

    assert tried > 1500
    assert accepted, "the checkpoint's key name is expected to be unsigned"
    assert all(field == "checkpoint" and i in unsigned_name for field, i in accepted), accepted
