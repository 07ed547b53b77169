"""The verification helper process: loads the verifier, then answers requests on its
standard input until the input ends (the protocol is in :mod:`pip_attest._helper`).

After answering a file it proved, it writes that file's verification cache entry when the
request asked for it (``record``), on a thread of its own, so that pip's process spends no
time on the write.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pip_attest._cache import EntryOrder
from pip_attest._errors import Error, TrustError
from pip_attest._identity import Identity
from pip_attest._model import Artifact
from pip_attest._trust import ensure_root

_MAX_LINE = 1 << 20


def main(trust_root: str) -> None:
    """The helper's side: load the verifier, then answer requests until end of input.

    ``trust_root`` is the file to verify against; empty for pip-attest's own root.
    """
    out = sys.stdout.buffer

    def say(doc: dict[str, Any]) -> None:
        out.write(json.dumps(doc).encode() + b"\n")
        out.flush()

    loaded = _load(trust_root, say)
    if loaded is None:
        return
    verifier, digest = loaded
    entries = _EntryWriter()
    say({"ready": True, "root_sha256": digest, "pid": os.getpid()})
    while True:
        line = sys.stdin.buffer.readline(_MAX_LINE)
        if not line:
            # Done. Skip the interpreter's teardown of sigstore and its dependencies (the
            # parent would otherwise wait for it): everything was answered and flushed,
            # and the entries asked for are written.
            entries.finish()
            out.flush()
            os._exit(0)
        if not _answer(line, verifier, digest, say, entries):
            return


def _load(trust_root: str, say: Callable[[dict[str, Any]], None]) -> tuple[Any, str] | None:
    """The verifier and its root's sha256, or None once the parent was told why not."""
    # Loading creates a few hundred thousand objects that all live until the helper exits:
    # collecting while they are made only costs time.
    gc.disable()
    try:
        from pip_attest._verify import AttestationVerifier  # sigstore: the helper's job

        path = ensure_root(Path(trust_root) if trust_root else None)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        verifier = AttestationVerifier(path)
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise TrustError(f"trust root {path} changed while it was loaded")
    except TrustError as err:
        say({"ready": False, "kind": "trust", "reason": str(err)})
        return None
    except Exception as err:
        say({"ready": False, "kind": "error", "reason": f"{type(err).__name__}: {err}"[:300]})
        return None
    # Everything loaded so far lives until the helper exits: out of the collector's sight,
    # a full collection no longer walks all of sigstore.
    gc.freeze()
    gc.enable()
    return verifier, digest


def _answer(
    line: bytes,
    verifier: Any,
    digest: str,
    say: Callable[[dict[str, Any]], None],
    entries: _EntryWriter,
) -> bool:
    """Answer one request; False when the input broke off (the helper then ends)."""
    from pip_attest._verify import parse_provenance  # loaded already, by _load

    number = None
    try:
        header = json.loads(line)
        number = header.get("id")
        size = int(header["size"])
        body = sys.stdin.buffer.read(size)
        if len(body) != size:
            return False
        artifact = Artifact(
            str(header["filename"]),
            str(header["sha256"]),
            str(header["project"]),
            str(header["version"]),
        )
        identities = verifier.verify(artifact, parse_provenance(body))
    except TrustError as err:
        say({"id": number, "ok": False, "kind": "trust", "reason": str(err)})
    except Error as err:  # bad provenance, failed verification: the reason as is
        say({"id": number, "ok": False, "kind": "verify", "reason": str(err)})
    except Exception as err:  # anything else is a refusal too, never a pass
        reason = f"internal error: {type(err).__name__}: {err}"[:300]
        say({"id": number, "ok": False, "kind": "error", "reason": reason})
    else:
        say({"id": number, "ok": True, "identities": [i._asdict() for i in identities]})
        record = header.get("record")
        if record is not None:
            entries.put(functools.partial(_file_entry, record, artifact, body, identities, digest))
    return True


def _file_entry(
    record: object,
    artifact: Artifact,
    body: bytes,
    identities: tuple[Identity, ...],
    root_sha256: str,
) -> None:
    """Write the cache entry a request asked for, for a file just proved. An order we
    cannot read is ignored: it only costs a later run a verification."""
    order = EntryOrder.from_json(record)
    if order is not None:
        order.file(artifact, body, identities, root_sha256)


class _EntryWriter:
    """The helper's cache writes, on a thread of their own: an answer never waits for a
    write (creating a file takes time, and far more on a slow network home
    directory), and a write that fails only costs a later run a verification. Entries are
    written whole or not at all (atomic_write), and nothing here goes to the output."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, write: Callable[[], object]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="pip-attest-entries", daemon=True
            )
            self._thread.start()
        self._queue.put(write)

    def _run(self) -> None:
        while (write := self._queue.get()) is not None:
            with contextlib.suppress(Exception):
                write()

    def finish(self) -> None:
        """Wait for the writes still queued (the parent kills a helper that takes over
        two seconds to end)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
