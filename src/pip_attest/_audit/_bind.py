"""Binding what is installed to the attested file.

Two checks, each a chain of equal hashes:

1. **The files against the installed RECORD** (:func:`check_installed`): every file RECORD
   lists is on disk, a regular file inside the environment, with RECORD's hash; every
   ``.pyc`` Python would load is its source compiled (:mod:`._bytecode`). A file edited or
   deleted after install, a link, a path that escapes: each a finding.
2. **The installed files against the attested wheel** (:func:`bind_wheel`): the sha256 of
   every installed file equals the sha256 of the wheel member it came from, computed from
   the wheel's bytes (whose sha256 the attestation signs), and RECORD lists exactly the
   wheel's files plus what an installer adds. What may differ, and why:

   - ``NAME.data/purelib|platlib/X`` is installed as ``X``; ``.data/scripts|headers|data/X``
     under the scheme's folders (``bin/X``, ``include/…/X``, ``<prefix>/X``), matched by
     the path's tail. RECORD's own hash-less row is a rewrite by definition.
   - A ``.data/scripts`` file that starts with ``#!python`` gets its first line replaced by
     the interpreter's path (pip), or by the ``/bin/sh`` trampoline for long paths: the
     rest of the file must be the wheel's, byte for byte.
   - An installer adds ``.dist-info/INSTALLER``, ``REQUESTED`` and ``direct_url.json``
     (metadata about the install, never imported), ``.pyc`` files for the wheel's sources
     (checked by compiling the source), and a launcher in the scripts folder for every
     console or GUI entry point the wheel declares (checked to be nothing but a launcher
     of that entry point: :mod:`._launcher`).
   - Nothing else: a file the wheel does not have, a wheel file RECORD does not list, a
     file whose bytes are not the wheel's, a WHEEL or METADATA that differs.

A distribution built on this machine from an sdist has no attested wheel. It is bound to
its verified sdist as far as that goes (:func:`bind_sdist`): each installed file whose
bytes equal the sdist's file at the same path (its source) is bound; the rest (compiled
extensions, generated metadata, generated sources) are listed as built here, unbound.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable
from typing import NamedTuple

from pip_attest._audit._archive import Manifest
from pip_attest._audit._bytecode import (
    MAGIC,
    MAX_PYC_BYTES,
    MAX_SOURCE_BYTES,
    TAG,
    check_pyc,
    pyc_name,
    pyc_names_for,
)
from pip_attest._audit._disk import Disk, Hashed, hash_file, read_file
from pip_attest._audit._installed import InstalledDist, RecordEntry
from pip_attest._audit._launcher import (
    INTERPRETER_LINES,
    INTERPRETER_PROBLEM,
    MAX_LAUNCHER_BYTES,
    launcher_problem,
)
from pip_attest._audit._signed import SignedStore
from pip_attest._text import plain

INSTALLER_FILES = ("INSTALLER", "REQUESTED", "direct_url.json")
MAX_SCRIPT_BYTES = 64 * 1024 * 1024
MAX_FINDINGS = 50  # kept per distribution; the count says how many there were


class InstalledFile(NamedTuple):
    entry: RecordEntry
    full: str  # "" when the path is refused
    hashed: Hashed


class Installed(NamedTuple):
    """What the local check found for one distribution."""

    files: dict[str, InstalledFile]  # RECORD path -> what is there
    findings: list[str]  # one line each: edited, deleted, a link, outside the environment
    findings_count: int
    bytecode_checked: int
    bytecode_other: int  # .pyc files for another interpreter, not checked

    @property
    def ok(self) -> bool:
        return not self.findings_count


class Binding(NamedTuple):
    kind: str  # wheel | sdist
    filename: str
    findings: list[str]  # each makes the distribution modified
    findings_count: int
    bound: int  # installed files equal to the attested file's
    generated: int  # installer-made: metadata, launchers, bytecode
    unbound: list[str]  # sdist only: files built here, not in the sdist

    @property
    def ok(self) -> bool:
        return not self.findings_count


class _Findings:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def add(self, line: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_FINDINGS:
            self.lines.append(line)


def _record_row(dist: InstalledDist) -> str:
    return f"{dist.info_dir.name}/RECORD"


def check_installed(
    dist: InstalledDist, disk: Disk, *, bytecode: bool = True, proofs: Proofs | None = None
) -> Installed:
    """Every file the distribution's RECORD lists, against RECORD; and with ``bytecode``
    (when this interpreter is the one that would load it), each ``.pyc`` against its
    source. ``proofs``: the bytecode found to be its source compiled in earlier audits."""
    findings = _Findings()
    files: dict[str, InstalledFile] = {}
    sources: list[str] = []
    for entry in dist.record or ():
        if entry.path == _record_row(dist):
            continue
        full, refused = disk.locate(entry.path)
        if refused:
            findings.add(refused)
            files[entry.path] = InstalledFile(entry, "", Hashed(problem=refused))
            continue
        pyc = pyc_name(entry.path)
        hashed = hash_file(full, entry.algorithm, entry.size if entry.algorithm else None)
        files[entry.path] = InstalledFile(entry, full, hashed)
        if hashed.missing and pyc is not None:
            continue  # bytecode deleted (an image slimmed down): Python compiles again
        if hashed.problem:
            verb = "was deleted after install" if hashed.missing else hashed.problem
            findings.add(f"{plain(entry.path, 120)} {verb}")
        elif entry.algorithm and (not hashed.sha256 or hashed.digest != entry.digest):
            findings.add(
                f"{plain(entry.path, 120)} was changed after install (RECORD's hash differs)"
            )
        elif entry.path.endswith(".py") and pyc is None:
            sources.append(entry.path)
    checked = other = 0
    if bytecode:
        known = proofs.load(dist) if proofs is not None else set()
        proven: set[str] = set()
        checked, other = _check_bytecode(sources, files, findings, known, proven)
        if proofs is not None and proven != known:
            proofs.save(dist, proven)
    return Installed(files, findings.lines, findings.count, checked, other)


class Proofs:
    """Bytecode found to be its source compiled, per distribution (:mod:`._signed`): an
    environment audited again compiles only what changed since."""

    def __init__(self) -> None:
        self._store = SignedStore("bytecode", limit=64 * 1024 * 1024)

    def _key(self, dist: InstalledDist) -> tuple[str, ...]:
        return (str(dist.info_dir), dist.name, dist.version, TAG, MAGIC.hex())

    def load(self, dist: InstalledDist) -> set[str]:
        doc = self._store.load(*self._key(dist))
        pairs = doc.get("pairs") if doc is not None else None
        if not isinstance(pairs, list):
            return set()
        return {p for p in pairs if isinstance(p, str)}

    def save(self, dist: InstalledDist, pairs: set[str]) -> None:
        self._store.save({"pairs": sorted(pairs)}, *self._key(dist))


def _check_bytecode(
    sources: Iterable[str],
    files: dict[str, InstalledFile],
    findings: _Findings,
    known: set[str],
    proven: set[str],
) -> tuple[int, int]:
    """Each ``.pyc`` next to an installed source, whether RECORD lists it or not."""
    listings: dict[str, list[str]] = {}
    checked = other = 0
    for source in sources:
        full = files[source].full
        cache = os.path.join(os.path.dirname(full), "__pycache__")
        if cache not in listings:
            try:
                listings[cache] = sorted(os.listdir(cache))
            except OSError as err:
                listings[cache] = []
                if err.errno not in (errno.ENOENT, errno.ENOTDIR):
                    # Python still loads a .pyc there by name: unchecked is not clean.
                    folder = source.rpartition("/")[0]
                    where = f"{folder}/__pycache__" if folder else "__pycache__"
                    findings.add(
                        f"{plain(where, 120)} cannot be listed ({err.strerror or err}): "
                        "the bytecode Python would load from it cannot be checked"
                    )
        names = pyc_names_for(source, listings[cache])
        if not names:
            continue
        code = read_file(full, MAX_SOURCE_BYTES)
        try:
            info = os.stat(full, follow_symlinks=False)
        except OSError:
            continue
        if isinstance(code, Hashed):
            continue
        code_sha256 = hashlib.sha256(code).hexdigest()
        folder = source.rpartition("/")[0]
        for name in names:
            rel = f"{folder}/__pycache__/{name}" if folder else f"__pycache__/{name}"
            parsed = pyc_name(rel)
            if parsed is None or parsed.source != source:
                continue
            if parsed.tag != TAG:
                other += 1
                continue
            data = read_file(os.path.join(cache, name), MAX_PYC_BYTES)
            if isinstance(data, Hashed):
                if not data.missing:
                    findings.add(f"{plain(rel, 120)} {data.problem}")
                continue
            pair = f"{hashlib.sha256(data).hexdigest()}:{code_sha256}:{parsed.optimize}"
            verdict = check_pyc(data, code, info, parsed, proven=pair in known)
            if verdict.state == "same":
                proven.add(pair)
            if verdict.state == "differs":
                findings.add(
                    f"{plain(rel, 120)} is not {plain(source, 120)} compiled, and "
                    f"Python would run it ({verdict.detail})"
                )
            if verdict.state in ("same", "differs"):
                checked += 1
    return checked, other


# -- the attested wheel -----------------------------------------------------------------


def _wheel_target(member: str) -> tuple[str, str]:
    """Where a wheel member is installed: ("exact", path) or ("tail", path)."""
    first, _, rest = member.partition("/")
    if first.endswith(".data") and rest:
        scheme, _, path = rest.partition("/")
        if scheme in ("purelib", "platlib"):
            return "exact", path
        return "tail", path
    return "exact", member


def bind_wheel(dist: InstalledDist, installed: Installed, manifest: Manifest) -> Binding:
    findings = _Findings()
    info = dist.info_dir.name
    record = _record_row(dist)
    unpaired = {p: f for p, f in installed.files.items() if p != record}
    bound = generated = 0
    tails: list[tuple[str, str]] = []  # (member, tail) matched after the exact ones
    for member, (sha256, _size) in sorted(manifest.members.items()):
        if member.endswith(".dist-info/RECORD") and member.count("/") == 1:
            continue  # the installed RECORD is the installer's rewrite of it
        how, path = _wheel_target(member)
        if how == "tail":
            tails.append((member, path))
            continue
        file = unpaired.pop(path, None)
        if file is None:
            findings.add(f"RECORD does not list {plain(path, 120)}, a file of the attested wheel")
        elif _same(file, sha256, findings):
            bound += 1
    for member, tail in tails:
        sha256 = manifest.members[member][0]
        match = _by_tail(unpaired, tail)
        if match is None:
            findings.add(f"RECORD does not list {plain(member, 120)} of the attested wheel")
            continue
        file = unpaired.pop(match)
        if member in manifest.scripts:
            if _script_same(file, manifest.scripts[member], findings):
                bound += 1
        elif _same(file, sha256, findings):
            bound += 1
    sources = {m for m in manifest.members if m.endswith(".py")}
    launchers = dict(manifest.entry_points)
    for path, file in sorted(unpaired.items()):
        folder, _, name = path.rpartition("/")
        if folder == info and name in INSTALLER_FILES:
            generated += 1
            continue
        pyc = pyc_name(path)
        if pyc is not None and pyc.source in sources:
            generated += 1  # compared with its source in check_installed
            continue
        script = _launcher_name(name)
        if script in launchers and file.full and _outside_lib(dist, file.full):
            problem = _launcher_check(file, launchers[script])
            if problem:
                findings.add(f"{plain(path, 120)}: {problem}")
            else:
                generated += 1
            continue
        findings.add(f"RECORD lists {plain(path, 120)}, which the attested wheel does not have")
    return Binding("wheel", manifest.filename, findings.lines, findings.count, bound, generated, [])


def _same(file: InstalledFile, sha256: str, findings: _Findings) -> bool:
    hashed = file.hashed
    if not hashed.problem and not hashed.sha256:
        hashed = hash_file(file.full)  # its size was not RECORD's, so it was not read
    if hashed.problem:
        findings.add(
            f"{plain(file.entry.path, 120)} {hashed.problem}: it cannot be the attested "
            "wheel's file"
        )
        return False
    if hashed.sha256 != sha256:
        findings.add(
            f"{plain(file.entry.path, 120)} is not the attested wheel's file "
            f"(sha256 {hashed.sha256[:16]}…, the wheel's {sha256[:16]}…)"
        )
        return False
    return True


def _script_same(file: InstalledFile, rest: tuple[str, int], findings: _Findings) -> bool:
    """A ``#!python`` script: everything after the installer's first line is the wheel's."""
    content = read_file(file.full, MAX_SCRIPT_BYTES) if file.full else file.hashed
    if isinstance(content, Hashed):
        findings.add(f"{plain(file.entry.path, 120)} {content.problem}")
        return False
    sha256, size = rest
    head, tail = content[: len(content) - size], content[len(content) - size :]
    if len(content) < size or hashlib.sha256(tail).hexdigest() != sha256:
        findings.add(
            f"{plain(file.entry.path, 120)} is not the attested wheel's script "
            "(beyond the #! line an installer writes)"
        )
        return False
    if INTERPRETER_LINES.fullmatch(head) is None:
        findings.add(f"{plain(file.entry.path, 120)}: {INTERPRETER_PROBLEM}")
        return False
    return True


