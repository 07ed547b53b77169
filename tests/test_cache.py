"""The verification cache, through the checker that uses it, with the real verifier.

Each test checks real files against attestations minted by the throwaway Sigstore, as
``pip-attest`` does for a local ``--find-links`` directory (``FILE.provenance`` beside the
file). Whether an answer came from the cache shows in whether the checker had to build its
sigstore verifier at all. The XDG cache is a fresh temporary directory for every test
(conftest ``_isolate``).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pip_attest import _cache, _env
from pip_attest._check import Candidate, Checker
from pip_attest._config import Settings
from pip_attest._identity import Identity, parse_identity
from pip_attest._memo import RunMemo
from pip_attest._model import Artifact, FileResult, Origin, Status
from pip_attest._names import parse_any
from pip_attest._provenance import fresh_until
from tests.support.packages import make_wheel, named
from tests.support.throwaway_sigstore import ThrowawaySigstore, github

IDENTITY = "github:cache-org/cachepkg/release.yml"

# The key tests' entries are authenticated with; a real run makes its own in the data dir.
KEY = bytes(range(32))
K = KEY.hex()
GOOD_ORDER = {"directory": "/d", "trust_root_sha256": "a", "verifier": "v", "mac_key": K}


@pytest.fixture
def wheel(tmp_path: Path, sigstore_instance: ThrowawaySigstore) -> Path:
    """A wheel with its provenance beside it."""
    path = make_wheel(tmp_path / "dists", "cachepkg", "1.0")
    provenance = sigstore_instance.provenance(path, github("cache-org/cachepkg"))
    Path(f"{path}.provenance").write_text(json.dumps(provenance))
    return path


def checker(trust_root: Path) -> Checker:
    return Checker(Settings(trust_root=trust_root), session=None)


def ran(one: Checker, file: Candidate) -> FileResult:
    """One run's check: the result, once the run is over (close writes the cache)."""
    try:
        return one.check(file)
    finally:
        one.close()


def candidate(path: Path, filename: str | None = None) -> Candidate:
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    name = filename or path.name
    named = parse_any(name)
    assert named is not None, name
    return Candidate(name, sha256, path.resolve().as_uri(), *named, origin=Origin.LOCAL)


def entries() -> list[Path]:
    """Verification entries (``verified/xx/yyyy.json``), not run records."""
    root = _cache.default_dir()
    return sorted(p for p in root.rglob("*.json") if p.parent.parent == root)


def verified_by(result: FileResult) -> list[str]:
    assert result.status is Status.VERIFIED, result.reason
    return [str(i) for i in result.identities]


def test_second_check_is_answered_from_the_cache_without_sigstore(
    wheel: Path, minted_root: Path
) -> None:
    first = checker(minted_root)
    assert verified_by(ran(first, candidate(wheel))) == [IDENTITY]
    assert first.prover._verifier is not None
    [entry] = entries()
    assert json.loads(entry.read_text())["publishers"] == [
        {"kind": "GitHub", "repository": "cache-org/cachepkg", "workflow": "release.yml"}
    ]

    second = checker(minted_root)
    assert verified_by(ran(second, candidate(wheel))) == [IDENTITY]
    assert second.prover._verifier is None  # nothing was verified: the entry answered


