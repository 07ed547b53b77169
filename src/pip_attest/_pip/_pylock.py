"""``pip install -r pylock.toml`` read by pip itself (pip 26.1 and later): pip takes each
file from the lock's URL, not from an index page, so the lock's identities and indexes must
reach the policy and the provenance search."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pip_attest._errors import UsageError
from pip_attest._pip._state import STATE

_MARK = "__pip_attest_wrapped__"


def patch_lock_reader(module: Any) -> None:
    """pip 26.1 and later read ``-r pylock.toml`` themselves (``cli.req_command``), and take
    each file from the lock's URL: the lock's identities become the expected publishers, and
    its indexes the pages whose provenance adverts count. Called once pip's requirement
    command module is loaded; older pips have no such reader."""
    original: Any = getattr(module, "select_from_pylock_path_or_url", None)
    if original is None or getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def select(pylock_path_or_url: str, *args: Any, **kwargs: Any) -> Any:
        _expect_lock(str(pylock_path_or_url))
        yield from original(pylock_path_or_url, *args, **kwargs)

    setattr(select, _MARK, True)
    module.select_from_pylock_path_or_url = select


def _expect_lock(where: str) -> None:
    from pip._internal.exceptions import InstallationError

    # Deferred: costly to import, and only a run with a lock needs it (pip reads the lock
    # before it installs anything, so before it blocks imports).
    from pip_attest._lock import locked_identities, read_lock

    if urlsplit(where).scheme in ("http", "https"):
        raise InstallationError(
            f"pip-attest: cannot read the attestation-identities of a lock at a URL ({where}); "
            "download it, check it (pip-attest verify --lock FILE) and install the file"
        )
    path = Path(where)
    try:
        packages = read_lock(path)
    except UsageError as err:
        raise InstallationError(f"pip-attest: {err}") from None
    if STATE.policy is None:  # a lock read before the run is guarded: its pins would be lost
        raise InstallationError(f"pip-attest: {path} was read before the run was guarded")
    STATE.policy.expect_lock(locked_identities(packages), path.name)
    STATE.lock_indexes.update({p.name: p.index for p in packages})
