"""Shared caches are input from someone else (issue 16 §4 and §5).

CI systems save and restore the user cache directory across branches and workflows. Whatever
an attacker plants there (a trust root, verification-cache entries, wheels in pip's cache)
must not decide trust: each test plants it, runs a real install, and checks that the
tampered file is refused or never used, with nothing tampered installed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pip_attest import _cache
from pip_attest._identity import parse_identity
from pip_attest._trust import ensure_root
from tests.support.index_server import IndexServer
from tests.support.packages import make_sdist, make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github
from tests.support.venvs import PIP_VERSIONS, Venv
from tests.test_install_e2e import _tamper_wheel

pytestmark = pytest.mark.e2e

MakeVenv = Callable[..., Venv]
WHEEL = "abi3info-2024.10.8-py3-none-any.whl"
IDENTITY = "github:woodruffw/abi3info/release.yml"


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_a_trust_root_planted_in_the_cache_decides_nothing(
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    pip_version: str,
) -> None:
    """The attack from the review: a throwaway Sigstore's root in the cache directory, and a
    tampered abi3info signed under it as abi3info's real publisher."""
    venv = make_venv(pip_version)
    planted = venv.home / "cache" / "pip-attest" / "trust" / "trusted_root.json"
    planted.parent.mkdir(parents=True)
    shutil.copy(minted_root, planted)
    tampered = tmp_path / WHEEL
    tampered.write_bytes(_tamper_wheel((real / WHEEL).read_bytes()))
    signed = sigstore_instance.provenance(tampered, github("woodruffw/abi3info"))
    index.add_file(tampered, provenance=signed)

    result = venv.pip_attest("install", "-i", index.simple_url, "abi3info")

    assert result.returncode == 1, result.output
    assert f"abi3info 2024.10.8 ({WHEEL}): invalid: signature check failed" in result.stderr
    assert "nothing was installed" in result.stderr
    assert "abi3info" not in venv.installed()
    assert planted.read_bytes() == minted_root.read_bytes()  # there, and never used


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_verification_cache_entries_planted_by_someone_else_are_proved_again(
    make_venv: MakeVenv,
    index: IndexServer,
    real: Path,
    tmp_path: Path,
    pip_version: str,
) -> None:
    """A well-formed entry for the tampered file, under the victim's own trust root and
    verifier versions, naming the real publisher and fresh for a day: everything an
    attacker can know but the victim's key. It is a miss, and the file is refused."""
    tampered = tmp_path / WHEEL
    tampered.write_bytes(_tamper_wheel((real / WHEEL).read_bytes()))
    provenance = (real / f"{WHEEL}.provenance").read_bytes()
    index.add_file(tampered, provenance=provenance)
    venv = make_venv(pip_version)
    root = ensure_root()  # the test's own data dir: the same embedded production root
    digest = _cache.sha256_bytes(root.read_bytes())
    verifier = _cache.verifier_version()
    sha256 = _cache.sha256_bytes(tampered.read_bytes())
    attacker = _cache.VerificationCache(
        venv.home / "cache" / "pip-attest" / "verified", b"\x07" * 32
    )
    identity = (parse_identity(IDENTITY),)
    now = time.time()
    url = f"{index.url}/provenance/{WHEEL}"
    key = _cache.CacheKey(
        filename=WHEEL,
        project="abi3info",
        version="2024.10.8",
        file_sha256=sha256,
        provenance_sha256=_cache.sha256_bytes(provenance),
        trust_root_sha256=digest,
        verifier=verifier,
    )
    assert attacker.put(key, identity, (url, now + 86000, now))
    assert attacker.get(key) == identity  # good enough for a cache without the victim's key

    result = venv.pip_attest("install", "-i", index.simple_url, "abi3info")

    assert result.returncode == 1, result.output
    assert f"abi3info 2024.10.8 ({WHEEL}): invalid: digest mismatch" in result.stderr
    assert "abi3info" not in venv.installed()
    # The victim's key was made in the data dir, private, and is not the attacker's.
    key_file = venv.home / "data" / "pip-attest" / _cache.MAC_KEY_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes() != b"\x07" * 32


@pytest.mark.parametrize("pip_version", PIP_VERSIONS)
def test_a_wheel_planted_in_pips_cache_is_never_installed(
    make_venv: MakeVenv,
    index: IndexServer,
    tmp_path: Path,
    sigstore_instance: ThrowawaySigstore,
    minted_root: Path,
    pip_version: str,
) -> None:
    """pip keeps the wheels it builds, with an origin.json naming the sdist. A wheel swapped
    in there (same name, origin.json untouched) is not used: pip builds it again from the
    attested sdist, and the genuine code is what gets installed."""
    sdist = make_sdist(tmp_path / "src", "planted", "1.0")
    index.add_file(sdist, provenance=sigstore_instance.provenance(sdist, github("o/planted")))
    args = ("install", "-i", index.simple_url, "--trust-root", str(minted_root), "planted")
    first = make_venv(pip_version)
    assert first.pip_attest(*args).returncode == 0
    genuine = (first.site / "planted.py").read_text()
    (cached,) = (first.home / "cache" / "pip" / "wheels").rglob("planted-1.0-*.whl")
    evil = make_wheel(tmp_path / "evil", "planted", "1.0", module_source="EVIL = True\n")
    assert evil.name == cached.name
    cached.write_bytes(evil.read_bytes())
    assert (cached.parent / "origin.json").is_file()

    second = make_venv(pip_version, home=first.home)
    result = second.pip_attest(*args, "--format", "json")

    assert result.returncode == 0, result.output
    assert "not using pip's cached wheel planted-1.0" in result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["status"] == "verified" and entry["filename"] == "planted-1.0.tar.gz"
    assert (second.site / "planted.py").read_text() == genuine
    assert "EVIL" not in genuine