def test_entries_still_being_written_are_finished_before_the_process_exits(
    wheel: Path, minted_root: Path
) -> None:
    """Entries are written off the verdict's path. A pip under the hook never calls
    close(): the exit must still wait for them."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.test_cache import candidate, checker\n"
        "result = checker(Path(sys.argv[1])).check(candidate(Path(sys.argv[2])))\n"
        "print(result.status.value)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(minted_root), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert (done.returncode, done.stdout.strip()) == (0, "verified"), done.stderr[-2000:]
    [entry] = entries()
    assert json.loads(entry.read_text())["publishers"][0]["repository"] == "cache-org/cachepkg"


def test_once_a_run_is_over_late_checks_write_no_entries(
    wheel: Path, minted_root: Path, tmp_path: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    """A speculative check can finish after the run ended (close): its entry is dropped
    rather than written while the process exits."""
    late = make_wheel(tmp_path / "late", "latepkg", "1.0")
    Path(f"{late}.provenance").write_text(
        json.dumps(sigstore_instance.provenance(late, github("cache-org/latepkg")))
    )
    mine = checker(minted_root)
    assert verified_by(ran(mine, candidate(wheel))) == [IDENTITY]

    assert mine.check(candidate(late)).status is Status.VERIFIED
    mine.prover.finish_writes()

    [entry] = entries()
    assert "cachepkg" in entry.read_text()


def test_the_policy_is_judged_afresh_on_a_cache_hit(wheel: Path, minted_root: Path) -> None:
    assert verified_by(ran(checker(minted_root), candidate(wheel))) == [IDENTITY]

    pinned = Settings(
        trust_root=minted_root,
        pins={"cachepkg": (parse_identity("github:someone-else/cachepkg/release.yml"),)},
    )
    result = ran(Checker(pinned, session=None), candidate(wheel))

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
    ran(checker(minted_root), candidate(wheel))
    [entry] = entries()
    good = entry.read_bytes()
    entry.write_bytes(garbage)

    again = checker(minted_root)
    assert verified_by(ran(again, candidate(wheel))) == [IDENTITY]
    assert again.prover._verifier is not None  # verified for real
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
    ran(checker(minted_root), candidate(other))
    [other_entry] = entries()
    ran(checker(minted_root), candidate(wheel))
    [mine] = [e for e in entries() if e != other_entry]
    shutil.copyfile(other_entry, mine)

    again = checker(minted_root)
    assert verified_by(ran(again, candidate(wheel))) == [IDENTITY]
    assert again.prover._verifier is not None


def test_an_entry_is_never_used_under_another_trust_root(
    wheel: Path, minted_root: Path, tmp_path: Path
) -> None:
    assert verified_by(ran(checker(minted_root), candidate(wheel))) == [IDENTITY]
    other_root = ThrowawaySigstore().write_trusted_root(tmp_path / "other_root.json")

    result = ran(checker(other_root), candidate(wheel))

    assert result.status is Status.INVALID
    assert result.blocking
    assert "signature check failed" in result.reason
    assert len(entries()) == 1  # the failure was not cached either


def test_the_same_bytes_under_another_name_are_not_a_hit(
    wheel: Path, minted_root: Path, tmp_path: Path
) -> None:
    """The attestation names its file: the same bytes and provenance offered as another
    distribution must be verified (and fail), never answered from the first name's entry."""
    ran(checker(minted_root), candidate(wheel))
    renamed = tmp_path / "renamed" / "evilpkg-1.0-py3-none-any.whl"
    renamed.parent.mkdir()
    shutil.copyfile(wheel, renamed)
    shutil.copyfile(f"{wheel}.provenance", f"{renamed}.provenance")

    result = ran(checker(minted_root), candidate(renamed))

    assert result.status is Status.INVALID
    assert "attestation is for another file" in result.reason


def test_failures_are_not_cached(wheel: Path, minted_root: Path) -> None:
    wheel.write_bytes(wheel.read_bytes() + b"tampered")

    for _ in range(2):
        result = ran(checker(minted_root), candidate(wheel))
        assert result.status is Status.INVALID
        assert "digest mismatch" in result.reason
    assert entries() == []


