"""Locks written by uv and by pip (issue 19), with the real tools: annotate them with
``lock --from-lock``, gate them with ``verify --lock``, install them with uv, with
``pip-attest install -r`` and with ``PIP_ATTEST_ENFORCE=1 pip install -r`` (pip 26.1+ reads
the lock itself), and refuse them once an identity or a hash is edited.

uv comes from the package registry with the dev dependencies; every index here is the
loopback one, its files attested by the throwaway Sigstore.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from pip_attest._toml import parse_toml
from tests.support.index_server import IndexServer
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_NEWEST, Venv, isolated_env

pytestmark = pytest.mark.e2e

MakeVenv = Callable[..., Venv]
APP, DEP = "fl-app", "fl-dep"
APP_ID, DEP_ID = "github:example/fl-app/release.yml", "github:example/fl-dep/release.yml"


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: it is a dev dependency (pip install -e '.[dev]')")
    return found


@pytest.fixture
def served(index: IndexServer, sigstore_instance: ThrowawaySigstore, tmp_path: Path) -> Path:
    """fl-app 1.0 needs fl-dep; both attested. Returns the folder of the real wheels."""
    dists = tmp_path / "dists"
    app = make_wheel(dists, APP, "1.0", requires=[DEP])
    dep = make_wheel(dists, DEP, "1.0")
    for wheel, repo in ((app, "example/fl-app"), (dep, "example/fl-dep")):
        index.add_file(wheel, provenance=sigstore_instance.provenance(wheel, github(repo)))
    return dists


def uv_lock(index: IndexServer, project: Path, home: Path) -> Path:
    (project / "requirements.in").write_text(f"{APP}\n")
    env = isolated_env(home, {"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(home / "uv-cache")})
    command = [uv(), "pip", "compile", "--format", "pylock.toml", "requirements.in"]
    command += ["-o", "pylock.toml", "--index-url", index.simple_url, "--python", sys.executable]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return project / "pylock.toml"


def attest_args(index: IndexServer, root: Path) -> list[str]:
    return ["--index-url", index.simple_url, "--trust-root", str(root)]


def without_identities(text: str) -> str:
    """The text with every attestation-identities table taken out, as it was added."""
    return re.sub(r"\n\[\[packages\.attestation-identities\]\]\n(?:[a-z_]+ = [^\n]*\n)*", "", text)


def test_a_uv_lock_is_annotated_gated_and_installed_by_uv(
    served: Path, index: IndexServer, minted_root: Path, make_venv: MakeVenv, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv()
    lock = uv_lock(index, project, venv.home)
    original = lock.read_text()
    assert 'created-by = "uv"' in original and original.startswith("# This file was")

    annotated = venv.pip_attest(
        "lock", "--from-lock", "pylock.toml", *attest_args(index, minted_root), cwd=project
    )

    assert annotated.returncode == 0, annotated.output
    text = lock.read_text()
    doc = parse_toml(text)
    Pylock.from_dict(doc)  # still a valid PEP 751 lock
    found = {p["name"]: p.get("attestation-identities") for p in doc["packages"]}
    assert found[APP] == [
        {"kind": "GitHub", "repository": "example/fl-app", "workflow": "release.yml"}
    ]
    assert found[DEP][0]["repository"] == "example/fl-dep"
    # Everything else is uv's, byte for byte: header comment, key order, requires-python.
    assert without_identities(text) == original
    assert "pip-attest: wrote pylock.toml" in annotated.stderr

    gate = venv.pip_attest(
        "verify", "--lock", "pylock.toml", *attest_args(index, minted_root), cwd=project
    )
    assert gate.returncode == 0, gate.output
    assert re.search(rf"verified\s+{APP} 1.0 .*{re.escape(APP_ID)}", gate.stderr)
    assert re.search(rf"verified\s+{DEP} 1.0 .*{re.escape(DEP_ID)}", gate.stderr)

    target = make_venv()
    env = isolated_env(target.home, {"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "uvc")})
    done = subprocess.run(
        [uv(), "pip", "install", "--python", str(target.python), "-r", "pylock.toml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert {APP, DEP} <= target.installed()


@pytest.mark.parametrize("edit", ["identity", "hash"])
def test_an_edited_lock_is_refused_by_every_way_in(
    served: Path,
    index: IndexServer,
    minted_root: Path,
    sigstore_instance: ThrowawaySigstore,
    make_venv: MakeVenv,
    installed_venv: MakeVenv,
    tmp_path: Path,
    edit: str,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv()
    lock = uv_lock(index, project, venv.home)
    args = attest_args(index, minted_root)
    assert venv.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project).returncode == 0
    text = lock.read_text()
    if edit == "identity":
        lock.write_text(
            text.replace('repository = "example/fl-dep"', 'repository = "other/fl-dep"')
        )
        reason = "unexpected-publisher"
    else:
        # The index now serves other bytes for fl-dep, and the lock's hash was edited to match;
        # the attestation still names the original bytes.
        tampered = make_wheel(tmp_path / "tampered", DEP, "1.0", module_source="EVIL = 1\n")
        provenance = sigstore_instance.provenance(served / tampered.name, github("example/fl-dep"))
        index.add_file(tampered, provenance=provenance)
        old = _sha256(served / tampered.name)
        lock.write_text(text.replace(old, _sha256(tampered)))
        reason = "invalid: digest mismatch"

    gate = venv.pip_attest("verify", "--lock", "pylock.toml", *args, cwd=project)
    assert gate.returncode == 1, gate.output
    assert f"{DEP} 1.0" in gate.stderr and reason in gate.stderr

    via_attest = make_venv()
    result = via_attest.pip_attest("install", "-r", "pylock.toml", *args, cwd=project)
    assert result.returncode == 1, result.output
    assert reason in result.stderr and "nothing was installed" in result.stderr
    assert not {APP, DEP} & via_attest.installed()

    hooked = installed_venv(PIP_NEWEST)
    env = {"PIP_ATTEST_ENFORCE": "1", "PIP_ATTEST_TRUST_ROOT": str(minted_root)}
    native = hooked.pip(
        "install", "-r", "pylock.toml", "--index-url", index.simple_url, env=env, cwd=project
    )
    assert native.returncode == 1, native.output
    assert reason in native.stderr
    assert not {APP, DEP} & hooked.installed()


def test_a_native_lock_install_expects_the_locks_identities(
    served: Path, index: IndexServer, minted_root: Path, installed_venv: MakeVenv, tmp_path: Path
) -> None:
    """pip 26.1+ reads the lock itself: the identities still hold, and the files verify
    (their provenance found through the index pip is given: the lock, uv's, names none).
    Without that index nothing can prove them, and the lock's identities make that a
    downgrade."""
    project = tmp_path / "project"
    project.mkdir()
    hooked = installed_venv(PIP_NEWEST)
    lock = uv_lock(index, project, hooked.home)
    args = attest_args(index, minted_root)
    assert (
        hooked.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project).returncode == 0
    )
    env = {"PIP_ATTEST_ENFORCE": "1", "PIP_ATTEST_TRUST_ROOT": str(minted_root)}

    unproved = hooked.pip("install", "-r", "pylock.toml", env=env, cwd=project)
    assert unproved.returncode == 1, unproved.output
    assert f"{APP} 1.0 (fl_app-1.0-py3-none-any.whl): downgrade" in unproved.stderr
    assert not {APP, DEP} & hooked.installed()

    index_args = ("--index-url", index.simple_url)
    done = hooked.pip("install", "-r", "pylock.toml", *index_args, env=env, cwd=project)

    assert done.returncode == 0, done.output
    assert "2 verified" in done.stderr
    assert {APP, DEP} <= hooked.installed()
    assert lock.exists()


def test_a_pip_lock_goes_through_the_same_steps(
    served: Path, index: IndexServer, minted_root: Path, make_venv: MakeVenv, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv(PIP_NEWEST)
    made = venv.pip("lock", "-o", "pylock.toml", "--index-url", index.simple_url, APP, cwd=project)
    assert made.returncode == 0, made.output
    original = (project / "pylock.toml").read_text()
    args = attest_args(index, minted_root)

    annotated = venv.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project)

    assert annotated.returncode == 0, annotated.output
    text = (project / "pylock.toml").read_text()
    assert without_identities(text) == original
    assert "example/fl-app" in text and "example/fl-dep" in text
    assert venv.pip_attest("verify", "--lock", "pylock.toml", *args, cwd=project).returncode == 0
    target = make_venv(PIP_NEWEST)
    installed = target.pip_attest("install", "-r", "pylock.toml", *args, cwd=project)
    assert installed.returncode == 0, installed.output
    assert {APP, DEP} <= target.installed()


def test_an_index_that_writes_its_hashes_in_upper_case_gates_the_same(
    served: Path, index: IndexServer, minted_root: Path, make_venv: MakeVenv, tmp_path: Path
) -> None:
    """pip compares hex digests in any case: so does the gate (no false 'another sha256')."""
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv(PIP_NEWEST)
    made = venv.pip("lock", "-o", "pylock.toml", "--index-url", index.simple_url, APP, cwd=project)
    assert made.returncode == 0, made.output
    index.upper_case_hashes = True
    args = attest_args(index, minted_root)

    gated = venv.pip_attest("verify", "--lock", "pylock.toml", *args, cwd=project)

    assert gated.returncode == 0, gated.output
    assert "2 verified" in gated.stderr, gated.stderr


def test_a_file_with_no_provenance_anywhere_names_the_option_that_would_help(
    index: IndexServer, make_venv: MakeVenv, tmp_path: Path
) -> None:
    index.add_file(make_wheel(tmp_path / "d", "fl-plain", "1.0"))
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv()
    (project / "requirements.in").write_text("fl-plain\n")
    env = isolated_env(venv.home, {"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "uvc")})
    command = [uv(), "pip", "compile", "--format", "pylock.toml", "requirements.in", "-o"]
    command += ["pylock.toml", "--index-url", index.simple_url, "--python", sys.executable]
    assert subprocess.run(command, cwd=project, env=env, capture_output=True).returncode == 0

    # No index options: the file is on no PyPI host, and the lock names no index.
    result = venv.pip_attest(
        "verify", "--lock", "pylock.toml", "--require-attestations", "--no-index", cwd=project
    )

    assert result.returncode == 1, result.output
    assert "missing" in result.stderr
    assert "the lock names no index for it: pass its index with --index-url" in result.stderr


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- hostile locks: one line, exit 2, no traceback -------------------------------------

SHA = "ab" * 32
GOOD = (
    'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "six"\nversion = "1.0"\n'
    'wheels = [{ url = "https://files.pythonhosted.org/six-1.0-py3-none-any.whl", '
    f'hashes = {{ sha256 = "{SHA}" }} }}]\n'
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(
            GOOD + '[[packages.attestation-identities]]\nkind = "GitHub"\nrepository = "a/b"\n'
            'workflow = "r.yml"\nenvirnoment = "pypi"\n',
            "unknown key 'envirnoment'",
            id="identity-unknown-key",
        ),
        pytest.param(
            GOOD.replace(
                'version = "1.0"\n', 'version = "1.0"\nindex = "https://pypi.example/simple/"\n'
            ),
            "is not on the host of its index",
            id="url-off-its-index",
        ),
        pytest.param(GOOD + GOOD.split("\n", 2)[2], "is listed twice", id="duplicate-package"),
        pytest.param(GOOD.replace("six-1.0", "six\n-1.0"), "not valid TOML", id="raw-newline"),
        pytest.param(
            GOOD.replace("six-1.0", "six\\n-1.0"),
            "holds whitespace or control characters",
            id="newline-in-url",
        ),
        pytest.param(
            GOOD.replace('name = "six"', 'name = "six\\n-r x"'), "not normalized", id="newline-name"
        ),
        pytest.param(
            GOOD + '[[packages.attestation-identities]]\nkind = "GitHub"\n'
            'repository = "a/b\\nc"\nworkflow = "r.yml"\n',
            "'repository' holds control characters",
            id="newline-identity",
        ),
        pytest.param(GOOD.replace(SHA, SHA[:-1] + "\\n"), "sha256", id="newline-hash"),
        pytest.param(
            GOOD.replace("} }]", f', sha512 = "{"cd" * 64}" }} }}]'),
            "hash 'sha512' is not sha256",
            id="second-hash",
        ),
    ],
)
def test_hostile_locks_are_one_line(
    cli: Callable[..., object], tmp_path: Path, text: str, words: str
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(text)
    result: Any = cli("verify", "--lock", lock, "--no-index")
    assert result.code == 2, result.err
    assert words in result.err
    assert result.err.count("\n") == 1


def test_a_lock_that_is_not_utf8_or_huge_is_one_line(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_bytes(GOOD.encode() + b"# \xff\xfe\n")
    result: Any = cli("verify", "--lock", lock)
    assert result.code == 2 and "not UTF-8 text" in result.err, result.err
    with lock.open("wb") as f:
        f.truncate(17 * 1024 * 1024)
    result = cli("lock", "--from-lock", lock)
    assert result.code == 2 and "larger than" in result.err, result.err


# -- a lock must not let an installer take other bytes than the ones verified ------------


def test_a_second_hash_in_the_lock_cannot_let_other_bytes_past_the_gate(
    served: Path,
    index: IndexServer,
    minted_root: Path,
    make_venv: MakeVenv,
    tmp_path: Path,
) -> None:
    """Installers accept a file when *any* of its locked hashes matches (pip's
    ``Hashes.check_against_chunks``, uv alike). A lock whose fl-dep keeps the attested
    sha256 but adds the sha512 of other bytes, at a URL that serves those bytes, must not
    pass ``verify --lock``: the gate checked the sha256 only, uv would install the rest."""
    import hashlib

    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv()
    lock = uv_lock(index, project, venv.home)
    args = attest_args(index, minted_root)
    assert venv.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project).returncode == 0
    original = served / "fl_dep-1.0-py3-none-any.whl"
    evil = make_wheel(tmp_path / "evil", DEP, "1.0", module_source="EVIL = 1\n")
    text = lock.read_text()
    attested = _sha256(original)
    assert attested in text
    sha512 = hashlib.sha512(evil.read_bytes()).hexdigest()
    text = text.replace(index.file_url(original.name), evil.as_uri())
    text = text.replace(f'sha256 = "{attested}"', f'sha256 = "{attested}", sha512 = "{sha512}"')
    lock.write_text(text)

    # What the gate would let through: uv installs the other bytes, on the sha512.
    target = make_venv()
    env = isolated_env(target.home, {"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "uvc")})
    command = [uv(), "pip", "install", "--python", str(target.python), "-r", "pylock.toml"]
    command += ["--index-url", index.simple_url]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "EVIL = 1" in (target.site / "fl_dep.py").read_text()

    gate = venv.pip_attest("verify", "--lock", "pylock.toml", *args, cwd=project)

    assert gate.returncode == 2, gate.output
    assert "sha512" in gate.stderr and gate.stderr.count("\n") == 1


@pytest.mark.parametrize("entry", ["archive", "directory", "vcs"])
def test_a_package_locked_as_an_archive_directory_or_vcs_is_judged(
    served: Path,
    index: IndexServer,
    minted_root: Path,
    make_venv: MakeVenv,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    entry: str,
) -> None:
    """PEP 751 packages may name an ``archive``, a ``directory`` or a ``vcs`` source instead
    of wheels and an sdist; uv and pip install them. ``verify --lock`` must not skip them:
    fl-dep, locked with its publisher, swapped for one of these (whose bytes no attestation
    names) is a downgrade, not "every file checked"."""
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv()
    lock = uv_lock(index, project, venv.home)
    args = attest_args(index, minted_root)
    assert venv.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project).returncode == 0
    evil = make_wheel(tmp_path / "evil", DEP, "1.0", module_source="EVIL = 1\n")
    mirror = IndexServer()  # another host, serving other bytes
    request.addfinalizer(mirror.close)
    mirror.add_file(evil)
    url, sha = mirror.file_url(evil.name), _sha256(evil)
    source = {
        "archive": f'archive = {{ url = "{url}", hashes = {{ sha256 = "{sha}" }} }}',
        "directory": f'directory = {{ path = "{tmp_path / "evil"}" }}',
        "vcs": 'vcs = { type = "git", url = "https://example.invalid/fl-dep.git", '
        'commit-id = "0123456789abcdef0123456789abcdef01234567" }',
    }[entry]
    text, count = re.subn(
        r'wheels = \[\{ url = "[^"]*fl_dep-[^\n]*\n', source + "\n", lock.read_text()
    )
    assert count == 1, lock.read_text()
    lock.write_text(text)
    Pylock.from_dict(parse_toml(text))  # a valid PEP 751 lock

    if entry == "archive":  # what the gate would let through
        target = make_venv()
        env = isolated_env(target.home, {"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "u")})
        command = [uv(), "pip", "install", "--python", str(target.python), "-r", "pylock.toml"]
        command += ["--index-url", index.simple_url]
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "EVIL = 1" in (target.site / "fl_dep.py").read_text()

    gate = venv.pip_attest("verify", "--lock", "pylock.toml", *args, cwd=project)

    assert gate.returncode == 1, gate.output
    assert re.search(rf"downgrade\s+{DEP} 1.0", gate.stderr), gate.stderr
    assert re.search(rf"verified\s+{APP} 1.0", gate.stderr), gate.stderr
    shown = {"archive": "fl_dep-1.0-py3-none-any.whl", "directory": "local source tree"}
    assert shown.get(entry, "VCS checkout") in gate.stderr


def test_annotating_keeps_the_identities_of_a_version_spelt_another_way(
    served: Path, index: IndexServer, minted_root: Path, make_venv: MakeVenv, tmp_path: Path
) -> None:
    """PEP 440 reads 1.00 as 1.0. A lock whose fl-dep version is spelt 1.00 verifies
    against its identities; annotating it again must keep them, not drop them because the
    text is not the normalized spelling."""
    project = tmp_path / "project"
    project.mkdir()
    venv = make_venv()
    lock = uv_lock(index, project, venv.home)
    args = attest_args(index, minted_root)
    assert venv.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project).returncode == 0
    text, count = re.subn(rf'(name = "{DEP}"\nversion = )"1.0"', r'\1"1.00"', lock.read_text())
    assert count == 1, lock.read_text()
    lock.write_text(text)

    again = venv.pip_attest("lock", "--from-lock", "pylock.toml", *args, cwd=project)

    assert again.returncode == 0, again.output
    assert lock.read_text() == text
