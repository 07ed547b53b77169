"""The pieces that must also work on macOS and Windows, where CI does not run.

CI runs on Linux only. These tests take away, one at a time, what Linux has and the other
systems lack (``fcntl``, ``O_NONBLOCK``, ``getuid``, hard links), and check what pip-attest
relies on everywhere: its entry points, its ``.pth`` line, where its state lives.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from pip_attest import _cache, _dirs, _fileio
from pip_attest._config import find_policy_file
from tests.support.venvs import REPO

PTH = REPO / "src" / "pip_attest_hook.pth"


def test_the_console_script_is_the_entry_point() -> None:
    (script,) = metadata.entry_points(group="console_scripts", name="pip-attest")
    from pip_attest.__main__ import run

    assert script.load() is run


def test_the_pth_line_is_one_import_line_that_does_nothing_when_unset() -> None:
    """site.py executes a .pth line only if it starts with "import"; the line must not
    depend on a POSIX module, and must import nothing of pip-attest when the variable is
    unset (the README's start-up cost)."""
    lines = PTH.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("import os, sys;")
    code = (
        "import sys; before = set(sys.modules)\n"
        f"exec({lines[0]!r})\n"
        "new = sorted(m for m in set(sys.modules) - before if m.startswith('pip_attest'))\n"
        "print(new)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PIP_ATTEST_ENFORCE"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_state_lives_under_platformdirs_own_locations() -> None:
    import platformdirs

    assert _dirs.data_dir() == platformdirs.user_data_path("pip-attest", appauthor=False)
    assert _dirs.cache_dir() == platformdirs.user_cache_path("pip-attest", appauthor=False)
    assert _dirs.verified_dir().parent == _dirs.cache_dir()


def test_bounded_reads_without_o_nonblock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "O_NONBLOCK", raising=False)
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert _fileio.read_regular_file(path, 10) == b"abc"
    with pytest.raises(OSError) as err:
        _fileio.read_regular_file(path, 2)
    assert err.value.errno == errno.EFBIG


def test_the_policy_is_found_where_there_is_no_getuid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pip-attest]\n")
    monkeypatch.delattr(os, "getuid", raising=False)
    assert find_policy_file(tmp_path) == tmp_path / "pyproject.toml"


def test_locks_need_no_fcntl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where there is no fcntl (Windows), the store locks come from filelock, which picks
    the OS's own mechanism."""
    import filelock

    taken: list[str] = []

    class Recording(filelock.SoftFileLock):  # as filelock would pick where fcntl is absent
        def __init__(self, lock_file: str) -> None:
            taken.append(lock_file)
            super().__init__(lock_file)

    monkeypatch.setattr(_fileio, "fcntl", None)
    monkeypatch.setattr(filelock, "FileLock", Recording)
    with _fileio.locked(tmp_path / ".lock"):
        assert taken == [str(tmp_path / ".lock")]


def test_a_lock_excludes_another_process(tmp_path: Path) -> None:
    """The lock is the kernel's: another process waits for it, and gets it once released."""
    lock = tmp_path / "store" / ".lock"
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError:\n    print('held')\n"
    )
    if _fileio.fcntl is None:
        pytest.skip("no flock on this OS")

    def other() -> str:
        run = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True)
        return run.stdout.decode().strip()

    with _fileio.locked(lock):
        assert other() == "held"
    assert other() == "free"


def test_the_cache_key_is_made_where_there_are_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    key = _cache.mac_key(tmp_path)
    assert key is not None and len(key) == 32
    assert _cache.mac_key(tmp_path) == key
    assert [p.name for p in tmp_path.iterdir()] == [_cache.MAC_KEY_NAME]
