"""Judge: turn what verification found into one result per file, and go or abort.

This is the only place that decides. Verification says what is *true* of a file (these
identities signed it, or it has no provenance, or its provenance is broken); the policy says
whether that is *acceptable* (README, "Security model").

Expected publishers come from these sources, strongest first; the first that knows the
project decides:

1. explicit pins (``--publisher``, ``PIP_ATTEST_PUBLISHER``, the policy file);
2. the ``attestation-identities`` of the lock file being installed;
3. the first-seen record (trust on first use, :mod:`pip_attest._store`);
4. otherwise the publisher the index names is accepted once the certificate proves it.

``--accept-publisher`` adds identities for one run without changing any of them.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from packaging.utils import canonicalize_name

from pip_attest._config import Settings
from pip_attest._identity import Identity
from pip_attest._model import FileResult, Status
from pip_attest._notify import warn
from pip_attest._store import FirstSeenStore, Record, StoreError, is_older


class EvidenceKind(str, enum.Enum):
    """What the verify stage established about a file, before any policy."""

    VERIFIED = "verified"  # every attestation verified; ``identities`` signed it
    INVALID = "invalid"  # an attestation or the file itself is not what it claims
    MISSING = "missing"  # no provenance, and none could be expected from the source
    UNAVAILABLE = "unavailable"  # provenance could not be fetched


class Evidence(NamedTuple):
    """What the verify stage established about one file."""

    kind: EvidenceKind
    identities: tuple[Identity, ...] = ()
    reason: str = ""


class Verdict(NamedTuple):
    status: Status
    blocking: bool
    reason: str
    hint: str
    expected: tuple[Identity, ...] = ()


ExpectationSource = Literal["pin", "lock", "first-seen", ""]  # "": nothing known


class Expectation(NamedTuple):
    """Who should have signed a project's files, and why we think so."""

    identities: tuple[Identity, ...] = ()
    source: ExpectationSource = ""
    where: str = ""  # for messages: "pinned in …", "first seen with 1.0"
    record: Record | None = None


