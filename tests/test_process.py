"""The pip-attest process before and after its work (pip_attest._spawn, __main__): which
commands start the verification helper ahead of pip, which checker may take it, and the quick exit.

The helpers started here are real interpreters; the exits are real processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pip_attest import _spawn
from pip_attest._helper import WorkerClient
from pip_attest._trust import ensure_root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    yield
    _spawn.discard_early_helper()


def _take(trust_root: Path | None) -> subprocess.Popen[bytes] | None:
    started = _spawn.take_early_helper(trust_root)
    if started is None:
        return None
    proc, stderr = started
    proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, stderr):
        if stream is not None:
            stream.close()
    return proc


def test_the_helper_starts_ahead_only_for_commands_that_run_pip() -> None:
    for argv in (
        [],
        ["status"],
        ["verify", "a-1.0-py3-none-any.whl"],
        ["trust", "update"],
        ["install", "--help"],
        ["lock", "-h"],
        ["--", "install"],
    ):
        _spawn.start_early_helper(argv, {})
        assert _take(None) is None, argv

    for argv in (["install", "pkg"], ["-v", "install", "pkg"], ["lock", "-r", "reqs.in"]):
        _spawn.start_early_helper(argv, {})
        assert _take(None) is not None, argv


def test_only_a_checker_with_the_same_trust_root_takes_the_helper(tmp_path: Path) -> None:
    mine = tmp_path / "root.json"
    _spawn.start_early_helper(["install", "--trust-root", str(mine), "pkg"], {})
    assert _take(None) is None
    assert _take(tmp_path / "other.json") is None
    assert _take(mine) is not None

    _spawn.start_early_helper(["install", "pkg"], {"PIP_ATTEST_TRUST_ROOT": str(mine)})
    early = _spawn._EARLY[0].proc
    assert _take(None) is None
    _spawn.discard_early_helper()  # what every run does when it ends
    assert early.poll() is not None


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["install", "x"], {}, None),
        (["install", "x"], {"PIP_ATTEST_TRUST_ROOT": " a.json "}, "a.json"),
        (["install", "--trust-root", "b.json", "x"], {"PIP_ATTEST_TRUST_ROOT": "a.json"}, "b.json"),
        (["install", "--trust-root=c.json", "--trust-root", "d.json"], {}, "d.json"),
        (["install", "x", "--", "--trust-root", "e.json"], {}, None),
        (["install", "--trust-root"], {}, None),
    ],
)
def test_the_trust_root_is_read_as_the_options_are(
    argv: list[str], env: dict[str, str], expected: str | None
) -> None:
    setting = _spawn.trust_root_setting(argv, env)
    assert setting == (Path(expected) if expected else None)


def test_a_command_that_found_everything_cached_starts_no_helper_next_time() -> None:
    argv = ["install", "pkg"]
    _spawn.start_early_helper(argv, {})
    assert _take(None) is not None
    memo = _spawn.run_memo()
    assert memo is not None
    memo.record(True, time.time())

    _spawn.start_early_helper(argv, {})
    assert _take(None) is None
    assert _spawn.run_memo() is not None  # still there, for this run to update

    _spawn.start_early_helper([*argv, "other"], {})  # another command line
    assert _take(None) is not None

    # Without a cache there is no memo: the helper always starts ahead.
    _spawn.start_early_helper(argv, {"PIP_ATTEST_NO_CACHE": "1"})
    assert _spawn.run_memo() is None
    assert _take(None) is not None


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_helper_started_ahead_does_not_outlive_a_usage_error(tmp_path: Path) -> None:
    """argparse ends the process before any run begins (so before close_run): the helper
    started ahead of it must still go with it."""
    marker = tmp_path / "marker-root.json"

    done = subprocess.run(
        [sys.executable, "-m", "pip_attest", "--frobnicate", "install", "--trust-root"]
        + [str(marker), "pkg"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert "unrecognized arguments: --frobnicate" in done.stderr
    assert _processes_naming(str(marker)) == []


def _processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in words and "pip_attest._helper_main" in words:
            found.append(words)
    return found


def test_a_helper_without_a_trust_root_loads_pip_attests_cached_root() -> None:
    client = WorkerClient(None)
    try:
        client.start()
        assert client.root_sha256() == _sha256(ensure_root(None))
    finally:
        client.close()


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the quick exit --


def _exit_with(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = f"import atexit, sys, threading, time\nfrom pip_attest.__main__ import _leave\n{code}"
    full_env = {k: v for k, v in os.environ.items() if k != "PIP_ATTEST_FULL_EXIT"}
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**full_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


# An object freed only by the interpreter's teardown: it speaks when that teardown runs.
_TEARDOWN_WITNESS = """
class Witness:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")
witness = Witness()
"""


def test_the_quick_exit_runs_exit_handlers_flushes_and_keeps_the_code() -> None:
    result = _exit_with(
        _TEARDOWN_WITNESS
        + "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
        + "sys.stdout.write('unflushed output\\n')\n"
        + "_leave(3)\n"
    )
    assert result.returncode == 3
    assert result.stdout == "unflushed output\nhandler ran\n"
    assert "teardown ran" not in result.stderr  # the teardown really was skipped


def test_the_ordinary_exit_on_request_while_a_thread_runs_or_output_fails() -> None:
    full = _exit_with(_TEARDOWN_WITNESS + "_leave(4)\n", {"PIP_ATTEST_FULL_EXIT": "1"})
    assert (full.returncode, full.stderr) == (4, "teardown ran\n")

    waited = _exit_with(
        _TEARDOWN_WITNESS
        + "def late():\n    time.sleep(0.3)\n    sys.stdout.write('thread finished\\n')\n"
        + "threading.Thread(target=late).start()\n"
        + "_leave(5)\n"
    )
    assert (waited.returncode, waited.stdout) == (5, "thread finished\n")
    assert "teardown ran" in waited.stderr

    # stdout cannot be flushed (a closed pipe): Python reports it as it always does.
    broken_stdout = (
        "class Broken:\n"
        "    def write(self, s): return len(s)\n"
        "    def flush(self): raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.stdout = Broken()\n"
    )
    broken = _exit_with(_TEARDOWN_WITNESS + broken_stdout + "_leave(6)\n")
    plain = _exit_with(_TEARDOWN_WITNESS + broken_stdout + "sys.exit(6)\n")
    assert broken.returncode == plain.returncode == 120
    assert "BrokenPipeError" in broken.stderr
    assert "teardown ran" in broken.stderr
