"""The cached trust root: seeding, describing, loading, TUF updates, staleness.

Updates go through sigstore's real TUF client against a real, signed TUF repository on
127.0.0.1 (tests/support/tuf_repo.py). Every test gets its own XDG cache and data dirs, so
neither pip-attest's copy nor sigstore's TUF metadata touches the user's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

import pytest

from pip_attest import _trust
from pip_attest._errors import TrustError
from tests.support.tuf_repo import TufRepo

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_FIXTURES = Path(
    os.environ.get("PIP_ATTEST_REAL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures" / "real")
)
# From ../shared/fixtures/real/MANIFEST.md: the root embedded in the sigstore 4.5.1 wheel.
PRODUCTION_FIXTURE_SHA256 = "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"

# Where sigstore 4.x embeds its per-repository files, spelled out independently of _trust.
_STORE = files("sigstore._store")
EMBEDDED_PRODUCTION = (
    _STORE.joinpath("https%3A%2F%2Ftuf-repo-cdn.sigstore.dev")
    .joinpath("trusted_root.json")
    .read_bytes()
)
EMBEDDED_STAGING = (
    _STORE.joinpath("https%3A%2F%2Ftuf-repo-cdn.sigstage.dev")
    .joinpath("trusted_root.json")
    .read_bytes()
)
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    cache, data = tmp_path / "xdg-cache", tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    for name in _PROXY_VARS:  # loopback only: never through a proxy
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return cache, data


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[TufRepo]:
    with TufRepo(tmp_path / "tuf", EMBEDDED_STAGING) as served:
        yield served


def _assert_one_line(err: pytest.ExceptionInfo[TrustError]) -> str:
    message = str(err.value)
    assert message
    assert "\n" not in message
    return message


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.parent.iterdir())}


# -- where things live --------------------------------------------------------------------


def test_the_root_lives_in_the_data_dir_not_a_cache(isolated_dirs: tuple[Path, Path]) -> None:
    """Caches are shared and restored across CI jobs: nothing in one may decide trust."""
    from sigstore._internal.tuf import _get_dirs

    cache, data = isolated_dirs
    assert _trust.default_root_path() == data / "pip-attest" / "trust" / "trusted_root.json"
    # sigstore's TUF client resolves its dirs per call, so the monkeypatched env reaches it.
    metadata_dir, targets_dir = _get_dirs("http://127.0.0.1:1")
    assert metadata_dir.is_relative_to(data / "sigstore-python" / "tuf")
    assert targets_dir.is_relative_to(cache / "sigstore-python" / "tuf")


def test_importing_trust_does_not_import_sigstore() -> None:
    code = (
        "import sys, pip_attest._trust\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('sigstore', 'sigstore_models', 'pydantic', 'cryptography', 'tuf')]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


# -- seeding and describing ---------------------------------------------------------------


def test_ensure_root_seeds_the_embedded_production_root() -> None:
    assert not _trust.default_root_path().exists()
    before = datetime.now(timezone.utc).replace(microsecond=0)

    path = _trust.ensure_root()

    assert path == _trust.default_root_path()
    assert path.read_bytes() == EMBEDDED_PRODUCTION
    info = _trust.describe(path)
    assert info.source == _trust.SOURCE_EMBEDDED
    assert info.sha256 == hashlib.sha256(EMBEDDED_PRODUCTION).hexdigest()
    assert info.fetched_at is not None
    assert before <= info.fetched_at <= datetime.now(timezone.utc)
    assert not info.is_stale()
    # Seeding again is a no-op: same bytes, same record.
    assert _trust.ensure_root() == path
    assert _trust.describe(path) == info


def test_embedded_root_is_the_production_fixture() -> None:
    fixture = REAL_FIXTURES / "trusted_root.production.json"
    if not fixture.is_file():
        pytest.skip(f"real fixtures not found at {REAL_FIXTURES} (set PIP_ATTEST_REAL_FIXTURES)")
    import sigstore

    if sigstore.__version__ != "4.5.1":
        pytest.skip(f"fixture comes from sigstore 4.5.1, installed is {sigstore.__version__}")
    assert hashlib.sha256(fixture.read_bytes()).hexdigest() == PRODUCTION_FIXTURE_SHA256
    info = _trust.describe(_trust.ensure_root())
    assert info.sha256 == PRODUCTION_FIXTURE_SHA256


def test_describe_lists_keys_with_validity_windows() -> None:
    info = _trust.describe(_trust.ensure_root())

    roles = {key.role for key in info.keys}
    assert {"fulcio", "rekor", "ctlog"} <= roles
    assert all(key.valid_from is not None for key in info.keys)
    utc = timezone.utc
    # Facts of Sigstore's production instance that later roots keep (retired keys stay listed).
    assert (
        _trust.KeyInfo(
            role="fulcio",
            name="https://fulcio.sigstore.dev",
            valid_from=datetime(2021, 3, 7, 3, 20, 29, tzinfo=utc),
            valid_until=datetime(2022, 12, 31, 23, 59, 59, 999000, tzinfo=utc),
        )
        in info.keys
    )
    assert (
        _trust.KeyInfo(
            role="rekor",
            name="https://rekor.sigstore.dev",
            valid_from=datetime(2021, 1, 12, 11, 53, 27, tzinfo=utc),
            valid_until=None,
            log_id="wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=",
        )
        in info.keys
    )
    ctlogs = [key for key in info.keys if key.role == "ctlog"]
    assert any(key.valid_until is None for key in ctlogs)  # a current CT log
    assert all(key.log_id for key in ctlogs)


def test_ensure_root_keeps_an_existing_cached_root(tmp_path: Path) -> None:
    user_file = tmp_path / "staging.json"
    user_file.write_bytes(EMBEDDED_STAGING)
    imported = _trust.import_root(user_file)

    assert _trust.ensure_root() == imported.path
    assert imported.path.read_bytes() == EMBEDDED_STAGING
    assert imported.source == f"file:{user_file.resolve()}"


def test_a_root_in_the_old_cache_location_is_never_read(
    isolated_dirs: tuple[Path, Path],
) -> None:
    cache, _ = isolated_dirs
    planted = cache / "pip-attest" / "trust" / "trusted_root.json"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(EMBEDDED_STAGING)

    path = _trust.ensure_root()

    assert path.read_bytes() == EMBEDDED_PRODUCTION
    assert path != planted


def test_a_root_its_record_does_not_vouch_for_is_replaced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _trust.ensure_root()
    # Someone swaps the root for another instance's, without (or with a stale) sidecar.
    path.write_bytes(EMBEDDED_STAGING)

    assert _trust.ensure_root() == path

    assert path.read_bytes() == EMBEDDED_PRODUCTION
    assert _trust.describe(path).source == _trust.SOURCE_EMBEDDED
    warning = capsys.readouterr().err
    assert "does not match the record of where it came from" in warning
    assert warning.count("\n") == 1


@pytest.mark.parametrize("content", [b"", b'{"mediaType": "applic', b"[]", b'{"a": 1}'])
def test_ensure_root_reseeds_a_mangled_cache(content: bytes) -> None:
    path = _trust.default_root_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    assert _trust.ensure_root() == path
    assert path.read_bytes() == EMBEDDED_PRODUCTION
    assert _trust.describe(path).source == _trust.SOURCE_EMBEDDED


def test_seeding_fails_clearly_if_sigstore_moves_its_embedded_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stands in for a sigstore release that no longer ships _store/<url>/trusted_root.json.
    def missing(url: str, name: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory", name)

    monkeypatch.setattr(_trust, "_read_embedded", missing)
    with pytest.raises(TrustError) as err:
        _trust.ensure_root()
    message = _assert_one_line(err)
    assert message.startswith("cannot seed the trust root from the production trusted_root.json")
    assert message.endswith("run `pip-attest trust update`")
    assert not _trust.default_root_path().exists()


def test_load_verifier_root_gives_a_usable_verifier() -> None:
    from sigstore.verify import Verifier

    root = _trust.load_verifier_root(_trust.ensure_root())
    assert len(root.get_fulcio_certs()) >= 2
    Verifier(trusted_root=root)  # offline; raises if the root lacks what it needs


# -- a user-given root --------------------------------------------------------------------


def test_user_root_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(TrustError) as err:
        _trust.ensure_root(missing)
    assert _assert_one_line(err) == f"trust root {missing}: no such file"


def test_user_root_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(TrustError) as err:
        _trust.ensure_root(tmp_path)
    assert _assert_one_line(err) == f"trust root {tmp_path}: not a file"


def test_user_root_is_returned_as_is(tmp_path: Path) -> None:
    user_file = tmp_path / "root.json"
    user_file.write_bytes(EMBEDDED_STAGING)
    assert _trust.ensure_root(user_file) == user_file
    assert not _trust.default_root_path().exists()  # no seeding when the user names a root
    info = _trust.describe(user_file)
    assert info.source == f"file:{user_file}"
    assert info.fetched_at is None
    assert not info.is_stale()


_EMPTY_ROOT = {
    "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "tlogs": [],
    "certificateAuthorities": [],
    "ctlogs": [],
    "timestampAuthorities": [],
}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"\x00garbage", "Invalid JSON", id="not-json"),
        pytest.param(b"[1, 2]", "should be an object", id="json-list"),
        pytest.param(b"{}", "mediaType: Field required (and 3 more)", id="empty-object"),
        pytest.param(
            json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}).encode(),
            "mediaType: Input should be",
            id="a-bundle",
        ),
        pytest.param(
            json.dumps(_EMPTY_ROOT).encode(), "Fulcio certificates not found", id="no-keys"
        ),
    ],
)
def test_user_root_that_is_not_a_trusted_root(tmp_path: Path, content: bytes, reason: str) -> None:
    user_file = tmp_path / "root.json"
    user_file.write_bytes(content)

    with pytest.raises(TrustError) as err:
        _trust.load_verifier_root(_trust.ensure_root(user_file))

    message = _assert_one_line(err)
    assert message.startswith(f"trust root {user_file}: not a Sigstore trusted root: ")
    assert reason in message


@pytest.mark.parametrize("content", [b"\x00garbage", b"[1, 2]", b'{"mediaType": "text/plain"}'])
def test_describe_rejects_what_is_not_a_trusted_root(tmp_path: Path, content: bytes) -> None:
    user_file = tmp_path / "root.json"
    user_file.write_bytes(content)
    with pytest.raises(TrustError) as err:
        _trust.describe(user_file)
    assert "not a Sigstore trusted root" in _assert_one_line(err)


# -- TUF updates --------------------------------------------------------------------------


def test_update_installs_the_repository_root(repo: TufRepo) -> None:
    _trust.ensure_root()

    info = _trust.update(tuf_url=repo.url, bootstrap_root=repo.root_json_path)

    assert info.path == _trust.default_root_path()
    assert info.path.read_bytes() == EMBEDDED_STAGING
    assert info.source == repo.url
    assert info.sha256 == hashlib.sha256(EMBEDDED_STAGING).hexdigest()
    assert _trust.describe(info.path) == info

    # A newer trusted_root.json published later is picked up by the next update.
    repo.publish(EMBEDDED_PRODUCTION)
    info = _trust.update(tuf_url=repo.url + "/", bootstrap_root=repo.root_json_path)
    assert info.path.read_bytes() == EMBEDDED_PRODUCTION
    assert info.source == repo.url


def test_update_to_another_destination(repo: TufRepo, tmp_path: Path) -> None:
    dest = tmp_path / "elsewhere" / "root.json"
    info = _trust.update(tuf_url=repo.url, bootstrap_root=repo.root_json_path, dest=dest)
    assert info.path == dest
    assert dest.read_bytes() == EMBEDDED_STAGING
    assert info.source == repo.url
    assert not _trust.default_root_path().exists()


def _stop(repo: TufRepo) -> None:
    repo.stop()  # the port now refuses connections


def _forge_timestamp(repo: TufRepo) -> None:
    repo.publish(EMBEDDED_PRODUCTION, forge_timestamp=True)


def _tamper_target(repo: TufRepo) -> None:
    repo.publish(EMBEDDED_PRODUCTION)
    # Same length, one byte off: only the sha256 in the signed targets metadata catches it.
    tampered = EMBEDDED_PRODUCTION.replace(b"sigstore.dev", b"sigstore.dew", 1)
    assert len(tampered) == len(EMBEDDED_PRODUCTION)
    repo.tamper_target(tampered)


def _http_error(repo: TufRepo) -> None:
    repo.publish(EMBEDDED_PRODUCTION)
    repo.fail_with(503)


def _signed_but_not_a_root(repo: TufRepo) -> None:
    repo.publish(b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')


@pytest.mark.parametrize(
    ("break_repo", "reason"),
    [
        pytest.param(_stop, "Connection refused", id="server-down"),
        pytest.param(_forge_timestamp, "timestamp was signed by 0/1 keys", id="bad-signature"),
        pytest.param(_tamper_target, "does not match expected hash", id="tampered-target"),
        pytest.param(_http_error, "status 503", id="http-error"),
        pytest.param(_signed_but_not_a_root, "not a Sigstore trusted root", id="bad-content"),
    ],
)
def test_failed_update_leaves_the_cached_root_alone(
    repo: TufRepo, break_repo: Callable[[TufRepo], None], reason: str
) -> None:
    cached = _trust.update(tuf_url=repo.url, bootstrap_root=repo.root_json_path).path
    url = repo.url
    before = _snapshot(cached)

    break_repo(repo)
    with pytest.raises(TrustError) as err:
        _trust.update(tuf_url=url, bootstrap_root=repo.root_json_path)

    message = _assert_one_line(err)
    assert url in message
    assert reason in message
    assert _snapshot(cached) == before  # root and sidecar, byte for byte, no temp files left


def test_update_from_a_closed_port_before_any_success(repo: TufRepo) -> None:
    seeded = _trust.ensure_root()
    before = _snapshot(seeded)
    url = repo.url
    repo.stop()

    with pytest.raises(TrustError) as err:
        _trust.update(tuf_url=url, bootstrap_root=repo.root_json_path)

    assert f"could not update the trust root from {url}: " in _assert_one_line(err)
    assert _snapshot(seeded) == before


def test_update_needs_a_bootstrap_root_for_an_unknown_repository() -> None:
    with pytest.raises(TrustError) as err:
        _trust.update(tuf_url="https://tuf.example.invalid")
    assert "give that repository's root.json as the bootstrap root" in _assert_one_line(err)


def test_update_refuses_a_bootstrap_root_sigstore_would_ignore(tmp_path: Path) -> None:
    bootstrap = tmp_path / "root.json"
    bootstrap.write_text("{}")
    with pytest.raises(TrustError) as err:
        _trust.update(bootstrap_root=bootstrap)  # production URL: checked before any network
    assert "sigstore ships its own TUF root" in _assert_one_line(err)


def test_update_with_a_missing_bootstrap_root(tmp_path: Path) -> None:
    missing = tmp_path / "root.json"
    with pytest.raises(TrustError) as err:
        _trust.update(tuf_url="https://tuf.example.invalid", bootstrap_root=missing)
    assert _assert_one_line(err) == f"bootstrap root {missing}: no such file"


def test_repository_satisfies_sigstore_from_tuf(repo: TufRepo) -> None:
    """The test repository has the shape sigstore's own client needs, signing config included."""
    from sigstore.models import ClientTrustConfig

    config = ClientTrustConfig.from_tuf(repo.url, offline=False, bootstrap_root=repo.root_json_path)
    assert config.trusted_root.get_fulcio_certs()
    assert config.signing_config.get_fulcio().url == "https://fulcio.invalid"