def _by_tail(files: dict[str, InstalledFile], tail: str) -> str | None:
    suffix = "/" + tail
    for path, file in files.items():
        located = file.full.replace(os.sep, "/")
        if located.endswith(suffix) or path.endswith(suffix):
            return path
    return None


def _launcher_name(name: str) -> str:
    for suffix in ("-script.pyw", "-script.py", ".exe"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _outside_lib(dist: InstalledDist, full: str) -> bool:
    """Launchers live in the scripts folder, never among the importable files."""
    base = os.path.normpath(os.fspath(dist.site.path))
    if dist.site.target:
        return os.path.dirname(full) == os.path.join(base, "bin")
    return not full.startswith(base + os.sep)


def _launcher_check(file: InstalledFile, entry_point: str) -> str:
    if file.hashed.problem:
        return file.hashed.problem
    if file.full.endswith(".exe"):
        return "a Windows launcher, which pip-attest cannot read"
    content = read_file(file.full, MAX_LAUNCHER_BYTES)
    if isinstance(content, Hashed):
        return content.problem
    problem = launcher_problem(content, entry_point)
    return f"not a launcher of {entry_point}: {problem}" if problem else ""


# -- a verified sdist -------------------------------------------------------------------


def bind_sdist(dist: InstalledDist, installed: Installed, manifest: Manifest) -> Binding:
    """Each installed file that is the sdist's file at the same path is bound; the rest
    were made by the build on this machine."""
    by_name: dict[str, list[tuple[str, str]]] = {}
    for member, (sha256, _size) in manifest.members.items():
        by_name.setdefault(member.rsplit("/", 1)[-1], []).append((member, sha256))
    info = dist.info_dir.name
    bound = generated = 0
    unbound: list[str] = []
    for path, file in sorted(installed.files.items()):
        folder, _, name = path.rpartition("/")
        if folder == info or pyc_name(path) is not None:
            generated += 1  # metadata the build wrote; bytecode checked against its source
            continue
        suffix = "/" + path
        same = [
            sha
            for member, sha in by_name.get(name, [])
            if ("/" + member).endswith(suffix) or member == path
        ]
        if file.hashed.sha256 and file.hashed.sha256 in same:
            bound += 1
        else:
            unbound.append(path)
    return Binding("sdist", manifest.filename, [], 0, bound, generated, unbound)
