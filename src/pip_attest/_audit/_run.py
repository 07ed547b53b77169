"""The audit flow: every installed distribution, through find → verify → bind → judge.

Each distribution is examined on a worker thread: its installed files against its RECORD,
the index pages of its project (each project's once), the file it was installed from,
that file's provenance (the install's own :class:`~pip_attest._check.Checker`: adverts,
Integrity API, the verification cache and helper), and, once the provenance verifies, the
attested file's contents against what is installed. The policy then judges each on the
calling thread, one at a time, as it must (pins, lock identities, first-seen records,
``--require-attestations``). Nothing is written to the first-seen records: an audit looks,
it does not accept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import NamedTuple

from pip_attest._audit._archive import ArchiveError, Manifest, Manifests, local_sha256
from pip_attest._audit._bind import (
    Binding,
    Installed,
    Proofs,
    bind_sdist,
    bind_wheel,
    check_installed,
)
from pip_attest._audit._bytecode import MAGIC
from pip_attest._audit._disk import Disk
from pip_attest._audit._installed import InstalledDist, ScanProblem, Site, same_version, scan
from pip_attest._audit._match import same_wheel_file, searched, wheel_matches
from pip_attest._audit._model import (
    HINT_MODIFIED,
    AuditStatus,
    DistResult,
    Finding,
    ordered,
)
from pip_attest._audit._unowned import find_unowned, with_unowned
from pip_attest._audit._where import Environment
from pip_attest._candidate import Candidate
from pip_attest._check import Checker, Found
from pip_attest._config import Settings
from pip_attest._lock import LockedPackage, read_lock
from pip_attest._model import Origin
from pip_attest._names import name_problem, read_for
from pip_attest._pip._index import IndexFile
from pip_attest._pip._pages import Pages, ProjectPages
from pip_attest._policy import Evidence, EvidenceKind
from pip_attest._text import one_line, plain, shown

# Index pages, provenance and files wait on the network: enough at once to keep a slow
# index busy, no more than the connections pip's session keeps per host (10).
WORKERS = 8


class AuditRun(NamedTuple):
    environment: Environment
    results: list[DistResult]
    unowned: list[str]  # importable files in shared folders that no RECORD lists
    scan_problems: list[ScanProblem]
    index_urls: list[str]
    downloads: int  # attested files fetched this run (the rest came from the cache)


class _Work(NamedTuple):
    """What a worker found for one distribution; judged later, on the calling thread."""

    dist: InstalledDist
    installed: Installed | None
    origin: str
    candidate: Candidate | None = None
    found: Found | None = None
    binding: Binding | None = None
    problem: str = ""  # installed metadata no installer writes: modified
    not_from_index: bool = False
    archive_error: str = ""
    notes: tuple[str, ...] = ()


def _evidence(kind: EvidenceKind, reason: str) -> Found:
    return Evidence(kind, reason=reason), None


def audit(
    environment: Environment,
    pip_args: list[str],
    settings: Settings,
    *,
    lock: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditRun:
    dists, scan_problems = scan(environment.sites)
    locked = {p.name: p for p in read_lock(lock)} if lock is not None else None
    index = Pages(pip_args)
    checker = Checker(settings, index.session, helper=True)
    try:
        auditor = _Auditor(index, checker, Manifests(index.session), locked, environment)
        results = auditor.run(dists, progress)
        downloads = auditor.manifests.fetched
    finally:
        checker.close()
        index.close()
    unowned = find_unowned(
        (r, [f.full for f in w.installed.files.values() if f.full])
        for r, w in auditor.done
        if w.installed is not None
    )
    final = with_unowned(results, unowned)
    return AuditRun(
        environment, final, unowned.environment, scan_problems, index.index_urls, downloads
    )


class _Auditor:
    def __init__(
        self,
        index: Pages,
        checker: Checker,
        manifests: Manifests,
        locked: dict[str, LockedPackage] | None,
        environment: Environment,
    ) -> None:
        self.index = index
        self.checker = checker
        self.manifests = manifests
        self.locked = locked
        self.find_links = set(index.find_links)
        # Bytecode is compared only by the interpreter that would load it.
        self.bytecode = environment.magic in ("", MAGIC.hex())
        self.proofs = Proofs()
        self._lock = threading.Lock()
        self._pages: dict[str, Future[ProjectPages]] = {}
        self.versions: dict[str, set[str]] = {}
        self._disks: dict[Site, Disk] = {}
        self.done: list[tuple[InstalledDist, _Work]] = []

    def run(
        self, dists: list[InstalledDist], progress: Callable[[int, int], None] | None
    ) -> list[DistResult]:
        results: dict[int, DistResult] = {}
        work_of: dict[int, _Work] = {}
        for dist in dists:  # the versions each project's pages are read for
            self.versions.setdefault(dist.name, set()).add(dist.version)
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="pip-attest-audit")
        try:
            futures = {pool.submit(self.work, d): i for i, d in enumerate(dists)}
            for done, future in enumerate(as_completed(futures), 1):
                i = futures[future]
                try:
                    work = future.result()
                except Exception as err:  # fail closed: a bug is a blocking finding
                    dist = dists[i]
                    work = _Work(dist, None, "unknown", problem=f"internal error: {one_line(err)}")
                work_of[i] = work
                results[i] = self.conclude(work)
                if progress is not None:
                    progress(done, len(dists))
        finally:
            # Interrupted: what has not started never will (the requests under way end
            # within their time limits).
            pool.shutdown(wait=True, cancel_futures=True)
        self.done = [(work_of[i].dist, work_of[i]) for i in sorted(results)]
        return [results[i] for i in sorted(results)]

    # -- on a worker thread ----------------------------------------------------------------

    def _disk(self, site: Site) -> Disk:
        with self._lock:
            disk = self._disks.get(site)
            if disk is None:
                disk = self._disks[site] = Disk(site)
            return disk

    def pages(self, name: str) -> ProjectPages:
        with self._lock:
            future = self._pages.get(name)
            mine = future is None
            if future is None:
                future = self._pages[name] = Future()
        if mine:
            versions = self.versions.get(name, set())
            try:
                future.set_result(self.index.project(name, lambda f: any(v in f for v in versions)))
            except Exception as err:
                future.set_result(ProjectPages([], [one_line(err)], []))
        return future.result()

    def work(self, dist: InstalledDist) -> _Work:
        if dist.problem:
            return _Work(dist, None, "unknown", problem=dist.problem)
        installed = None
        if dist.record is not None:
            installed = check_installed(
                dist, self._disk(dist.site), bytecode=self.bytecode, proofs=self.proofs
            )
        if dist.egg_info:
            return self._not_from_index(
                dist,
                installed,
                "egg-info",
                "installed as .egg-info (setup.py, or a system package manager): no RECORD "
                "to bind it to any file",
            )
        if dist.record is None:
            return self._not_from_index(
                dist,
                installed,
                "unknown",
                f"installed by {shown(dist.installer)}, which keeps no RECORD",
            )
        direct = dist.direct_url
        if direct is not None and direct.kind != "archive":
            what = {
                "editable": "an editable install of",
                "directory": "installed from the local directory",
                "vcs": "installed from version control,",
            }[direct.kind]
            return self._not_from_index(
                dist, installed, direct.kind, f"{what} {plain(direct.url, 160)}"
            )
        wheels, sdists, origin, missing, notes = self._references(dist)
        if direct is not None:  # a file installed by URL or path: known to an index?
            wheels = [c for c in wheels if direct.sha256 and c.sha256 == direct.sha256]
            sdists = [c for c in sdists if direct.sha256 and c.sha256 == direct.sha256]
            if not wheels and not sdists:
                known = (
                    "a file no index page lists" if direct.sha256 else "with no sha256 to look up"
                )
                return self._not_from_index(
                    dist, installed, "archive", f"installed from {plain(direct.url, 160)}, {known}"
                )
        if not wheels and not sdists:
            return _Work(dist, installed, origin, found=missing, notes=notes)
        first: _Work | None = None
        for candidate in wheels:
            work = self._wheel(dist, installed, candidate, sdists, origin, notes)
            if work.binding is not None and work.binding.ok:
                return work
            first = first or work
        if first is not None:
            return first
        return self._sdist(dist, installed, sdists[0], origin, notes)

    def _not_from_index(
        self, dist: InstalledDist, installed: Installed | None, origin: str, reason: str
    ) -> _Work:
        return _Work(
            dist,
            installed,
            origin,
            found=_evidence(EvidenceKind.MISSING, reason),
            not_from_index=True,
        )

    def _references(
        self, dist: InstalledDist
    ) -> tuple[list[Candidate], list[Candidate], str, Found, tuple[str, ...]]:
        """The files ``dist`` may have been installed from: wheels with its tags, sdists;
        and, when there are none, what to say about that."""
        name, version = dist.name, dist.version
        pages = self.pages(name)
        notes: tuple[str, ...] = ()
        files: list[IndexFile] = pages.files
        origin = "index"
        locked = self.locked.get(name) if self.locked is not None else None
        if locked is not None and same_version(locked.version, version):
            adverts = {f.url: f.advert for f in pages.files}
            files = [
                IndexFile(f.filename, f.url, f.sha256, adverts.get(f.url), "") for f in locked.files
            ]
            origin = "lock"
        elif self.locked is not None:
            locked_at = f"locked at {locked.version}" if locked is not None else "not in the lock"
            notes = (f"{name} is {locked_at}; checked against the index",)
        wheels: list[Candidate] = []
        sdists: list[Candidate] = []
        of_version = 0
        for file in files:
            found, _ = read_for(file.filename, name)
            if found is None or not same_version(found, version):
                continue
            of_version += 1
            candidate = self._candidate(file, name, version)
            if file.filename.endswith(".whl"):
                if wheel_matches(file.filename, dist):
                    wheels.append(candidate)
            else:
                sdists.append(candidate)
        if origin == "index" and any(f.page_url in self.find_links for f in files):
            origin = "find-links"
        if pages.errors and not wheels and not sdists:
            missing = _evidence(EvidenceKind.UNAVAILABLE, f"could not read {pages.errors[0]}")
        elif origin != "lock" and not pages.searched:
            reason = f"no index to look {name} {version} up on (--no-index)"
            missing = _evidence(EvidenceKind.MISSING, reason)
        else:
            where = "the lock" if origin == "lock" else searched(pages)
            tags = " for its tags (its WHEEL file)" if of_version else ""
            reason = f"{where} lists no file of {name} {version}{tags}"
            missing = _evidence(EvidenceKind.MISSING, reason)
        return wheels, sdists, origin, missing, notes

    def _candidate(self, file: IndexFile, name: str, version: str) -> Candidate:
        sha256 = file.sha256
        if not sha256 and file.url.startswith("file:"):
            try:
                sha256 = local_sha256(file.url)
            except OSError:
                sha256 = ""
        return Candidate(
            file.filename,
            sha256,
            file.url,
            name,
            version,
            advert=file.advert,
            origin=Origin.LOCAL if file.url.startswith("file:") else Origin.INDEX,
            problem=name_problem(file.filename, name, version),
        )

    def _manifest(self, candidate: Candidate) -> Manifest:
        return self.manifests.get(candidate.file_url, candidate.filename, candidate.sha256)

    def _wheel(
        self,
        dist: InstalledDist,
        installed: Installed | None,
        candidate: Candidate,
        sdists: list[Candidate],
        origin: str,
        notes: tuple[str, ...],
    ) -> _Work:
        if not candidate.sha256:  # an index that gives no sha256: the bytes decide
            try:
                manifest = self.manifests.get(candidate.file_url, candidate.filename, "")
            except ArchiveError as err:
                return _Work(
                    dist,
                    installed,
                    origin,
                    candidate,
                    _evidence(EvidenceKind.UNAVAILABLE, str(err)),
                )
            candidate = candidate._replace(sha256=manifest.sha256)
        found = self.checker.examine(candidate)
        work = _Work(dist, installed, origin, candidate, found, notes=notes)
        if found[0].kind is not EvidenceKind.VERIFIED or installed is None:
            return work
        try:
            manifest = self._manifest(candidate)
        except ArchiveError as err:
            return work._replace(archive_error=str(err))
        binding = bind_wheel(dist, installed, manifest)
        work = work._replace(binding=binding)
        if binding.ok or not sdists or same_wheel_file(dist, installed, manifest):
            return work
        # Not this wheel, and its WHEEL file is not the wheel's: built here from the sdist?
        built = self._sdist(dist, installed, sdists[0], origin, notes)
        if (
            built.binding is not None
            and built.found is not None
            and (built.found[0].kind is EvidenceKind.VERIFIED)
        ):
            return built
        return work

    def _sdist(
        self,
        dist: InstalledDist,
        installed: Installed | None,
        candidate: Candidate,
        origin: str,
        notes: tuple[str, ...],
    ) -> _Work:
        found = (
            self.checker.examine(candidate)
            if candidate.sha256
            else _evidence(
                EvidenceKind.UNAVAILABLE,
                f"the index gives no sha256 for {shown(candidate.filename)}",
            )
        )
        work = _Work(dist, installed, origin, candidate, found, notes=notes)
        if found[0].kind is not EvidenceKind.VERIFIED or installed is None:
            return work
        try:
            manifest = self._manifest(candidate)
        except ArchiveError as err:
            return work._replace(archive_error=str(err))
        return work._replace(binding=bind_sdist(dist, installed, manifest))

    # -- on the calling thread -------------------------------------------------------------

    def conclude(self, work: _Work) -> DistResult:
        dist = work.dist
        spec = f"{dist.name}=={dist.version}"
        findings: list[Finding] = []
        file = None
        if work.problem:
            findings.append(Finding(AuditStatus.MODIFIED, True, work.problem, _fix_hint(spec)))
        else:
            candidate = work.candidate or Candidate("", "", "", dist.name, dist.version)
            found = work.found or _evidence(EvidenceKind.MISSING, "nothing to check")
            file = self.checker.conclude(candidate, found)
            status = AuditStatus(file.status.value)
            reason, hint = file.reason, file.hint
            if work.not_from_index and status is AuditStatus.MISSING:
                status = AuditStatus.NOT_FROM_INDEX
            binding = work.binding
            if binding is not None and binding.kind == "sdist" and status is AuditStatus.VERIFIED:
                status = AuditStatus.BUILT_FROM_SDIST
                reason = (
                    f"built on this machine from {binding.filename}, whose attestation "
                    f"verifies (installed files that are its sources: {binding.bound}; "
                    f"made by the build: {len(binding.unbound)})"
                )
            findings.append(Finding(status, file.blocking, reason, hint))
            if work.archive_error:
                findings.append(
                    Finding(
                        AuditStatus.UNAVAILABLE,
                        True,
                        f"the attested file could not be fetched to compare: {work.archive_error}",
                        "retry, or check the index",
                    )
                )
        for source in (work.installed, work.binding):
            if source is not None and source.findings_count:
                more = source.findings_count - 1
                extra = f" (and {more} more)" if more else ""
                findings.append(
                    Finding(
                        AuditStatus.MODIFIED,
                        True,
                        source.findings[0] + extra,
                        _fix_hint(spec),
                    )
                )
        return DistResult(
            dist.name,
            dist.version,
            str(dist.info_dir),
            dist.installer,
            work.origin,
            ordered(findings),
            file=file,
            binding=work.binding,
            installed=work.installed,
            notes=work.notes,
        )


def _fix_hint(spec: str) -> str:
    return HINT_MODIFIED.format(spec=spec)


__all__ = ["AuditRun", "audit"]
