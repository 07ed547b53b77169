"""The audit's cache: JSON documents in ``<user cache>/pip-attest/audit/``, each carrying an
HMAC-SHA256 under the key the verification cache uses (README, "Where state lives").

The cache directory is untrusted input: CI systems restore it across branches and
workflows. A document whose MAC does not check (planted, edited, torn, another user's) is
simply not there, and what it would have saved is done again. Each kind of document has its
own purpose string inside the MAC, so that one kind can never be read as another.
``PIP_ATTEST_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from pip_attest import _cache, _dirs
from pip_attest._fileio import atomic_write, key_digest, read_regular

FORMAT = 1


class SignedStore:
    def __init__(self, purpose: str, *, limit: int, enabled: bool = True) -> None:
        self._purpose = purpose
        self._limit = limit
        self._key = _cache.mac_key() if enabled and _cache.enabled() else None
        self._root = _dirs.cache_dir() / "audit" / purpose

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def _path(self, *key: str) -> Path:
        name = key_digest(self._purpose, *key)
        return self._root / name[:2] / f"{name}.json"

    def _mac(self, key: tuple[str, ...], body: dict[str, Any]) -> str:
        text = json.dumps([self._purpose, list(key), body], sort_keys=True, separators=(",", ":"))
        return hmac.new(self._key or b"", text.encode("utf-8"), hashlib.sha256).hexdigest()

    def load(self, *key: str) -> dict[str, Any] | None:
        """The document filed under ``key``, if this user's pip-attest wrote it."""
        if self._key is None:
            return None
        data = read_regular(self._path(*key), self._limit)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            return None
        body, mac = doc.get("body"), doc.get("mac")
        if not isinstance(body, dict) or not isinstance(mac, str):
            return None
        if not hmac.compare_digest(mac, self._mac(key, body)):
            return None
        return body

    def save(self, body: dict[str, Any], *key: str) -> None:
        if self._key is None:
            return
        doc = {"format": FORMAT, "body": body, "mac": self._mac(key, body)}
        data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        with contextlib.suppress(OSError):  # a read-only or full cache only costs time
            atomic_write(self._path(*key), data, durable=False)