def test_changed_provenance_is_verified_again(
    wheel: Path, minted_root: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    ran(checker(minted_root), candidate(wheel))
    newer = sigstore_instance.provenance(wheel, github("cache-org/cachepkg", "other.yml"))
    Path(f"{wheel}.provenance").write_text(json.dumps(newer))

    again = checker(minted_root)
    assert verified_by(ran(again, candidate(wheel))) == ["github:cache-org/cachepkg/other.yml"]
    assert again.prover._verifier is not None
    [entry] = entries()  # the file's entry now holds what the new provenance proved
    assert json.loads(entry.read_text())["publishers"][0]["workflow"] == "other.yml"


def test_no_cache_variable_turns_it_off(
    wheel: Path, minted_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_env.NO_CACHE, "1")
    for _ in range(2):
        fresh = checker(minted_root)
        assert verified_by(ran(fresh, candidate(wheel))) == [IDENTITY]
        assert fresh.prover._verifier is not None
    assert entries() == []


@pytest.mark.parametrize(("value", "on"), [("", True), ("0", True), ("yes", False), ("x", False)])
def test_no_cache_values(value: str, on: bool) -> None:
    """Anything but an explicit 'no' turns the cache off: verifying is the safe reading."""
    assert _cache.enabled({_env.NO_CACHE: value}) is on


def test_identities_the_publisher_form_cannot_carry_are_not_cached(tmp_path: Path) -> None:
    cache = _cache.VerificationCache(tmp_path, KEY)
    key = _cache.CacheKey("a-1.0-py3-none-any.whl", "a", "1.0", "0" * 64, "1" * 64, "2" * 64, "v")
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
        results.append(ran(checker(minted_root), candidate(wheel)))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [verified_by(r) for r in results] == [[IDENTITY]] * 8
    [entry] = entries()
    assert json.loads(entry.read_text())["format"] == _cache.FORMAT_VERSION
    hit = checker(minted_root)
    assert verified_by(ran(hit, candidate(wheel))) == [IDENTITY]
    assert hit.prover._verifier is None


def twelve_wheels_one_tampered(tmp_path: Path, sig: ThrowawaySigstore, prefix: str) -> list[Path]:
    """Twelve wheels, each signed by its own repository ``prefix/prefixN``; the sixth
    (index 5) has bytes its attestation does not sign."""
    paths = []
    for i in range(12):
        path = make_wheel(tmp_path / prefix, f"{prefix}{i}", "1.0")
        prov = sig.provenance(path, github(f"{prefix}/{prefix}{i}"))
        Path(f"{path}.provenance").write_text(json.dumps(prov))
        paths.append(path)
    paths[5].write_bytes(paths[5].read_bytes() + b"tampered")
    return paths


def test_background_checks_give_the_same_answers(
    tmp_path: Path, minted_root: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    """``submit`` runs the check on the checker's threads; the results are those of
    ``check``, file by file, for files that verify and files that do not."""
    paths = twelve_wheels_one_tampered(tmp_path, sigstore_instance, "bg")

    mine = checker(minted_root)
    pending = [(candidate(p), mine.submit(candidate(p))) for p in paths]
    results = [mine.conclude(c, p.result()) for c, p in pending]

    assert [r.status for r in results] == [
        Status.INVALID if i == 5 else Status.VERIFIED for i in range(12)
    ]
    assert [str(r.identities[0]) for r in results if r.identities] == [
        f"github:bg/bg{i}/release.yml" for i in range(12) if i != 5
    ]


# -- the verification helper process (pip_attest._helper, _helper_main) --


@contextlib.contextmanager
def helper_checker(trust_root: Path) -> Iterator[Checker]:
    """A checker that verifies in a helper process: the helper must have been started,
    and is stopped afterwards."""
    mine = Checker(Settings(trust_root=trust_root), session=None, helper=True)
    try:
        yield mine
    finally:
        mine.close()
    assert mine.prover._helper is not None


def test_the_helper_verifies_and_fills_the_cache(wheel: Path, minted_root: Path) -> None:
    with helper_checker(minted_root) as mine:
        assert verified_by(mine.check(candidate(wheel))) == [IDENTITY]
        assert mine.prover._verifier is None  # verified in the helper, not in this process
    hit = checker(minted_root)
    assert verified_by(ran(hit, candidate(wheel))) == [IDENTITY]
    assert hit.prover._verifier is None


def test_the_helper_files_the_entry_itself_and_pips_process_writes_none(
    wheel: Path, minted_root: Path
) -> None:
    """The helper writes the entry for what it proved; pip's process queues no write of
    its own (that write used to cost pip's process about 1 ms and its GIL per file)."""
    with helper_checker(minted_root) as mine:
        assert verified_by(mine.check(candidate(wheel))) == [IDENTITY]
        assert mine.prover._writes == []
    [entry] = entries()
    doc = json.loads(entry.read_text())
    assert doc["key"]["filename"] == wheel.name
    assert (
        doc["provenance_sha256"]
        == hashlib.sha256(Path(f"{wheel}.provenance").read_bytes()).hexdigest()
    )


def test_with_the_cache_off_the_helper_writes_nothing(
    wheel: Path, minted_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_env.NO_CACHE, "1")
    for _ in range(2):
        with helper_checker(minted_root) as mine:
            assert verified_by(mine.check(candidate(wheel))) == [IDENTITY]
    assert not _cache.default_dir().exists() or entries() == []


def test_a_cache_the_helper_cannot_write_costs_nothing_but_speed(
    tmp_path: Path, minted_root: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    """A cache directory that cannot be created: every file still gets its real answer."""
    files = twelve_wheels_one_tampered(tmp_path, sigstore_instance, "nocache")
    blocked = _cache.default_dir()
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the cache directory should be")
    with helper_checker(minted_root) as mine:
        results = [mine.check(candidate(path)) for path in files]
    for i, result in enumerate(results):
        if i == 5:
            assert result.status is Status.INVALID and "digest mismatch" in result.reason
        else:
            assert verified_by(result) == [f"github:nocache/nocache{i}/release.yml"]
    assert blocked.read_text() == "a file where the cache directory should be"


def test_a_helper_that_loaded_another_root_than_we_read_files_no_entry(
    tmp_path: Path, minted_root: Path
) -> None:
    """The trust root is replaced ('trust update' in another shell) after this process
    read its digest and before the helper loaded it: the answer is the helper's, against
    the root it loaded, but an entry would be filed under the digest we read. None is."""
    other = ThrowawaySigstore()
    path = make_wheel(tmp_path / "dists", "swapped", "1.0")
    Path(f"{path}.provenance").write_text(
        json.dumps(other.provenance(path, github("cache-org/swapped")))
    )
    root = tmp_path / "trusted_root.json"
    shutil.copyfile(minted_root, root)
    with helper_checker(root) as mine:
        assert mine.prover.root_and_version()[0] == sha(minted_root.read_bytes())
        other.write_trusted_root(root)
        result = mine.check(candidate(path))
        assert mine.prover._helper is not None and mine.prover._helper._ready is not None
        assert mine.prover._helper._ready["root_sha256"] == sha(root.read_bytes())
    assert verified_by(result) == ["github:cache-org/swapped/release.yml"]
    assert entries() == []


def test_an_order_the_helper_cannot_read_costs_the_entry_not_the_answer(
    wheel: Path, minted_root: Path
) -> None:
    with helper_checker(minted_root) as mine:
        assert mine.prover.helper() is not None
        root, version = mine.prover.root_and_version()
        assert root is not None
        order = _cache.EntryOrder(
            _cache.default_dir(), KEY, root, version, ("u", float("inf"), 1.0)
        )
        identities = mine.prover.helper().verify(
            Artifact(wheel.name, sha(wheel.read_bytes()), *named(wheel.name)),
            Path(f"{wheel}.provenance").read_bytes(),
            record=order,
        )
    assert [str(i) for i in identities] == [IDENTITY]
    assert entries() == []


def test_an_entry_order_files_nothing_under_a_root_the_helper_did_not_use(
    tmp_path: Path,
) -> None:
    order = _cache.EntryOrder(tmp_path / "verified", KEY, "a" * 64, "v")
    identity = (parse_identity(IDENTITY),)
    artifact = Artifact("a-1.0-py3-none-any.whl", "0" * 64, "a", "1.0")
    assert not order.file(artifact, b"{}", identity, "b" * 64)
    assert not (tmp_path / "verified").exists()
    assert order.file(artifact, b"{}", identity, "a" * 64)
    key = _cache.CacheKey(artifact.filename, "a", "1.0", "0" * 64, sha(b"{}"), "a" * 64, "v")
    assert _cache.VerificationCache(tmp_path / "verified", KEY).get(key) == identity


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"directory": "", "trust_root_sha256": "a", "verifier": "v", "mac_key": K},
        {"directory": "/d", "trust_root_sha256": "a", "verifier": "v"},
        {"directory": "/d", "trust_root_sha256": "a", "verifier": "v", "mac_key": "00" * 31},
        {"directory": "/d", "trust_root_sha256": "a", "verifier": "v", "mac_key": "zz" * 32},
        {"directory": "/d", "trust_root_sha256": 1, "verifier": "v", "mac_key": K},
        {**GOOD_ORDER, "fresh": ["u", 1]},
        {**GOOD_ORDER, "fresh": ["u", True, 2]},
        {**GOOD_ORDER, "fresh": [1, 2, 3]},
        {**GOOD_ORDER, "fresh": ["u", 10**400, 1]},
        {**GOOD_ORDER, "fresh": ["u", 1e999, 1]},
    ],
)
def test_an_entry_order_that_cannot_be_read_is_no_order(doc: object) -> None:
    assert _cache.EntryOrder.from_json(doc) is None


