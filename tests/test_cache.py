"""The verification cache, through the checker that uses it, with the real verifier.

Each test checks real files against attestations minted by the throwaway Sigstore, as
``pip-attest`` does for a local ``--find-links`` directory (``FILE.provenance`` beside the
file). Whether an answer came from the cache shows in whether the checker had to build its
sigstore verifier at all. The XDG cache is a fresh temporary directory for every test
(conftest ``_isolate``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from pip_attest import _cache
from pip_attest._check import Candidate, Checker
from pip_attest._config import Settings
from pip_attest._identity import Identity, parse_identity
from pip_attest._model import FileResult, Status
from tests.support.packages import make_wheel
from tests.support.throwaway_sigstore import ThrowawaySigstore, github

IDENTITY = "github:cache-org/cachepkg/release.yml"


@pytest.fixture
def wheel(tmp_path: Path, sigstore_instance: ThrowawaySigstore) -> Path:
    """A wheel with its provenance beside it."""
    path = make_wheel(tmp_path / "dists", "cachepkg", "1.0")
    provenance = sigstore_instance.provenance(path, github("cache-org/cachepkg"))
    Path(f"{path}.provenance").write_text(json.dumps(provenance))
    return path


def checker(trust_root: Path) -> Checker:
    return Checker(Settings(trust_root=trust_root), session=None)


def candidate(path: Path, filename: str | None = None) -> Candidate:
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return Candidate(filename or path.name, sha256, path.resolve().as_uri(), origin="local")


def entries() -> list[Path]:
    return sorted(_cache.default_dir().rglob("*.json"))


def verified_by(result: FileResult) -> list[str]:
    assert result.status is Status.VERIFIED, result.reason
    return [str(i) for i in result.identities]


def test_second_check_is_answered_from_the_cache_without_sigstore(
    wheel: Path, minted_root: Path
) -> None:
    first = checker(minted_root)
    assert verified_by(first.check(candidate(wheel))) == [IDENTITY]
    assert first._verifier is not None
    [entry] = entries()
    assert json.loads(entry.read_text())["publishers"] == [
        {"kind": "GitHub", "repository": "cache-org/cachepkg", "workflow": "release.yml"}
    ]

    second = checker(minted_root)
    assert verified_by(second.check(candidate(wheel))) == [IDENTITY]
    assert second._verifier is None  # nothing was verified: the entry answered


def test_the_policy_is_judged_afresh_on_a_cache_hit(wheel: Path, minted_root: Path) -> None:
    assert verified_by(checker(minted_root).check(candidate(wheel))) == [IDENTITY]

    pinned = Settings(
        trust_root=minted_root,
        pins={"cachepkg": (parse_identity("github:someone-else/cachepkg/release.yml"),)},
    )
    result = Checker(pinned, session=None).check(candidate(wheel))

    assert result.status is Status.UNEXPECTED_PUBLISHER
    assert result.blocking
    assert "someone-else" in result.reason


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{", b"[]", b'{"format": 1}', b"\x00" * 100, b"not json at all"],
    ids=["empty", "truncated", "list", "no-key", "binary", "text"],
)
def test_a_corrupt_entry_is_ignored_and_rewritten(
    wheel: Path, minted_root: Path, garbage: bytes
) -> None:
    checker(minted_root).check(candidate(wheel))
    [entry] = entries()
    good = entry.read_bytes()
    entry.write_bytes(garbage)

    again = checker(minted_root)
    assert verified_by(again.check(candidate(wheel))) == [IDENTITY]
    assert again._verifier is not None  # verified for real
    assert entry.read_bytes() == good


def test_an_entry_filed_under_another_key_is_not_trusted(
    wheel: Path, minted_root: Path, tmp_path: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    """An entry is used only if it repeats the exact key it is filed under: one copied
    from another file's slot (here: one naming another publisher) is a miss."""
    other = make_wheel(tmp_path / "other", "otherpkg", "1.0")
    Path(f"{other}.provenance").write_text(
        json.dumps(sigstore_instance.provenance(other, github("evil/otherpkg")))
    )
    checker(minted_root).check(candidate(other))
    [other_entry] = entries()
    checker(minted_root).check(candidate(wheel))
    [mine] = [e for e in entries() if e != other_entry]
    shutil.copyfile(other_entry, mine)

    again = checker(minted_root)
    assert verified_by(again.check(candidate(wheel))) == [IDENTITY]
    assert again._verifier is not None


