"""The policy's parts in isolation: policy files and their precedence, the first-seen store,
and every verdict of the DESIGN.md §4 table for each source of expected publishers.

The identities judged here are what verification would prove; the end-to-end tests
(test_policy_e2e.py) prove them with real signatures."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pip_attest import _config as cfg
from pip_attest import _env
from pip_attest._cli import main
from pip_attest._errors import UsageError
from pip_attest._identity import parse_identity
from pip_attest._model import FileResult, Status
from pip_attest._policy import Evidence, EvidenceKind, Policy
from pip_attest._store import FirstSeenStore, StoreError

A = parse_identity("github:example/app/release.yml")
B = parse_identity("github:takeover/app/release.yml")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def settings(tmp_path: Path, **env: str) -> cfg.Settings:
    env.setdefault(_env.POLICY, "none")
    return cfg.Settings.from_env({**env, _env.FIRST_SEEN_DIR: str(tmp_path / "store")})


def verified(result_identities: tuple[object, ...] = (A,)) -> Evidence:
    return Evidence(EvidenceKind.VERIFIED, identities=result_identities)  # type: ignore[arg-type]


# -- policy files --


def test_pyproject_table_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.pip-attest]\nrequire-attestations = true\nallow-unattested = ["Old_Thing"]\n'
        '[tool.pip-attest.publishers]\napp = ["github:example/app/release.yml", '
        '"google:ci@example.iam.gserviceaccount.com"]\n',
    )
    (tmp_path / "src" / "deep").mkdir(parents=True)

    s = cfg.Settings.from_env({}, cwd=tmp_path / "src" / "deep")

    assert s.require_attestations is True
    assert s.allow_unattested == {"old-thing"}
    assert [str(i) for i in s.pins["app"]] == [
        "github:example/app/release.yml",
        "google:ci@example.iam.gserviceaccount.com",
    ]
    assert s.policy_file == tmp_path / "pyproject.toml"
    assert s.sources["require-attestations"] == f"file {tmp_path / 'pyproject.toml'}"


def test_pyproject_without_table_is_no_policy(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    s = cfg.Settings.from_env({}, cwd=tmp_path)
    assert s.policy_file is None
    assert s.require_attestations is False


def test_named_policy_file_may_use_top_level_keys(tmp_path: Path) -> None:
    policy = write(tmp_path / "policy.toml", 'publishers = { app = "gitlab:g/app/.ci.yml" }\n')
    s = cfg.Settings.from_env({_env.POLICY: str(policy)})
    assert str(s.pins["app"][0]) == "gitlab:g/app/.ci.yml"


def test_flags_and_env_beat_the_file_per_project(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.pip-attest]\nrequire-attestations = true\nallow-unattested = ['a']\n"
        "[tool.pip-attest.publishers]\napp = 'github:example/app/release.yml'\n"
        "other = 'github:example/other/release.yml'\n",
    )
    env = {
        _env.REQUIRE: "0",
        _env.ALLOW_UNATTESTED: "b",
        _env.PUBLISHER: "app=github:takeover/app/release.yml",
    }
    s = cfg.Settings.from_env(env, cwd=tmp_path)
    assert s.require_attestations is False
    assert s.allow_unattested == {"a", "b"}
    assert [str(i) for i in s.pins["app"]] == ["github:takeover/app/release.yml"]
    assert [str(i) for i in s.pins["other"]] == ["github:example/other/release.yml"]
    assert s.sources["publisher:app"].startswith("--publisher")
    assert s.sources["publisher:other"].startswith("file ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.pip-attest]\nrequire_attestations = true\n", "unknown key 'require_attestations'"),
        ("[tool.pip-attest]\nrequire-attestations = 'yes'\n", "must be true or false"),
        ("[tool.pip-attest]\nallow-unattested = 'a'\n", "must be a list of project names"),
        ("[tool.pip-attest]\nallow-unattested = [1]\n", "must be a list of project names"),
        ("[tool.pip-attest]\npublishers = ['a']\n", "publishers must be a table"),
        ("[tool.pip-attest.publishers]\na = 3\n", "publishers.a must be an identity"),
        ("[tool.pip-attest.publishers]\na = []\n", "publishers.a must be an identity"),
        ("[tool.pip-attest.publishers]\na = 'github:only-owner'\n", "invalid publisher identity"),
        ("[tool.pip-attest\n", "not valid TOML"),
        ("[tool]\npip-attest = 3\n", "expected a table"),
        ("[tool.pip-attest]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n", "not valid TOML"),
    ],
)
def test_bad_policy_files_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "pyproject.toml", text)
    with pytest.raises(UsageError, match=message):
        cfg.Settings.from_env({}, cwd=tmp_path)


def test_named_policy_file_must_exist_and_hold_a_policy(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read policy file"):
        cfg.Settings.from_env({_env.POLICY: str(tmp_path / "absent.toml")})
    write(tmp_path / "pyproject.toml", "[project]\nname='x'\n")
    with pytest.raises(UsageError, match="has no \\[tool.pip-attest\\] table"):
        cfg.Settings.from_env({_env.POLICY: str(tmp_path / "pyproject.toml")})


def test_discovery_is_pinned_for_subprocesses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "pyproject.toml", "[tool.pip-attest]\nrequire-attestations = true\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(_env.POLICY, raising=False)
    settings = cfg.Settings.from_env()
    # Reading settings writes nothing; the run exports what its pip subprocesses need.
    import os

    assert _env.POLICY not in os.environ
    assert settings.exports() == {_env.POLICY: str(tmp_path / "pyproject.toml")}
    monkeypatch.setenv(_env.POLICY, settings.exports()[_env.POLICY])
    # A build-dependency pip, started next to an sdist's own pyproject.toml, reads ours.
    elsewhere = tmp_path / "sdist"
    elsewhere.mkdir()
    write(elsewhere / "pyproject.toml", "[tool.pip-attest]\nrequire-attestations = false\n")
    monkeypatch.chdir(elsewhere)
    assert cfg.Settings.from_env().require_attestations is True


# -- the first-seen store --


def test_store_round_trip_and_first_version_moves_earlier(tmp_path: Path) -> None:
    store = FirstSeenStore(tmp_path)
    record, new = store.add("App", "2.0", [A], "first-use")
    assert new == [A]
    assert record.first_attested_version == "2.0"
    record, new = store.add("app", "1.5", [A], "first-use")
    assert new == []
    assert record.first_attested_version == "1.5"
    fresh = FirstSeenStore(tmp_path).get("APP")
    assert fresh is not None
    assert fresh.identities == (A,)
    assert fresh.first_attested_version == "1.5"
    assert FirstSeenStore(tmp_path).forget("app") is True
    assert FirstSeenStore(tmp_path).get("app") is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"record_version": 2}',
        json.dumps({"record_version": 1, "project": "other", "identities": []}).encode(),
        json.dumps(
            {"record_version": 1, "project": "app", "first_attested_version": "1", "identities": []}
        ).encode(),
        json.dumps(
            {
                "record_version": 1,
                "project": "app",
                "first_attested_version": "1",
                "identities": [{"publisher": {"kind": "Nope"}}],
            }
        ).encode(),
        b"[" * 100_000,
    ],
)
def test_unreadable_record_blocks_instead_of_being_forgotten(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "app.json").write_bytes(content)
    policy = Policy(settings(tmp_path))

    for evidence in (Evidence(EvidenceKind.MISSING), verified()):
        verdict = policy.judge("app", evidence, "1.0")
        assert verdict.blocking
        assert verdict.status is Status.INVALID
        assert "first-seen record" in verdict.reason
        assert "pip-attest trust forget app" in verdict.reason


def test_store_refuses_names_that_are_not_project_names(tmp_path: Path) -> None:
    store = FirstSeenStore(tmp_path)
    with pytest.raises(StoreError, match="not a valid project name"):
        store.add("../../etc/passwd", "1", [A], "accepted")
    # A local tree pip has not named yet has no record (and is no error).
    assert store.get("file:///tmp/x/../myapp") is None
    assert not list(tmp_path.iterdir())


def _add_many(root: str, worker: int) -> None:
    store = FirstSeenStore(Path(root))
    for i in range(20):
        ident = parse_identity(f"github:example/w{worker}/r{i}.yml")
        store.add("shared", "1.0", [ident], "accepted")


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    record = FirstSeenStore(tmp_path).get("shared")
    assert record is not None
    assert len(record.identities) == 80


# -- verdicts --


def test_first_use_then_unexpected_then_accepted(tmp_path: Path) -> None:
    policy = Policy(settings(tmp_path))
    assert policy.judge("app", verified(), "1.0").status is Status.VERIFIED
    policy.remember([_result("app", "1.0", A)])

    verdict = Policy(settings(tmp_path)).judge("app", verified((B,)), "2.0")
    assert verdict.status is Status.UNEXPECTED_PUBLISHER
    assert verdict.blocking
    assert "pip-attest trust accept app github:takeover/app/release.yml" in verdict.hint

    once = Policy(settings(tmp_path, **{_env.ACCEPT_PUBLISHER: f"app={B}"}))
    assert once.judge("app", verified((B,)), "2.0").status is Status.VERIFIED
    once.remember([_result("app", "2.0", B)])
    assert FirstSeenStore(tmp_path / "store").get("app").identities == (A,)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("version", "status", "blocking"),
    [
        ("1.0", Status.DOWNGRADE, True),
        ("3", Status.DOWNGRADE, True),
        ("0.9", Status.MISSING, False),
    ],
)
def test_missing_after_first_seen(
    tmp_path: Path, version: str, status: Status, blocking: bool
) -> None:
    FirstSeenStore(tmp_path / "store").add("app", "1.0", [A], "first-use")
    verdict = Policy(settings(tmp_path)).judge("app", Evidence(EvidenceKind.MISSING), version)
    assert (verdict.status, verdict.blocking) == (status, blocking)


def test_pin_beats_lock_beats_first_seen(tmp_path: Path) -> None:
    FirstSeenStore(tmp_path / "store").add("app", "1.0", [A], "first-use")
    locked = {"app": (B,)}
    by_lock = Policy(settings(tmp_path), locked=locked, lock_name="pylock.toml")
    assert by_lock.judge("app", verified((B,))).status is Status.VERIFIED
    verdict = by_lock.judge("app", verified((A,)))
    assert verdict.status is Status.UNEXPECTED_PUBLISHER
    assert "app is locked in pylock.toml" in verdict.reason
    assert "'pip-attest lock' command for pylock.toml with --accept-publisher app=" in verdict.hint

    pinned = Policy(settings(tmp_path, **{_env.PUBLISHER: f"app={A}"}), locked=locked)
    assert pinned.judge("app", verified((A,))).status is Status.VERIFIED
    assert pinned.judge("app", Evidence(EvidenceKind.MISSING)).status is Status.DOWNGRADE


def test_every_identity_must_be_expected(tmp_path: Path) -> None:
    policy = Policy(settings(tmp_path, **{_env.PUBLISHER: f"app={A}"}))
    verdict = policy.judge("app", verified((A, B)))
    assert verdict.status is Status.UNEXPECTED_PUBLISHER
    assert str(B) in verdict.reason


def test_required_attestations_and_allowed_exceptions(tmp_path: Path) -> None:
    policy = Policy(settings(tmp_path, **{_env.REQUIRE: "1", _env.ALLOW_UNATTESTED: "Legacy_A"}))
    assert not policy.judge("legacy-a", Evidence(EvidenceKind.MISSING)).blocking
    verdict = policy.judge("legacy-b", Evidence(EvidenceKind.MISSING))
    assert verdict.blocking
    assert "--allow-unattested legacy-b" in verdict.hint


def test_unwritable_store_warns_and_does_not_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store directory should be")
    Policy(settings(tmp_path)).remember([_result("app", "1.0", A)])
    assert "warning: could not record app's publishers" in capsys.readouterr().err


def _result(project: str, version: str, *identities: object) -> FileResult:
    return FileResult(
        project=project,
        version=version,
        filename=f"{project}-{version}-py3-none-any.whl",
        sha256="00" * 32,
        status=Status.VERIFIED,
        identities=identities,  # type: ignore[arg-type]
    )


# -- the commands --


def test_trust_and_policy_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(_env.FIRST_SEEN_DIR, str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", f"[tool.pip-attest.publishers]\nother = '{B}'\n")

    assert main(["trust", "accept", "App", str(A)]) == 0
    assert "accepted github:example/app/release.yml as a publisher of app" in (
        capsys.readouterr().out
    )
    assert main(["trust", "list", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(p["project"], p["identities"][0]["how"]) for p in doc["projects"]] == [
        ("app", "accepted")
    ]
    assert main(["policy", "show", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["publishers"] == [
        {
            "project": "other",
            "identities": [str(B)],
            "from": f"file {tmp_path / 'pyproject.toml'}",
        }
    ]
    assert shown["first_seen_projects"] == 1
    assert main(["trust", "forget", "app"]) == 0
    assert main(["trust", "forget", "app"]) == 1
    assert "no first-seen record for app" in capsys.readouterr().err
    assert main(["trust", "accept", "app", "github:nope"]) == 2
    assert main(["trust", "accept", "../x", str(A)]) == 2


def test_what_a_run_records_under_a_pin_or_a_lock(tmp_path: Path) -> None:
    store = FirstSeenStore(tmp_path / "store")
    # A pin speaks for itself: nothing is recorded, so a file pin cannot seed the store.
    pinned = Policy(settings(tmp_path, **{_env.PUBLISHER: f"app={A}"}), store=store)
    pinned.remember([_result("app", "1.0", A)])
    assert store.get("app") is None
    # Under a lock, an identity accepted for this run only is never recorded.
    locked = Policy(
        settings(tmp_path, **{_env.ACCEPT_PUBLISHER: f"app={B}"}),
        store=store,
        locked={"app": (A,)},
    )
    assert locked.judge("app", verified((A, B))).status is Status.VERIFIED
    locked.remember([_result("app", "1.0", A, B)])
    record = FirstSeenStore(tmp_path / "store").get("app")
    assert record is not None
    assert record.identities == (A,)
    assert record.seen[0].how == "locked"


def test_a_record_forgotten_mid_run_is_not_recreated_empty(tmp_path: Path) -> None:
    policy = Policy(settings(tmp_path))
    FirstSeenStore(tmp_path / "store").add("app", "1.0", [A], "first-use")
    assert policy.judge("app", verified(), "2.0").status is Status.VERIFIED  # record read
    FirstSeenStore(tmp_path / "store").forget("app")  # 'trust forget' in another shell
    policy.remember([_result("app", "2.0", A)])
    assert FirstSeenStore(tmp_path / "store").get("app") is None
    assert (
        Policy(settings(tmp_path)).judge("app", Evidence(EvidenceKind.MISSING), "3").blocking
        is False
    )


def test_a_record_that_is_a_fifo_is_refused_not_waited_for(tmp_path: Path) -> None:
    import os

    (tmp_path / "store").mkdir()
    os.mkfifo(tmp_path / "store" / "app.json")
    verdict = Policy(settings(tmp_path)).judge("app", verified(), "1.0")
    assert verdict.blocking
    assert "is not a regular file" in verdict.reason


def test_unusable_store_and_report_paths_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(_env.FIRST_SEEN_DIR, str(blocker / "store"))
    assert main(["trust", "accept", "app", str(A)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pip-attest: error: ") and "first-seen" in err and err.count("\n") == 1
    assert "internal error" not in err
    assert main(["install", "--output", str(tmp_path / "missing" / "r.json"), "x"]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_an_older_attested_release_moves_the_first_attested_version(tmp_path: Path) -> None:
    FirstSeenStore(tmp_path / "store").add("app", "2.0", [A], "first-use")
    path = tmp_path / "store" / "app.json"
    before = path.stat().st_mtime_ns

    Policy(settings(tmp_path)).remember([_result("app", "3.0", A)])
    assert path.stat().st_mtime_ns == before  # nothing to change: not even rewritten
    Policy(settings(tmp_path)).remember([_result("app", "1.5", A)])

    record = FirstSeenStore(tmp_path / "store").get("app")
    assert record is not None
    assert record.first_attested_version == "1.5"
    # 1.6 is now after the first attested version: without attestation, a downgrade.
    verdict = Policy(settings(tmp_path)).judge("app", Evidence(EvidenceKind.MISSING), "1.6")
    assert verdict.status is Status.DOWNGRADE


def test_a_publisher_accepted_before_any_install_expects_every_version(tmp_path: Path) -> None:
    FirstSeenStore(tmp_path / "store").add("app", "0", [A], "accepted")
    verdict = Policy(settings(tmp_path)).judge("app", Evidence(EvidenceKind.MISSING), "0.1")
    assert verdict.status is Status.DOWNGRADE
    assert "app has a publisher accepted with 'pip-attest trust accept'" in verdict.reason