def test_an_entry_order_survives_the_trip_to_the_helper(tmp_path: Path) -> None:
    order = _cache.EntryOrder(tmp_path, KEY, "a" * 64, "v", ("https://x/p", 20.0, 10.0))
    assert _cache.EntryOrder.from_json(json.loads(json.dumps(order.to_json()))) == order


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_helper_refuses_what_does_not_verify(wheel: Path, minted_root: Path) -> None:
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    with helper_checker(minted_root) as mine:
        result = mine.check(candidate(wheel))
    assert result.status is Status.INVALID
    assert result.blocking
    assert "digest mismatch" in result.reason
    assert entries() == []


def test_a_helper_that_dies_fails_closed(
    wheel: Path, minted_root: Path, tmp_path: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    other = make_wheel(tmp_path / "later", "laterpkg", "1.0")
    prov = sigstore_instance.provenance(other, github("cache-org/laterpkg"))
    Path(f"{other}.provenance").write_text(json.dumps(prov))
    with helper_checker(minted_root) as mine:
        assert verified_by(mine.check(candidate(wheel))) == [IDENTITY]
        assert mine.prover._helper is not None and mine.prover._helper._proc is not None
        mine.prover._helper._proc.kill()
        mine.prover._helper._proc.wait()

        result = mine.check(candidate(other))

    assert result.status is Status.INVALID
    assert result.blocking
    assert "verification helper stopped" in result.reason
    # The helper writes an entry after its answer, so the kill may have cut the first
    # file's short (a later miss, no more): but nothing was ever filed for the second.
    assert all("laterpkg" not in entry.read_text() for entry in entries())


def test_a_helper_that_cannot_load_the_trust_root_refuses(wheel: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken_root.json"
    broken.write_text('{"mediaType": "not a trust root"}')
    with helper_checker(broken) as mine:
        result = mine.check(candidate(wheel))
    assert result.status is Status.INVALID
    assert result.blocking
    assert result.reason.startswith("trust root unusable:")
    assert entries() == []


def test_pipelined_helper_gives_every_request_its_own_answer(
    tmp_path: Path, minted_root: Path, sigstore_instance: ThrowawaySigstore
) -> None:
    """Requests from many threads are in flight at once: each answer must reach the thread
    that asked, or one file would be reported with another file's signer."""
    files = twelve_wheels_one_tampered(tmp_path, sigstore_instance, "many")
    with helper_checker(minted_root) as mine, ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda p: mine.check(candidate(p)), files))

    assert mine.prover._verifier is None  # all of it in the helper
    for i, result in enumerate(results):
        if i == 5:
            assert result.status is Status.INVALID
            assert "digest mismatch" in result.reason
        else:
            assert verified_by(result) == [f"github:many/many{i}/release.yml"]


