"""The parent's side of the verification helper (:mod:`pip_attest._helper_main`).

Importing sigstore and pypi-attestations is costly in CPU, and so is each attestation.
Done in pip's process, that time is added to the
install: threads do not help, since both pip and the import hold the GIL. The helper process
does it on another core while pip goes on resolving and downloading; pip's process never
imports any cryptography, and only waits at the gate if the helper is still busy.

Requests and answers travel over the helper's standard input and output, in order (callers
on several threads may have several in flight):

    request:  {"id": K, "filename": ..., "sha256": ..., "project": ..., "version": ...,
               "size": N, "record": {...}}\\n
              then N provenance bytes ("record" is optional: see _cache.EntryOrder)
    response: {"id": K, "ok": true, "identities": [...]}  or  {"id": K, "ok": false, ...}

The helper's first line says whether it could load the trust root, and that root's sha256.
If it dies or says anything unexpected, every file it was asked about is refused: a broken
helper must never let a file through.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import subprocess
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pip_attest._errors import TrustError, VerificationError
from pip_attest._identity import Identity
from pip_attest._model import Artifact
from pip_attest._spawn import spawn_helper

if TYPE_CHECKING:
    from pip_attest._cache import EntryOrder

_MAX_LINE = 1 << 20


class WorkerClient:
    """The parent's side. Thread-safe; requests from several threads are pipelined."""

    def __init__(
        self,
        trust_root: Path | None,
        *,
        started: tuple[subprocess.Popen[bytes], IO[bytes] | None] | None = None,
    ) -> None:
        """``trust_root`` None: pip-attest's cached root. ``started``: a helper process
        already started for that same setting (pip_attest._spawn.spawn_helper)."""
        self._trust_root = trust_root
        self._lock = threading.Lock()  # starting, and sending requests
        self._read_lock = threading.Lock()  # reading answers
        self._state = threading.Lock()  # the line of requests waiting for answers
        self._waiting: collections.deque[_Slot] = collections.deque()
        self._sent = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._ready: dict[str, Any] | None = None
        self._broken: str | None = None
        self._started = started

    def start(self) -> None:
        """Start the helper now (it loads sigstore while the caller goes on)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._proc is not None or self._broken is not None:
            return
        try:
            self._proc, self._stderr = self._started or spawn_helper(self._trust_root)
        except OSError as err:
            self._broken = f"cannot start the verification helper: {err}"
            return
        atexit.register(self.close)

    def root_sha256(self) -> str:
        """The sha256 of the trust root the helper loaded (waits for it to be ready)."""
        with self._lock:
            ready = self._await_ready()
        return str(ready["root_sha256"])

    def verify(
        self, artifact: Artifact, body: bytes, *, record: EntryOrder | None = None
    ) -> tuple[Identity, ...]:
        """Thread-safe and pipelined: each caller sends its request at once and then waits
        for its answer, so the helper always has the next request queued instead of idling
        while a caller thread waits its turn for the GIL. Every request carries a number
        the answer must repeat: an answer out of order breaks the helper for every file.

        ``record``: after answering, the helper writes the file's verification cache entry
        as this says (only for a file it proved)."""
        slot = _Slot()
        with self._lock:
            self._await_ready()
            if self._broken is not None:
                raise self._fail(self._broken)
            slot.number = self._sent
            self._sent += 1
            try:
                self._send(slot.number, artifact, body, record)
            except BaseException:
                # A request cut short (Ctrl-C mid-write) leaves the stream unreadable.
                self._broken = self._broken or "the verification helper stopped"
                raise
            with self._state:
                self._waiting.append(slot)
        response = self._receive(slot)
        if response.get("ok") is True:
            return _identities(response.get("identities"))
        reason = str(response.get("reason") or "verification failed")
        if response.get("kind") == "trust":
            raise TrustError(reason)
        raise VerificationError(reason)

    def close(self) -> None:
        proc = self._proc
        atexit.unregister(self.close)
        try:
            if proc is None or proc.poll() is not None:
                return
            if self._ready is None or self._waiting:
                # Never needed, still loading, or busy with answers nobody will read.
                proc.kill()
                proc.wait()
                return
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # the helper exits at end of input
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired, KeyboardInterrupt):
                # Runs at exit, also after Ctrl-C: never a traceback, never a stray helper.
                proc.kill()
        finally:
            self._broken = self._broken or "the verification helper was stopped"
            for stream in (
                getattr(proc, "stdin", None),
                getattr(proc, "stdout", None),
                self._stderr,
            ):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def _await_ready(self) -> dict[str, Any]:
        self._start()
        if self._ready is None:
            line = self._read_line()
            if line.get("ready") is not True:
                reason = str(line.get("reason") or "the verification helper did not start")
                self._broken = reason
                raise TrustError(reason) if line.get("kind") == "trust" else self._fail(reason)
            self._ready = line
        return self._ready

    def _send(
        self, number: int, artifact: Artifact, body: bytes, record: EntryOrder | None
    ) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise self._fail(self._broken or "the verification helper is not running")
        header: dict[str, Any] = {
            "id": number,
            "filename": artifact.filename,
            "sha256": artifact.sha256,
            "project": artifact.project,
            "version": artifact.version,
            "size": len(body),
        }
        if record is not None:
            header["record"] = record.to_json()
        try:
            proc.stdin.write(json.dumps(header).encode() + b"\n" + body)
            proc.stdin.flush()
        except (OSError, ValueError):  # ValueError: the pipe was closed by close()
            self._broken = "the verification helper stopped"
            raise self._fail(self._broken) from None

    def _receive(self, slot: _Slot) -> dict[str, Any]:
        """Answers come back in the order requests were sent: whoever holds the read lock
        reads them and hands each to its waiter, until its own has come."""
        with self._read_lock:
            while slot.response is None and slot.error is None:
                with self._state:
                    head = self._waiting[0] if self._waiting else None
                if head is None:
                    break
                try:
                    line = self._read_line()
                    if line.get("id") != head.number:
                        self._broken = "the verification helper answered out of order"
                        raise self._fail(self._broken)
                except BaseException as err:
                    self._broken = self._broken or "the verification helper stopped"
                    failure = err if isinstance(err, VerificationError) else None
                    with self._state:  # one broken helper fails every request in flight
                        for waiter in self._waiting:
                            waiter.error = failure or self._fail(self._broken)
                        self._waiting.clear()
                    if failure is None:
                        raise
                    break
                head.response = line
                with self._state:
                    self._waiting.popleft()
        if slot.response is None:
            raise slot.error or self._fail(self._broken or "the verification helper stopped")
        return slot.response

    def _read_line(self) -> dict[str, Any]:
        if self._broken is not None:
            raise self._fail(self._broken)
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise self._fail("the verification helper is not running")
        line = proc.stdout.readline(_MAX_LINE)
        try:
            doc = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self._broken = f"the verification helper stopped{self._last_words()}"
            raise self._fail(self._broken)
        return doc

    def _last_words(self) -> str:
        proc, err = self._proc, self._stderr
        code = proc.poll() if proc is not None else None
        text = ""
        if err is not None:
            err.seek(0)
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            text = lines[-1][:200] if lines else ""
        said = f" (exit code {code})" if code is not None else ""
        return f"{said}: {text}" if text else said

    def _fail(self, reason: str) -> VerificationError:
        return VerificationError(reason)


class _Slot:
    """One request's place in line for its answer."""

    __slots__ = ("error", "number", "response")

    def __init__(self) -> None:
        self.number = -1
        self.response: dict[str, Any] | None = None
        self.error: VerificationError | None = None


def _identities(value: Any) -> tuple[Identity, ...]:
    if not isinstance(value, list) or not value:
        raise VerificationError("the verification helper answered without identities")
    names = set(Identity._fields)
    out = []
    for item in value:
        if not isinstance(item, dict) or not set(item) <= names or "kind" not in item:
            raise VerificationError("the verification helper answered a malformed identity")
        if not all(v is None or isinstance(v, str) for v in item.values()):
            raise VerificationError("the verification helper answered a malformed identity")
        out.append(Identity(**item))
    return tuple(out)
