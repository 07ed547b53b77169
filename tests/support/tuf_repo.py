"""A small, really signed TUF repository for sigstore's TUF client, served on 127.0.0.1.

Layout, as sigstore 4.5.1's ``TrustUpdater`` and python-tuf's ngclient expect it:

- metadata at the repository URL itself: ``1.root.json`` (and ``N.root.json`` for rotations;
  the client probes ``2.root.json`` and stops at 404), ``timestamp.json``, and with
  consistent snapshots ``N.snapshot.json`` and ``N.targets.json``;
- targets under ``<url>/targets/`` (sigstore sets ``target_base_url`` to that), named
  ``<sha256>.<name>`` because the root has ``consistent_snapshot`` on (ngclient's default
  ``prefix_targets_with_hash``), the same shape as tuf-repo-cdn.sigstore.dev;
- targets ``trusted_root.json`` and ``signing_config.v0.2.json``: ``ClientTrustConfig.from_tuf``
  fetches both, pip-attest only the first.

Each top-level role has its own ed25519 key. ``publish`` bumps targets, snapshot and
timestamp, so a client that already holds version N sees N+1.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

# Both packages re-export these names without __all__, so mypy --strict needs the ignores;
# the names are their documented public API.
from securesystemslib.signer import CryptoSigner, Signer  # type: ignore[attr-defined]
from tuf.api.metadata import (  # type: ignore[attr-defined]
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

TRUSTED_ROOT = "trusted_root.json"
SIGNING_CONFIG = "signing_config.v0.2.json"
_ROLES = (Root.type, Targets.type, Snapshot.type, Timestamp.type)
_LIFETIME = timedelta(days=7)


def signing_config() -> bytes:
    """A signing config sigstore 4.5.1's ``SigningConfig`` accepts: a Fulcio, an OIDC and a
    Rekor v1 service, each with a current ``validFor`` (the shape of the one sigstore embeds)."""

    def service(url: str) -> dict[str, Any]:
        return {
            "url": url,
            "majorApiVersion": 1,
            "validFor": {"start": "2024-01-01T00:00:00Z"},
            "operator": "pip-attest-tests",
        }

    doc = {
        "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
        "caUrls": [service("https://fulcio.invalid")],
        "oidcUrls": [service("https://oauth2.invalid/auth")],
        "rekorTlogUrls": [service("https://rekor.invalid")],
        "tsaUrls": [],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status = self.server.fail_with
        if status is not None:
            self.send_error(status)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fail_with: int | None = None


class TufRepo:
    """Use as a context manager; ``url`` is valid inside it."""

    def __init__(self, directory: Path, trusted_root: bytes) -> None:
        self._served = directory / "repo"
        (self._served / "targets").mkdir(parents=True)
        self._signers: dict[str, Signer] = {
            role: CryptoSigner.generate_ed25519() for role in _ROLES
        }
        self._expires = datetime.now(timezone.utc).replace(microsecond=0) + _LIFETIME

        root = Metadata(Root(expires=self._expires, consistent_snapshot=True))
        for role, signer in self._signers.items():
            root.signed.add_key(signer.public_key, role)
        root.sign(self._signers[Root.type])
        self.root_json_path = self._served / "1.root.json"
        self._write(self.root_json_path, root)

        # targets, snapshot and timestamp move together: publish() N writes version N of each.
        self._version = 0
        self._targets = Metadata(Targets(expires=self._expires))
        self._snapshot = Metadata(Snapshot(expires=self._expires))
        self._timestamp = Metadata(Timestamp(expires=self._expires))
        self._files: dict[str, bytes] = {SIGNING_CONFIG: signing_config()}
        self.publish(trusted_root)

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- serving ---------------------------------------------------------------------------

    def __enter__(self) -> TufRepo:
        handler = functools.partial(_Handler, directory=str(self._served))
        self._server = _Server(("127.0.0.1", 0), handler)
        # serve_forever polls for shutdown(); its 0.5 s default would dominate the tests.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut the server down; its port then refuses connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("TufRepo is not serving; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_with(self, status: int | None) -> None:
        """Answer every request with this HTTP status (None: serve normally)."""
        if self._server is None:
            raise RuntimeError("TufRepo is not serving")
        self._server.fail_with = status

    # -- publishing ------------------------------------------------------------------------

    @property
    def trusted_root(self) -> bytes:
        """The currently published trusted_root.json."""
        return self._files[TRUSTED_ROOT]

    def publish(self, trusted_root: bytes, *, forge_timestamp: bool = False) -> None:
        """Publish a new trusted_root.json: new targets, snapshot and timestamp versions.

        ``forge_timestamp`` signs the timestamp with a key the root does not list, as an
        attacker without the timestamp key would.
        """
        self._files[TRUSTED_ROOT] = trusted_root
        self._version += 1
        targets = self._targets.signed
        targets.version = self._version
        targets.targets = {}
        for name, data in self._files.items():
            info = TargetFile.from_data(name, data, ["sha256"])
            targets.targets[name] = info
            (self._served / "targets" / f"{info.hashes['sha256']}.{name}").write_bytes(data)
        self._targets.sign(self._signers[Targets.type])
        self._write(self._served / f"{targets.version}.targets.json", self._targets)

        snapshot = self._snapshot.signed
        snapshot.version = self._version
        snapshot.meta = {"targets.json": MetaFile(targets.version)}
        self._snapshot.sign(self._signers[Snapshot.type])
        self._write(self._served / f"{snapshot.version}.snapshot.json", self._snapshot)

        timestamp = self._timestamp.signed
        timestamp.version = self._version
        timestamp.snapshot_meta = MetaFile(snapshot.version)
        signer = CryptoSigner.generate_ed25519() if forge_timestamp else None
        self._timestamp.sign(signer or self._signers[Timestamp.type])
        self._write(self._served / "timestamp.json", self._timestamp)

    def tamper_target(self, data: bytes, name: str = TRUSTED_ROOT) -> None:
        """Serve other bytes under the published target's URL, as a hostile mirror would."""
        info = self._targets.signed.targets[name]
        (self._served / "targets" / f"{info.hashes['sha256']}.{name}").write_bytes(data)

    @staticmethod
    def _write(path: Path, metadata: Metadata[Any]) -> None:
        path.write_bytes(metadata.to_bytes(JSONSerializer(compact=False)))