# -- freshness: reusing a verified answer while the index says it is fresh --

NOW = 1_800_000_000.0


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "max-age=600, public"}, NOW + 600),  # PyPI's
        ({"Cache-Control": "public, max-age=600", "Date": http_date(NOW)}, NOW + 600),
        ({"Cache-Control": "max-age=600", "Age": "100"}, NOW + 500),
        # kept by pip's HTTP cache for 9 of its 10 minutes: 1 minute left
        ({"Cache-Control": "max-age=600", "Date": http_date(NOW - 540)}, NOW + 60),
        ({"Cache-Control": "max-age=600", "Date": http_date(NOW - 601)}, 0.0),
        # a server clock ahead of ours buys nothing
        ({"Cache-Control": "max-age=600", "Date": http_date(NOW + 3600)}, NOW + 600),
        ({"Cache-Control": "max-age=999999999"}, NOW + 24 * 3600),  # capped at a day
        ({"Cache-Control": "max-age=" + "9" * 5000}, NOW + 24 * 3600),
        ({"Cache-Control": "max-age=600, no-cache"}, 0.0),
        ({"Cache-Control": "no-store, max-age=600"}, 0.0),
        ({"Cache-Control": "max-age=0"}, 0.0),
        ({"Cache-Control": "public"}, 0.0),
        ({}, 0.0),
        ({"Cache-Control": "max-age=-5"}, 0.0),
        ({"Cache-Control": "max-age=6e2"}, 0.0),
        ({"Cache-Control": "max-age=\u00b2\u00b2"}, 0.0),  # digits, but not ASCII ones
        ({"Cache-Control": "max-age=600", "Age": "600"}, 0.0),
        ({"Cache-Control": "max-age=600", "Date": "yesterday-ish"}, 0.0),
        # a directive said twice (a proxy adding its own): stale, not the longer one
        ({"Cache-Control": "max-age=0, max-age=600"}, 0.0),
    ],
)
def test_freshness_follows_the_cache_headers(headers: dict[str, str], expected: float) -> None:
    assert fresh_until(headers, NOW) == pytest.approx(expected)


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
def test_a_date_in_minus_0000_is_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        date = http_date(NOW - 540)[: -len("GMT")] + "-0000"
        assert fresh_until({"Cache-Control": "max-age=600", "Date": date}, NOW) == NOW + 60
    finally:
        monkeypatch.undo()
        time.tzset()


