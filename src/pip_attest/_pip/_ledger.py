"""The files of one pip run, keyed by what pip means by them, with their verdicts.

Every file pip prepares gets one :class:`Entry`, under the key ``(project, link URL, path)``:
pip's canonical name for it, the link pip took it from, and the path of the bytes pip reads
(pip's download, a private copy of a local file, or a source tree's directory). Later
stages look a requirement up by the same three values, so a verdict follows the file
through pip's copies of its requirement objects (extras make several) and never attaches
to an object's identity; a requirement whose bytes are somewhere else than where they were
checked finds no verdict, and is refused.

Wheels pip builds from a checked source are noted by path (:meth:`Ledger.note_built`):
installing one is installing what its source's verdict covers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from pip_attest._background import Pending
from pip_attest._candidate import Candidate
from pip_attest._model import FileResult, Origin, Status, sha256_file
from pip_attest._pip._reqs import Seen, describe, file_key, installs_file
from pip_attest._policy import Evidence
from pip_attest._provenance import Advert

Key = tuple[str, str, "str | None"]


class Copy(NamedTuple):
    """A private copy of a local file, made so that the bytes checked are the bytes used."""

    sha256: str
    original: str


class Entry:
    """One prepared file: what it is to pip, and what pip-attest concluded."""

    __slots__ = ("bound", "candidate", "pending", "result")

    def __init__(self, candidate: Candidate) -> None:
        self.candidate = candidate
        self.pending: Pending[tuple[Evidence, str | None]] | None = None
        self.result: FileResult | None = None
        # Set when pip's metadata for the file contradicts what the verdict is about.
        self.bound = ""


class Ledger:
    def __init__(self, *, legacy_wheels: bool) -> None:
        self.legacy_wheels = legacy_wheels
        self.entries: dict[Key, Entry] = {}
        self.built: dict[str, Key] = {}
        self.copies: dict[str, Copy] = {}

    # -- describing and finding ----------------------------------------------------------

    def describe(self, req: Any) -> Seen:
        return describe(req, legacy_wheels=self.legacy_wheels)

    def lookup(self, req: Any) -> Entry | None:
        """The entry for the file ``req`` will install, or None if pip-attest never saw it:
        the same project, link and bytes, or a wheel pip built from a file it saw."""
        key = file_key(req)
        entry = self.entries.get(key)
        if entry is not None:
            return entry
        path = key[2]
        built = self.built.get(path) if path else None
        return self.entries.get(built) if built is not None else None

    def candidate(
        self, seen: Seen, adverts: dict[str, Advert], vouched: Callable[[str, str], bool]
    ) -> Candidate:
        """What to check for a prepared file: its bytes' sha256 (the private copy's, which
        was hashed while it was made), and for a wheel from pip's cache, its source."""
        if seen.tree:
            return Candidate(
                seen.url, "", seen.url, seen.project, "", origin=Origin.LOCAL, tree=seen.tree
            )
        sha256 = self.sha256(seen.path) if seen.path else ""
        if seen.source is not None:
            source = seen.source
            problem = seen.problem
            if not problem and not vouched(source.sha256, sha256):
                problem = (
                    f"pip's cached wheel {seen.filename!r} was not built, as far as pip-attest "
                    f"knows, from the source it names ({source.filename})"
                )
            return Candidate(
                source.filename,
                source.index_sha256 or source.sha256,
                source.url,
                seen.project,
                seen.version,
                advert=adverts.get(source.url),
                origin=Origin.WHEEL_CACHE,
                problem=problem,
            )
        if not sha256:
            problem = seen.problem or "pip did not download this file before preparing it"
        else:
            problem = seen.problem
        local = seen.url.startswith("file:")
        return Candidate(
            seen.filename,
            sha256,
            seen.url,
            seen.project,
            seen.version,
            advert=adverts.get(seen.url),
            origin=Origin.LOCAL if local else Origin.INDEX,
            problem=problem,
        )

    def sha256(self, path: str) -> str:
        copy = self.copies.get(path)
        return copy.sha256 if copy is not None else sha256_file(Path(path))

    # -- recording -------------------------------------------------------------------------

    def add(self, seen: Seen, candidate: Candidate) -> Entry:
        entry = Entry(candidate)
        self.entries[seen.key] = entry
        return entry

    def rekey(self, entry: Entry, old: Key, new: Key) -> None:
        if self.entries.get(old) is entry:
            del self.entries[old]
        self.entries[new] = entry

    def note_built(self, req: Any, wheel: str) -> Entry | None:
        """pip built ``wheel`` for ``req`` (still the source's requirement): installing it
        installs what the source's entry covers."""
        entry = self.lookup(req)
        if entry is not None:
            key = next(k for k, e in self.entries.items() if e is entry)
            self.built[os.path.normpath(wheel)] = key
        return entry

    # -- checking a set --------------------------------------------------------------------

    def problems(self, reqs: Iterable[Any]) -> list[FileResult]:
        """Blocking results for the requirements of ``reqs`` that pip would install and that
        no verdict covers (never seen, or bound to other metadata than pip has)."""
        out: list[FileResult] = []
        for req in reqs:
            if not installs_file(req):
                continue
            entry = self.lookup(req)
            if entry is None:
                out.append(unseen(req))
            elif entry.bound:
                c = entry.candidate
                out.append(
                    refusal(c.project, c.filename, entry.bound, origin=c.origin, version=c.version)
                )
        return out


def refusal(
    project: str,
    filename: str,
    reason: str,
    *,
    hint: str = "do not install this file; report it to the index or the file's source",
    origin: Origin = Origin.INDEX,
    version: str = "",
) -> FileResult:
    return FileResult(
        project=project,
        version=version,
        filename=filename,
        sha256="",
        status=Status.INVALID,
        reason=reason,
        hint=hint,
        blocking=True,
        origin=origin,
    )


def unseen(req: Any) -> FileResult:
    link = getattr(req, "link", None)
    return refusal(
        str(getattr(req, "name", None) or getattr(link, "url", None) or req),
        str(getattr(link, "filename", "") or ""),
        "pip-attest did not see this file being prepared",
        hint="report this as a pip-attest bug",
    )