def test_an_entry_is_never_used_under_another_trust_root(
    wheel: Path, minted_root: Path, tmp_path: Path
) -> None:
    assert verified_by(checker(minted_root).check(candidate(wheel))) == [IDENTITY]
    other_root = ThrowawaySigstore().write_trusted_root(tmp_path / "other_root.json")

    result = checker(other_root).check(candidate(wheel))

    assert result.status is Status.INVALID
    assert result.blocking
    assert "signature check failed" in result.reason
    assert len(entries()) == 1  # the failure was not cached either


def test_the_same_bytes_under_another_name_are_not_a_hit(
    wheel: Path, minted_root: Path, tmp_path: Path
) -> None:
    """The attestation names its file: the same bytes and provenance offered as another
    distribution must be verified (and fail), never answered from the first name's entry."""
    checker(minted_root).check(candidate(wheel))
    renamed = tmp_path / "renamed" / "evilpkg-1.0-py3-none-any.whl"
    renamed.parent.mkdir()
    shutil.copyfile(wheel, renamed)
    shutil.copyfile(f"{wheel}.provenance", f"{renamed}.provenance")

    result = checker(minted_root).check(candidate(renamed))

    assert result.status is Status.INVALID
    assert "attestation is for another file" in result.reason


def test_failures_are_not_cached(wheel: Path, minted_root: Path) -> None:
    wheel.write_bytes(wheel.read_bytes() + b"tampered")

    for _ in range(2):
        result = checker(minted_root).check(candidate(wheel))
        assert result.status is Status.INVALID
        assert "digest mismatch" in result.reason
    assert entries() == []