URL = "https://pypi.example/integrity/a/1.0/a-1.0-py3-none-any.whl/provenance"


def fresh_key(file_sha256: str = "0" * 64, url: str = URL) -> _cache.FreshKey:
    return _cache.FreshKey(url, "a-1.0-py3-none-any.whl", "a", "1.0", file_sha256, "2" * 64, "v")


def evidence_key(provenance_sha256: str = "1" * 64) -> _cache.CacheKey:
    return _cache.CacheKey(
        "a-1.0-py3-none-any.whl", "a", "1.0", "0" * 64, provenance_sha256, "2" * 64, "v"
    )


def test_a_fresh_answer_is_only_for_the_same_bytes_and_only_while_fresh(tmp_path: Path) -> None:
    cache = _cache.VerificationCache(tmp_path, KEY)
    who = (parse_identity(IDENTITY),)
    assert cache.put(evidence_key(), who, (URL, NOW + 600, NOW))

    assert cache.get_fresh(fresh_key(), NOW + 599) == who
    assert cache.get(evidence_key()) == who  # one entry holds both
    assert cache.get_fresh(fresh_key("1" * 64), NOW) is None  # other bytes, same URL
    assert cache.get_fresh(fresh_key(url=URL + "?mirror"), NOW) is None  # asked elsewhere
    assert cache.get_fresh(fresh_key(), NOW + 600) is None  # expired
    assert cache.get_fresh(fresh_key(), NOW - 1) is None  # the clock went back

    # A window over the cap, or already over, is left out; the evidence is kept.
    for until in (NOW + 2 * 24 * 3600, NOW):
        assert cache.put(evidence_key(), who, (URL, until, NOW))
        assert cache.get_fresh(fresh_key(), NOW + 1) is None
        assert cache.get(evidence_key()) == who


def test_new_provenance_for_a_file_replaces_its_entry(tmp_path: Path) -> None:
    cache = _cache.VerificationCache(tmp_path, KEY)
    who = (parse_identity(IDENTITY),)
    cache.put(evidence_key(), who, (URL, NOW + 600, NOW))

    assert cache.put(evidence_key("3" * 64), who)

    assert cache.get(evidence_key("3" * 64)) == who
    assert cache.get(evidence_key()) is None
    assert cache.get_fresh(fresh_key(), NOW + 1) is None  # the new entry says nothing of it
    assert len(list(tmp_path.rglob("*.json"))) == 1


def test_an_edited_fresh_entry_is_not_trusted(tmp_path: Path) -> None:
    cache = _cache.VerificationCache(tmp_path, KEY)
    cache.put(evidence_key(), (parse_identity(IDENTITY),), (URL, NOW + 600, NOW))
    [entry] = tmp_path.rglob("*.json")
    doc = json.loads(entry.read_text())
    doc["fresh_until"] = NOW + 30 * 24 * 3600  # stretched past the cap
    entry.write_text(json.dumps(doc))
    assert cache.get_fresh(fresh_key(), NOW + 3600) is None
    for garbage in (b"", b"{", b"[]", b'{"format": 2, "stored": "x"}'):
        entry.write_bytes(garbage)
        assert cache.get_fresh(fresh_key(), NOW + 1) is None
        assert cache.get(evidence_key()) is None


# -- the run memo: whether to start the helper before pip runs --