# -- staleness ----------------------------------------------------------------------------


def _write_sidecar(root: Path, **fields: object) -> None:
    sidecar = root.with_name("trusted_root.meta.json")
    record = json.loads(sidecar.read_text())
    record.update(fields)
    sidecar.write_text(json.dumps(record))


def test_old_fetched_at_makes_the_root_stale() -> None:
    root = _trust.ensure_root()
    long_ago = datetime.now(timezone.utc) - _trust.STALE_AFTER - timedelta(days=10)
    _write_sidecar(root, fetched_at=long_ago.isoformat())

    info = _trust.describe(root)
    assert info.fetched_at == long_ago
    age = info.age()
    assert age is not None
    assert age > _trust.STALE_AFTER
    assert info.is_stale()
    # Just inside the window it is fresh again.
    assert not info.is_stale(now=long_ago + _trust.STALE_AFTER)


def test_fetched_at_in_rfc3339_z_form() -> None:
    root = _trust.ensure_root()
    _write_sidecar(root, fetched_at="2020-01-02T03:04:05.123456789Z")
    info = _trust.describe(root)
    assert info.fetched_at == datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert info.is_stale()


def test_sidecar_for_other_bytes_is_not_believed() -> None:
    root = _trust.ensure_root()
    _write_sidecar(root, fetched_at="2020-01-01T00:00:00+00:00", sha256="0" * 64)

    info = _trust.describe(root)
    assert info.fetched_at is None
    assert info.age() is None
    assert not info.is_stale()
    assert info.source == f"file:{root} (changed since it came from sigstore-embedded)"


def test_sigstore_is_a_version_the_shim_was_checked_against() -> None:
    """pip_attest._sigstore uses two private names of sigstore-python; a sigstore release
    they were not read against must be read before it is trusted (then add it to CHECKED)."""
    from pip_attest import _sigstore

    assert _sigstore.VERSION in _sigstore.CHECKED, (
        f"sigstore {_sigstore.VERSION} is installed; pip_attest._sigstore was checked "
        f"against {sorted(_sigstore.CHECKED)}"
    )
    root = _sigstore.parse_trusted_root(EMBEDDED_PRODUCTION)
    assert len(root.get_fulcio_certs()) >= 2