def test_changed_provenance_is_verified_again(
    wheel: Path, minted_root: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    checker(minted_root).check(candidate(wheel))
    newer = sigstore_instance.provenance(wheel, github("cache-org/cachepkg", "other.yml"))
    Path(f"{wheel}.provenance").write_text(json.dumps(newer))

    again = checker(minted_root)
    assert verified_by(again.check(candidate(wheel))) == ["github:cache-org/cachepkg/other.yml"]
    assert again._verifier is not None
    assert len(entries()) == 2


def test_no_cache_variable_turns_it_off(
    wheel: Path, minted_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_cache.NO_CACHE, "1")
    for _ in range(2):
        fresh = checker(minted_root)
        assert verified_by(fresh.check(candidate(wheel))) == [IDENTITY]
        assert fresh._verifier is not None
    assert entries() == []


@pytest.mark.parametrize(("value", "on"), [("", True), ("0", True), ("yes", False), ("x", False)])
def test_no_cache_values(value: str, on: bool) -> None:
    """Anything but an explicit 'no' turns the cache off: verifying is the safe reading."""
    assert _cache.enabled({_cache.NO_CACHE: value}) is on


def test_identities_the_publisher_form_cannot_carry_are_not_cached(tmp_path: Path) -> None:
    cache = _cache.VerificationCache(tmp_path)
    key = _cache.CacheKey("a-1.0-py3-none-any.whl", "0" * 64, "1" * 64, "2" * 64, "v")
    oidc = Identity("OIDC", subject="someone@example.com", issuer="https://example.com")

    assert not cache.put(key, (oidc,))
    assert cache.put(key, (parse_identity(IDENTITY),))
    assert cache.get(key) == (parse_identity(IDENTITY),)


def test_concurrent_checks_and_writers_always_see_a_whole_entry(
    wheel: Path, minted_root: Path
) -> None:
    """Eight checkers (as eight concurrent runs would) verify and write the same entry at
    once; every one of them gets the right answer and the entry stays whole."""
    results: list[FileResult] = []

    def run() -> None:
        results.append(checker(minted_root).check(candidate(wheel)))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [verified_by(r) for r in results] == [[IDENTITY]] * 8
    [entry] = entries()
    assert json.loads(entry.read_text())["format"] == _cache.FORMAT_VERSION
    hit = checker(minted_root)
    assert verified_by(hit.check(candidate(wheel))) == [IDENTITY]
    assert hit._verifier is None


def test_background_checks_give_the_same_answers(
    tmp_path: Path, minted_root: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    """``submit`` runs the check on the checker's threads; the results are those of
    ``check``, file by file, for files that verify and files that do not."""
    paths = []
    for i in range(12):
        path = make_wheel(tmp_path / "many", f"bg{i}", "1.0")
        prov = sigstore_instance.provenance(path, github(f"bg/bg{i}"))
        Path(f"{path}.provenance").write_text(json.dumps(prov))
        paths.append(path)
    paths[5].write_bytes(paths[5].read_bytes() + b"x")  # one tampered file

    mine = checker(minted_root)
    pending = [(candidate(p), mine.submit(candidate(p))) for p in paths]
    results = [mine.conclude(c, p.result()) for c, p in pending]

    assert [r.status for r in results] == [
        Status.INVALID if i == 5 else Status.VERIFIED for i in range(12)
    ]
    assert [str(r.identities[0]) for r in results if r.identities] == [
        f"github:bg/bg{i}/release.yml" for i in range(12) if i != 5
    ]


# -- the verification helper process (pip_attest._worker) --


def helper_checker(trust_root: Path) -> Checker:
    return Checker(Settings(trust_root=trust_root), session=None, helper=True)


def test_the_helper_verifies_and_fills_the_cache(wheel: Path, minted_root: Path) -> None:
    mine = helper_checker(minted_root)
    try:
        assert verified_by(mine.check(candidate(wheel))) == [IDENTITY]
        assert mine._verifier is None  # verified in the helper, not in this process
    finally:
        assert mine._helper is not None
        mine._helper.close()
    hit = checker(minted_root)
    assert verified_by(hit.check(candidate(wheel))) == [IDENTITY]
    assert hit._verifier is None


def test_the_helper_refuses_what_does_not_verify(wheel: Path, minted_root: Path) -> None:
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    mine = helper_checker(minted_root)
    try:
        result = mine.check(candidate(wheel))
    finally:
        assert mine._helper is not None
        mine._helper.close()
    assert result.status is Status.INVALID
    assert result.blocking
    assert "digest mismatch" in result.reason
    assert entries() == []


def test_a_helper_that_dies_fails_closed(
    wheel: Path, minted_root: Path, tmp_path: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    mine = helper_checker(minted_root)
    assert verified_by(mine.check(candidate(wheel))) == [IDENTITY]
    assert mine._helper is not None and mine._helper._proc is not None
    mine._helper._proc.kill()
    mine._helper._proc.wait()
    other = make_wheel(tmp_path / "later", "laterpkg", "1.0")
    prov = sigstore_instance.provenance(other, github("cache-org/laterpkg"))
    Path(f"{other}.provenance").write_text(json.dumps(prov))

    result = mine.check(candidate(other))

    assert result.status is Status.INVALID
    assert result.blocking
    assert "verification helper stopped" in result.reason
    assert len(entries()) == 1  # only the file verified before the helper died


def test_a_helper_that_cannot_load_the_trust_root_refuses(wheel: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken_root.json"
    broken.write_text('{"mediaType": "not a trust root"}')
    mine = helper_checker(broken)
    try:
        result = mine.check(candidate(wheel))
    finally:
        assert mine._helper is not None
        mine._helper.close()
    assert result.status is Status.INVALID
    assert result.blocking
    assert result.reason.startswith("trust root unusable:")
    assert entries() == []