def test_the_run_memo_names_the_command_and_its_requirement_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("a==1\n")

    def memo(*args: str) -> RunMemo:
        return RunMemo(tmp_path / "cache", ["install", *args])

    assert not memo("-r", "requirements.txt").expects_hits(NOW)
    memo("-r", "requirements.txt").record(True, NOW)
    assert memo("-r", "requirements.txt").expects_hits(NOW + 60)
    assert memo("--requirement=requirements.txt").path != memo("-r", "requirements.txt").path
    assert not memo("-r", "requirements.txt").expects_hits(NOW + 8 * 24 * 3600)  # too old
    assert not memo("-r", "requirements.txt").expects_hits(NOW - 60)  # the clock went back

    reqs.write_text("a==1\nb==2\n")  # another set of files: no guess from the old run
    assert not memo("-r", "requirements.txt").expects_hits(NOW + 60)
    reqs.write_text("a==1\n")
    monkeypatch.setenv("PIP_INDEX_URL", "https://elsewhere.example/simple/")
    assert not memo("-r", "requirements.txt").expects_hits(NOW + 60)
    monkeypatch.delenv("PIP_INDEX_URL")
    memo("-r", "requirements.txt").record(False, NOW)
    assert not memo("-r", "requirements.txt").expects_hits(NOW + 60)


def test_the_run_memo_never_reads_a_pipe(tmp_path: Path) -> None:
    """``pip install -r <(...)`` names a pipe whose bytes are pip's to read: the memo must
    not take them (nor wait on a FIFO with no writer)."""
    fifo = tmp_path / "reqs.fifo"
    os.mkfifo(fifo)
    memo = RunMemo(tmp_path / "cache", ["install", "-r", str(fifo)])
    assert not memo.expects_hits(NOW)

    read_end, write_end = os.pipe()
    os.write(write_end, b"a==1\n")
    os.close(write_end)
    RunMemo(tmp_path / "cache", ["install", "-r", f"/dev/fd/{read_end}"])
    assert os.read(read_end, 100) == b"a==1\n"  # still there for pip
    os.close(read_end)


def test_a_file_examined_ahead_is_answered_only_for_the_same_bytes(
    wheel: Path, minted_root: Path
) -> None:
    """With PEP 658 metadata, a file is examined from the sha256 the index gives, before
    pip downloads it. Bytes that turn out to be different are examined afresh."""
    mine = checker(minted_root)
    ahead = candidate(wheel)
    mine.speculate(ahead)
    assert verified_by(mine.check(ahead)) == [IDENTITY]

    wheel.write_bytes(wheel.read_bytes() + b"swapped")
    result = ran(mine, candidate(wheel))

    assert result.status is Status.INVALID
    assert "digest mismatch" in result.reason


def test_a_fifo_in_the_cache_is_a_miss_not_a_hang(tmp_path: Path) -> None:
    cache = _cache.VerificationCache(tmp_path, KEY)
    key = _cache.CacheKey("a-1.0-py3-none-any.whl", "a", "1.0", "0" * 64, "1" * 64, "2" * 64, "v")
    cache.path(key).parent.mkdir(parents=True)
    os.mkfifo(cache.path(key))
    assert cache.get(key) is None


def test_the_run_memo_does_not_open_a_fifo_a_writer_waits_on(tmp_path: Path) -> None:
    """Opening a FIFO's read end releases a writer blocked in open(): pip would then
    find the writer gone. The memo only looks at what the name is."""
    fifo = tmp_path / "reqs.fifo"
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until someone opens the read end
        opened.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    RunMemo(tmp_path / "cache", ["install", "-r", str(fifo)])
    assert not opened.wait(0.3)
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # let the writer go
    assert opened.wait(5)


# A helper that speaks the protocol but answers two requests in the wrong order, each
# answer "verified" by a signer: the client must refuse both, never hand one file's
# answer to the other.
_OUT_OF_ORDER = """
import json, sys
out, inp = sys.stdout.buffer, sys.stdin.buffer
out.write(b'{"ready": true, "root_sha256": "x"}\\n'); out.flush()
seen = []
while True:
    line = inp.readline()
    if not line:
        break
    header = json.loads(line)
    inp.read(header["size"])
    seen.append(header["id"])
    if len(seen) == 2:
        for number in reversed(seen):
            answer = {"id": number, "ok": True, "identities": [
                {"kind": "GitHub", "repository": "evil/x", "workflow": "w.yml"}]}
            out.write(json.dumps(answer).encode() + b"\\n")
        out.flush()
        seen = []
"""


