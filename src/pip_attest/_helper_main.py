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

_MAX_LINE = 1 << 20


def main(trust_root: str) -> None:
    """The helper's side: load the verifier, then answer requests until end of input.

    ``trust_root`` is the file to verify against; empty for pip-attest's cached root.
    """
    out = sys.stdout.buffer
    inp = sys.stdin.buffer

    def say(doc: dict[str, Any]) -> None:
        out.write(json.dumps(doc).encode() + b"\n")
        out.flush()

    # Loading creates a few hundred thousand objects that all live until the helper exits:
    # collecting while they are made only costs time (about 10 ms here).
    gc.disable()
    try:
        from pip_attest import _cache  # noqa: F401 - for the entries, loaded before any answer
        from pip_attest._trust import ensure_root
        from pip_attest._verify import AttestationVerifier, parse_provenance

        path = ensure_root(Path(trust_root) if trust_root else None)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        verifier = AttestationVerifier(path)
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise TrustError(f"trust root {path} changed while it was loaded")
    except TrustError as err:
        say({"ready": False, "kind": "trust", "reason": str(err)})
        return
    except Exception as err:
        say({"ready": False, "kind": "error", "reason": f"{type(err).__name__}: {err}"[:300]})
        return
    # Everything loaded so far lives until the helper exits: out of the collector's sight,
    # a full collection no longer walks all of sigstore (20 to 60 ms, a few times a run).
    gc.freeze()
    gc.enable()
    entries = _EntryWriter()
    say({"ready": True, "root_sha256": digest, "pid": os.getpid()})
    while True:
        line = inp.readline(_MAX_LINE)
        if not line:
            # Done. Skip the interpreter's teardown of sigstore and its dependencies (tens
            # of milliseconds the parent would otherwise wait for): everything was
            # answered and flushed, and the entries asked for are written.
            entries.finish()
            out.flush()
            os._exit(0)
        number = None
        try:
            header = json.loads(line)
            number = header.get("id")
            size = int(header["size"])
            body = inp.read(size)
            if len(body) != size:
                return
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
            say(
                {
                    "id": number,
                    "ok": False,
                    "kind": "error",
                    "reason": f"internal error: {type(err).__name__}: {err}"[:300],
                }
            )
        else:
            identities_json = [i._asdict() for i in identities]
            say({"id": number, "ok": True, "identities": identities_json})
            record = header.get("record")
            if record is not None:
                entries.put(
                    functools.partial(_file_entry, record, artifact, body, identities, digest)
                )


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
    write (creating a file costs 0.3 to 0.7 ms here, and far more on a slow network home
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