class Policy:
    def __init__(
        self,
        settings: Settings,
        *,
        store: FirstSeenStore | None = None,
        locked: Mapping[str, tuple[Identity, ...]] | None = None,
        lock_name: str = "the lock file",
    ) -> None:
        """``locked``: the expected identities of a lock; by default, those of the lock
        file the settings name (read now: a lock that cannot be read stops the run before
        pip starts)."""
        self._settings = settings
        self._store = store
        if locked is None:
            locked = {}
            if settings.lock_file is not None:
                # Deferred: costly to import, and only a run with a lock needs it.
                from pip_attest._lock import locked_identities, read_lock

                locked = locked_identities(read_lock(settings.lock_file))
                lock_name = settings.lock_file.name
        self._locked: dict[str, tuple[Identity, ...]] = {
            canonicalize_name(k): v for k, v in locked.items()
        }
        self._lock_name = lock_name

    @property
    def store(self) -> FirstSeenStore:
        if self._store is None:
            self._store = FirstSeenStore(self._settings.first_seen_dir)
        return self._store

    def expected(self, project: str) -> Expectation:
        """The strongest source that knows ``project``. Raises :class:`StoreError` when the
        first-seen record exists but cannot be read."""
        name = canonicalize_name(project)
        pins = self._settings.pins.get(name)
        if pins:
            origin = self._settings.sources.get(f"publisher:{name}", "a pin")
            return Expectation(pins, "pin", f"is pinned ({origin})")
        locked = self._locked.get(name)
        if locked:
            return Expectation(locked, "lock", f"is locked in {self._lock_name}")
        record = self.store.get(name)
        if record is not None:
            first = record.first_attested_version
            where = (
                f"was first seen attested at version {first}"
                if first != "0"  # 'trust accept' before any install: every version
                else "has a publisher accepted with 'pip-attest trust accept'"
            )
            return Expectation(record.identities, "first-seen", where, record)
        return Expectation()

    def judge(self, project: str, evidence: Evidence, version: str = "") -> Verdict:
        name = canonicalize_name(project)
        if evidence.kind is EvidenceKind.INVALID:
            return Verdict(
                Status.INVALID,
                True,
                evidence.reason,
                "do not install this file; run 'pip-attest verify' on it for details "
                "and report it to the index",
            )
        if evidence.kind is EvidenceKind.UNAVAILABLE:
            return Verdict(
                Status.UNAVAILABLE,
                True,
                evidence.reason,
                "provenance could not be fetched, so nothing was installed; "
                "retry, or check the index",
            )
        try:
            exp = self.expected(name)
        except StoreError as err:
            return Verdict(Status.INVALID, True, str(err), "")
        if evidence.kind is EvidenceKind.MISSING:
            return self._missing(name, version, evidence, exp)
        if evidence.kind is EvidenceKind.VERIFIED and evidence.identities:
            return self._verified(name, evidence, exp)
        # Anything else is a bug somewhere upstream: never the verified path.
        return Verdict(
            Status.INVALID,
            True,
            f"internal error: no verdict for evidence {evidence.kind!r}",
            "report this as a pip-attest bug",
        )

    def _missing(self, name: str, version: str, evidence: Evidence, exp: Expectation) -> Verdict:
        reason = evidence.reason or "no attestation"
        if exp.source in ("pin", "lock") or (
            exp.record is not None and exp.record.expects_attestation(version)
        ):
            if exp.source == "lock":
                hint = (
                    f"if {name} really stopped attesting, delete its attestation-identities "
                    f"from {self._lock_name} and review the change"
                )
            elif exp.source == "pin":
                hint = f"if {name} really stopped attesting, remove its pin"
            else:
                hint = (
                    f"if {name} really stopped attesting, forget its record: "
                    f"pip-attest trust forget {name}"
                )
            return Verdict(
                Status.DOWNGRADE,
                True,
                f"{reason}, but {name} {exp.where}, signed by {_names(exp.identities)}",
                hint,
                exp.identities,
            )
        if exp.record is not None:
            reason += (
                f" (older than {exp.record.first_attested_version}, "
                f"{name}'s first attested version)"
            )
        allowed = name in self._settings.allow_unattested
        if self._settings.require_attestations and not allowed:
            return Verdict(
                Status.MISSING,
                True,
                reason,
                f"attestations are required; to install {name} anyway, add "
                f"--allow-unattested {name}",
                exp.identities,
            )
        return Verdict(Status.MISSING, False, reason, "", exp.identities)

    def _verified(self, name: str, evidence: Evidence, exp: Expectation) -> Verdict:
        if not exp.identities:
            return Verdict(Status.VERIFIED, False, "", "")
        allowed = (*exp.identities, *self._settings.accepted.get(name, ()))
        unexpected = [i for i in evidence.identities if not any(i.satisfies(e) for e in allowed)]
        if not unexpected:
            return Verdict(Status.VERIFIED, False, "", "", exp.identities)
        got = unexpected[0]
        shown = shlex.quote(str(got))
        once = f"--accept-publisher {shlex.quote(f'{name}={got}')}"
        if exp.source == "first-seen":
            hint = (
                f"if {got} is {name}'s legitimate new publisher, accept it: "
                f"pip-attest trust accept {name} {shown}  (or {once} for this run only)"
            )
        elif exp.source == "lock":
            hint = (
                f"if {got} is legitimate, re-run your 'pip-attest lock' command for "
                f"{self._lock_name} with {once}  (or add {once} to this run only)"
            )
        else:
            hint = f"if {got} is legitimate, change the pin  (or {once} for this run only)"
        return Verdict(
            Status.UNEXPECTED_PUBLISHER,
            True,
            f"signed by {got}, but {name} {exp.where}, signed by {_names(exp.identities)}",
            hint,
            exp.identities,
        )

    def lock_identities(self, name: str, results: Sequence[FileResult]) -> tuple[Identity, ...]:
        """What a lock records for a package: the identities the existing lock already
        states, plus any accepted this run; otherwise those its files proved."""
        proven: list[Identity] = []
        for result in results:
            if result.status is Status.VERIFIED:
                proven.extend(i for i in result.identities if i not in proven)
        if not proven:
            return ()
        stated = self._locked.get(canonicalize_name(name)) or ()
        if not stated:
            return tuple(proven)
        accepted = self._settings.accepted.get(canonicalize_name(name), ())
        extra = tuple(
            i
            for i in proven
            if not any(i.satisfies(s) for s in stated) and any(i.satisfies(a) for a in accepted)
        )
        return (*stated, *extra)

    def expect_lock(self, locked: Mapping[str, tuple[Identity, ...]], lock_name: str) -> None:
        """Expect the identities of a lock pip reads itself (``pip install -r pylock.toml``
        on pip 26.1 and later), as those of the lock this run was started with."""
        self._locked.update({canonicalize_name(k): v for k, v in locked.items()})
        self._lock_name = lock_name

    @property
    def locked(self) -> Mapping[str, tuple[Identity, ...]]:
        """The expected identities of the lock being installed or rewritten."""
        return self._locked

    def remember(self, results: Sequence[FileResult]) -> None:
        """Record what a successful run saw (trust on first use).

        A project without a record gets one. A project with one gains the identities a pin
        or the lock vouched for; identities accepted for this run only are not recorded.
        Failing to write warns and does not undo the run: the files were judged already.
        """
        seen: dict[str, tuple[str, list[Identity]]] = {}
        for result in results:
            if result.status is not Status.VERIFIED or result.blocking:
                continue
            name = canonicalize_name(result.project)
            version, identities = seen.setdefault(name, (result.version, []))
            identities.extend(i for i in result.identities if i not in identities)
            if is_older(result.version, version):
                seen[name] = (result.version, identities)
        for project, (version, identities) in sorted(seen.items()):
            self._remember_one(project, version, identities)

    def _remember_one(self, name: str, version: str, identities: list[Identity]) -> None:
        try:
            self._record(name, version, identities)
        except (StoreError, OSError) as err:
            warn(f"could not record {name}'s publishers: {err}")
        except Exception as err:  # noqa: BLE001 - on the writer thread: never lost unsaid
            warn(f"could not record {name}'s publishers: {type(err).__name__}: {err}")

    def _record(self, name: str, version: str, identities: list[Identity]) -> None:
        exp = self.expected(name)
        if exp.source == "first-seen":
            # Every identity that verified either matches the record already or was
            # accepted for this run only: at most the first attested version moves earlier
            # (the usual run changes nothing, and takes no lock).
            if exp.record is not None and is_older(version, exp.record.first_attested_version):
                self.store.add(name, version, [], "first-use")
            return
        if exp.source == "pin":
            return  # a pin speaks for itself; the record starts when nothing is pinned
        if exp.source == "lock":
            # Only what the lock vouched for: never an identity accepted for this run only.
            vouched = [i for i in identities if any(i.satisfies(e) for e in exp.identities)]
            if vouched:
                self.store.add(name, version, vouched, "locked")
            return
        self.store.add(name, version, identities, "first-use")


def _names(identities: Sequence[Identity]) -> str:
    return " or ".join(str(i) for i in identities)