def test_a_helper_answering_out_of_order_fails_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pip_attest import _helper, _spawn
    from pip_attest._errors import VerificationError
    from pip_attest._model import Artifact

    monkeypatch.setattr(_spawn, "_BOOT", _OUT_OF_ORDER)
    client = _helper.WorkerClient(tmp_path / "unused_root.json")
    barrier = threading.Barrier(2)

    def ask(name: str) -> str:
        barrier.wait()
        try:
            client.verify(Artifact(name, "0" * 64, *named(name)), b"{}")
        except VerificationError as err:
            return str(err)
        return "verified"

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(ask, ["a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl"]))
    finally:
        client.close()

    assert outcomes == ["the verification helper answered out of order"] * 2


def test_the_verifier_versions_are_those_importlib_metadata_reads() -> None:
    from importlib import metadata

    version = _cache.verifier_version()

    assert version.split("; ")[1:] == [
        f"sigstore {metadata.version('sigstore')}",
        f"pypi-attestations {metadata.version('pypi-attestations')}",
    ]
    assert _cache._installed_version("no-such-distribution-here") == "?"


def test_the_verifier_versions_come_from_the_dist_info_folder_beside_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    expected = metadata.version("sigstore")

    def unused(name: str) -> str:
        raise AssertionError(f"importlib.metadata was asked for {name}")

    monkeypatch.setattr(metadata, "version", unused)
    assert _cache._installed_version("sigstore") == expected


def test_an_entry_with_a_name_near_the_file_systems_limit_is_still_written(
    tmp_path: Path,
) -> None:
    """The temporary name adds about 30 characters; too long, it falls back to mkstemp's."""
    from pip_attest._fileio import atomic_write

    target = tmp_path / ("pylock." + "n" * 225 + ".toml")
    atomic_write(target, b"data")

    assert target.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_the_mac_key_is_made_once_private_in_the_data_dir(tmp_path: Path) -> None:
    key = _cache.mac_key()
    path = tmp_path / "xdg-data" / "pip-attest" / _cache.MAC_KEY_NAME
    assert key is not None and len(key) == 32
    assert path.read_bytes() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert _cache.mac_key() == key  # read back, not made again
    assert not list(path.parent.glob(".cache-key.*"))  # no temporary file left


def test_a_mac_key_that_is_not_a_regular_32_byte_file_caches_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / _cache.MAC_KEY_NAME).write_bytes(b"short")
    assert _cache.mac_key(folder) is None
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / _cache.MAC_KEY_NAME)
    assert _cache.mac_key(fifo) is None  # no hang


def test_an_entry_written_under_another_key_is_a_miss(tmp_path: Path) -> None:
    key = _cache.CacheKey("a-1.0-py3-none-any.whl", "a", "1.0", "0" * 64, "1" * 64, "2" * 64, "v")
    identity = (parse_identity(IDENTITY),)
    assert _cache.VerificationCache(tmp_path, b"\x01" * 32).put(key, identity)
    assert _cache.VerificationCache(tmp_path, b"\x01" * 32).get(key) == identity
    assert _cache.VerificationCache(tmp_path, KEY).get(key) is None
    # An entry with its MAC taken out, or any field changed after it was made, is a miss too.
    path = _cache.VerificationCache(tmp_path, KEY).path(key)
    doc = json.loads(path.read_bytes())
    for edit in ({"mac": None}, {"publishers": [{"kind": "GitHub", "repository": "x/y"}]}):
        path.write_text(json.dumps({**doc, **edit}))
        assert _cache.VerificationCache(tmp_path, b"\x01" * 32).get(key) is None


def test_a_source_rebuilt_past_the_cap_keeps_its_latest_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pip_attest._store import BuiltWheels

    monkeypatch.setattr(BuiltWheels, "MAX_WHEELS", 3)
    built = BuiltWheels(tmp_path)
    source = "ab" * 32
    wheels = ["f" * 64, "0" * 64, "9" * 64, "1" * 64]  # built in this order: not sorted
    for wheel in wheels:
        built.add(source, wheel)
    assert built.wheels(source) == tuple(wheels[1:])
    assert not built.vouches(source, wheels[0])
    assert built.vouches(source, wheels[-1].upper())
