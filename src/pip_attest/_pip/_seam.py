"""The seam: where pip-attest patches pip. Nothing else in pip-attest changes pip.

pip has no plugin interface (pypa/pip#12985 was never merged), so pip-attest wraps private
functions, checked in every pip release from 23.3 to 26.3:

* ``operations.prepare._get_prepared_distribution(req, ...)`` sees every file pip will use
  (downloads, lazily fetched wheels, wheel-cache hits, source trees) after pip's own hash
  check and before any build code runs. Its first argument has always been ``req``; the
  others changed in 25.2 and 26.2, so they pass through untouched. What pip then makes of
  the file (its metadata's name and version) is bound to the verdict on the way out.
* ``operations.prepare.get_file_url`` hands pip a local file (find-links, ``file://``, a
  wheel from pip's cache): pip gets a private copy instead, hashed while it is made, so the
  bytes checked are the bytes pip unpacks and installs.
* ``RequirementPreparer.prepare_linked_requirements_more`` runs after every file has been
  downloaded and before anything is installed: the gate, which checks the whole set.
* ``InstallRequirement.install``: the first install checks the whole set again (wheels
  built since the gate included), the last word before anything is written.
* ``wheel_builder._build_one`` and ``cache.WheelCache.get_cache_entry``: wheels pip builds
  from checked sources are noted, and a cached wheel nothing vouches for is not used.
* ``Resolver.resolve`` (both resolvers): a dry run is judged as soon as pip knows what it
  would install; ``commands.install.InstallCommand.run`` says whether it is one.
* ``cli.main_parser.identify_python_interpreter``: ``--python`` would run pip elsewhere.
* ``Link.from_json`` / ``Link.from_element`` drop the PEP 740 provenance URL, so a
  URL → provenance table is kept while pip parses index pages; ``RequirementPreparer``'s
  ``__init__`` holds pip's session, and ``prepare_linked_requirement`` is where checking
  can start early (an optimisation only).

If any of these is missing or has another shape, :func:`install` raises
:class:`~pip_attest.PipSeamError` and nothing runs: an unguarded pip must never install.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import inspect
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pip_attest._check import Candidate, Checker, append_results, read_results
from pip_attest._config import ALLOW_UNTESTED_PIP, PARENT_PID, RESULTS_FILE, Settings, env_flag
from pip_attest._errors import PipSeamError
from pip_attest._model import FileResult, Origin, Status, sha256_file
from pip_attest._names import name_problem, parse_version
from pip_attest._pip import _guard
from pip_attest._pip._ledger import Copy, Entry, Ledger, refusal
from pip_attest._pip._reqs import Seen, archive_sha256, installs_file
from pip_attest._provenance import Advert
from pip_attest._store import BuiltWheels

MIN_PIP = Version("23.3")
MAX_PIP_EXCLUSIVE = Version("26.4")
SUPPORTED_RANGE = f">={MIN_PIP},<{MAX_PIP_EXCLUSIVE}"
# pip reads wheel names with packaging's strict rules from 25.3; before, also loosely.
STRICT_WHEEL_NAMES = Version("25.3")
_MARK = "__pip_attest_wrapped__"


class _State:
    """Per-process state. One pip run per process; the CLI resets it between runs."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.checker: Checker | None = None
        self.session: Any = None
        self.adverts: dict[str, Advert] = {}
        self.results: list[FileResult] = []
        self.ledger = Ledger(legacy_wheels=False)
        # The legacy resolver (pip < 25.3) never reaches the gate: check every file
        # before pip goes on with it, wheels included.
        self.synchronous = False
        self.results_file: Path | None = None
        self.report_at_gate = False
        self.reported = 0
        self.dry_run = False
        # What pip resolved, and what passed the gate: the sets the first install checks.
        self.resolved: list[Any] | None = None
        self.gated: list[Any] | None = None
        self.installing = False
        self.installed: list[str] = []
        self.committed = False
        self.copies: str | None = None
        self.built: BuiltWheels | None = None

    def blocking(self) -> list[FileResult]:
        return [r for r in self.results if r.blocking]


STATE = _State()


def pip_version() -> Version:
    try:
        import pip
    except ImportError as err:
        raise PipSeamError("pip is not installed in this environment") from err
    try:
        return Version(pip.__version__)
    except (AttributeError, InvalidVersion) as err:
        raise PipSeamError("cannot tell which pip version is installed") from err


def check_version() -> Version:
    version = pip_version()
    if MIN_PIP <= version < MAX_PIP_EXCLUSIVE:
        return version
    if version >= MAX_PIP_EXCLUSIVE and env_flag(ALLOW_UNTESTED_PIP):
        return version
    raise PipSeamError(
        f"pip {version} is not supported: pip-attest guards pip {SUPPORTED_RANGE}. "
        f"Install a supported pip (python -m pip install 'pip{SUPPORTED_RANGE}')"
    )


def refuse_unguardable(args: Iterable[str], env: dict[str, str] | os._Environ[str]) -> None:
    """Options under which build dependencies escape the hook."""
    features = " ".join([*args, env.get("PIP_USE_FEATURE", "")])
    if "venv-isolation" in features:
        raise PipSeamError(
            "--use-feature=venv-isolation installs build dependencies where pip-attest "
            "cannot verify them; run without it"
        )


def install(settings: Settings, *, report_at_gate: bool) -> None:
    """Patch pip. Idempotent: a second call only refreshes the settings."""
    version = check_version()
    try:
        from pip._internal import cache, wheel_builder
        from pip._internal.cli import main_parser
        from pip._internal.exceptions import InstallationError
        from pip._internal.models.link import Link
        from pip._internal.operations import prepare
        from pip._internal.req.req_install import InstallRequirement
        from pip._internal.resolution.resolvelib import resolver
    except Exception as err:
        raise PipSeamError(f"cannot import pip's internals: {err}") from err
    _check_shape(prepare, Link, wheel_builder, cache, resolver, main_parser)
    STATE.settings = settings
    STATE.report_at_gate = report_at_gate
    STATE.ledger.legacy_wheels = version < STRICT_WHEEL_NAMES
    if settings.results_file is None:
        # The top pip process of a run: children (build-dependency installs) append here.
        fd, name = tempfile.mkstemp(prefix="pip-attest-", suffix=".jsonl")
        os.close(fd)
        STATE.results_file = Path(name)
        os.environ[RESULTS_FILE] = name
        os.environ[PARENT_PID] = str(os.getpid())
    else:
        STATE.results_file = settings.results_file
    if getattr(prepare._get_prepared_distribution, _MARK, False):
        return
    refused = _refusal_type(InstallationError)
    _guard.patch_main_parser(main_parser, _refuse_python)
    _wrap_links(Link)
    _wrap_preparer(prepare.RequirementPreparer, refused)
    _wrap_file_url(prepare, refused)
    _wrap_install(InstallRequirement, refused)
    _wrap_build(wheel_builder)
    _wrap_cache(cache.WheelCache)
    _wrap_resolve(resolver.Resolver, refused)
    with contextlib.suppress(ImportError):  # the legacy resolver is gone since pip 25.3
        from pip._internal.resolution.legacy import resolver as legacy

        _wrap_resolve(legacy.Resolver, refused)
    _wrap_prepared(prepare, refused)


def patch_install_command(module: Any) -> None:
    """``pip install --dry-run`` must be judged when pip has resolved (there is no gate
    then): note whether this run is one. Called once pip's install command is loaded."""
    command: Any = getattr(module, "InstallCommand", None)
    run = getattr(command, "run", None)
    if run is None or getattr(run, _MARK, False):
        return

    @functools.wraps(run)
    def wrapped_run(self: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        STATE.dry_run = bool(getattr(options, "dry_run", False))
        return run(self, options, *args, **kwargs)

    setattr(wrapped_run, _MARK, True)
    command.run = wrapped_run


def reset() -> None:
    """Forget the results of a previous run in this process (tests, repeated CLI runs)."""
    STATE.__init__()  # type: ignore[misc]


def _refuse_python(python: str) -> NoReturn:
    raise PipSeamError(_guard.python_refusal(python))


def _check_shape(
    prepare: Any, link_cls: Any, wheel_builder: Any, cache: Any, resolver: Any, main_parser: Any
) -> None:
    problems = []
    func = getattr(prepare, "_get_prepared_distribution", None)
    if not callable(func):
        problems.append("_get_prepared_distribution is missing")
    else:
        params = list(inspect.signature(inspect.unwrap(func)).parameters)
        if not params or params[0] != "req":
            problems.append(f"_get_prepared_distribution takes {params}, expected (req, ...)")
    needed = [
        (prepare, "get_file_url"),
        (prepare.RequirementPreparer, "__init__"),
        (prepare.RequirementPreparer, "prepare_linked_requirements_more"),
        (link_cls, "from_json"),
        (link_cls, "from_element"),
        (wheel_builder, "_build_one"),
        (getattr(cache, "WheelCache", None), "get_cache_entry"),
        (getattr(resolver, "Resolver", None), "resolve"),
        (main_parser, "identify_python_interpreter"),
    ]
    problems.extend(
        f"{getattr(owner, '__name__', owner)}.{name} is missing"
        for owner, name in needed
        if not callable(getattr(owner, name, None))
    )
    if problems:
        raise PipSeamError(
            f"this pip's internals are not the shape pip-attest guards ({'; '.join(problems)}); "
            f"supported pip: {SUPPORTED_RANGE}"
        )


def _refusal_type(base: type[Exception]) -> type[Exception]:
    # A subclass of pip's InstallationError: pip prints "ERROR: <message>" and exits 1,
    # and its resolver does not swallow it as a bad candidate (it catches only
    # MetadataInconsistent/MetadataInvalid).
    return type("AttestationRefused", (base,), {"__module__": "pip_attest"})


def _refuse(refused: type[Exception]) -> NoReturn:
    _collect()
    raise refused(_refusal_message(STATE.blocking()))


# -- the seam itself ---------------------------------------------------------------------


def _wrap_prepared(prepare: Any, refused: type[Exception]) -> None:
    original = prepare._get_prepared_distribution

    @functools.wraps(original)
    def _get_prepared_distribution(req: Any, *args: Any, **kwargs: Any) -> Any:
        entry, key = _prepare(req, refused)
        if entry.result is not None and entry.result.blocking:
            # An sdist or a source tree would run build code next: stop right here.
            _refuse(refused)
        dist = original(req, *args, **kwargs)
        _bind(entry, key, dist, refused)
        return dist

    setattr(_get_prepared_distribution, _MARK, True)
    prepare._get_prepared_distribution = _get_prepared_distribution


def _prepare(req: Any, refused: type[Exception]) -> tuple[Entry, tuple[str, str, str | None]]:
    """The entry for the file behind ``req``, checked (a wheel in the background: it runs
    no code until it is installed, so its verdict can wait for the gate)."""
    ledger = STATE.ledger
    try:
        seen = ledger.describe(req)
    except Exception as err:  # a requirement shape we do not know: fail closed
        link = getattr(req, "link", None)
        _record(
            refusal(
                str(getattr(req, "name", None) or getattr(link, "url", None) or req),
                str(getattr(link, "filename", "") or ""),
                f"cannot tell which file pip is using: {type(err).__name__}: {err}",
                hint="report this as a pip-attest bug",
            )
        )
        _refuse(refused)
    known = ledger.entries.get(seen.key)
    if known is not None:
        return known, seen.key
    candidate = ledger.candidate(seen, STATE.adverts, _vouched)
    entry = ledger.add(seen, candidate)
    checker = _checker()
    if (
        not STATE.synchronous
        and getattr(req.link, "is_wheel", False)
        and candidate.project
        and candidate.sha256
        and not candidate.problem
    ):
        entry.pending = checker.submit(candidate)
        return entry, seen.key
    entry.result = checker.check(candidate)
    if entry.result.blocking or candidate.project:
        _record(entry.result)
    # else: a requirement pip names only once it is built; judged under that name in _bind
    return entry, seen.key


def _bind(entry: Entry, key: tuple[str, str, str | None], dist: Any, refused: Any) -> None:
    """Bind the verdict to what pip made of the file: its metadata's name and version."""
    candidate = entry.candidate
    try:
        name = str(canonicalize_name(dist.canonical_name))
        version = str(dist.version)
    except Exception as err:
        entry.bound = f"pip-attest cannot read the metadata pip prepared ({type(err).__name__})"
        return
    if not candidate.project:
        # Named only now, by its build (a bare URL or directory): judge it again under its
        # name, before anything is installed.
        problem = candidate.problem
        if not candidate.tree and not problem:
            legacy = STATE.ledger.legacy_wheels
            problem = name_problem(candidate.filename, name, version, legacy_wheels=legacy)
        named = candidate._replace(project=name, version=version, problem=problem)
        entry.candidate = named
        STATE.ledger.rekey(entry, key, (name, key[1], key[2]))
        entry.result = _checker().check(named)
        _record(entry.result)
        if entry.result.blocking:
            _refuse(refused)
        return
    if candidate.tree:
        return  # pip itself checks a named source tree's metadata against its name
    if name != candidate.project:
        # pip rejects such a candidate itself (MetadataInconsistent); should it get further,
        # the gate refuses it.
        entry.bound = f"the file's metadata names project {name}, not {candidate.project}"
    elif candidate.version and parse_version(version) != parse_version(candidate.version):
        entry.bound = (
            f"the distribution in {candidate.filename!r} is version {version}, "
            f"its file name says {candidate.version}"
        )


def _checker() -> Checker:
    if STATE.checker is None:
        settings = STATE.settings or Settings.from_env()
        STATE.checker = Checker(settings, STATE.session, helper=True)
    return STATE.checker


def _collect() -> None:
    """Wait for the wheels checked in the background and record their results, in the
    order pip prepared them."""
    for entry in list(STATE.ledger.entries.values()):
        pending = entry.pending
        if pending is None:
            continue
        entry.pending = None
        entry.result = _checker().conclude(entry.candidate, pending.result())
        _record(entry.result)


def _record(result: FileResult) -> None:
    STATE.results.append(result)
    if STATE.results_file is not None:
        parent = os.environ.get(PARENT_PID)
        child = parent is not None and parent != str(os.getpid())
        origin = Origin.BUILD_DEPENDENCY if child else None
        append_results(STATE.results_file, [result], origin=origin)


# -- local files: the bytes checked are the bytes used -------------------------------------


def _wrap_file_url(prepare: Any, refused: type[Exception]) -> None:
    original = prepare.get_file_url

    @functools.wraps(original)
    def get_file_url(link: Any, download_dir: Any = None, hashes: Any = None) -> Any:
        file = original(link, download_dir, hashes=None)
        copy = _private_copy(str(file.path), refused)
        if hashes:
            hashes.check_against_path(copy)
        return type(file)(copy, file.content_type)

    prepare.get_file_url = get_file_url


def _private_copy(path: str, refused: type[Exception]) -> str:
    """Copy a local file where only this process writes, hashing it on the way: pip reads
    local files in place, and a file swapped after it was checked would otherwise be
    unpacked or installed unchecked. The copy keeps the file's name (pip reads its type
    from it) and is removed when the process ends."""
    if STATE.copies is None:
        STATE.copies = tempfile.mkdtemp(prefix="pip-attest-files-")
        atexit.register(shutil.rmtree, STATE.copies, True)
    folder = tempfile.mkdtemp(dir=STATE.copies)
    dest = os.path.join(folder, os.path.basename(path))
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise refused(f"pip-attest cannot read {path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise refused(f"pip-attest refused {path}: not a regular file")
        with open(dest, "xb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
    STATE.ledger.copies[os.path.normpath(dest)] = Copy(digest.hexdigest(), os.path.normpath(path))
    return dest


# -- pip's wheel cache and the wheels pip builds ------------------------------------------


def _built_store() -> BuiltWheels:
    if STATE.built is None:
        STATE.built = BuiltWheels()
    return STATE.built


def _vouched(source_sha256: str, wheel_sha256: str) -> bool:
    return bool(source_sha256 and wheel_sha256) and _built_store().vouches(
        source_sha256, wheel_sha256
    )


def _wrap_build(wheel_builder: Any) -> None:
    original = wheel_builder._build_one

    @functools.wraps(original)
    def _build_one(req: Any, *args: Any, **kwargs: Any) -> Any:
        wheel = original(req, *args, **kwargs)
        if wheel:
            _note_built(req, str(wheel))
        return wheel

    wheel_builder._build_one = _build_one


def _note_built(req: Any, wheel: str) -> None:
    """pip built ``wheel`` from ``req``'s checked source: installing it installs what that
    verdict covers, and pip-attest's store vouches for it when pip's cache offers it later.
    Failing to record only means it is built again next time."""
    try:
        entry = STATE.ledger.note_built(req, wheel)
        if entry is None or entry.result is None or entry.result.blocking:
            return
        source = entry.candidate.sha256
        if source and not entry.candidate.tree:
            _built_store().add(source, sha256_file(Path(wheel)))
    except Exception as err:
        _notice(f"could not record the wheel built from {getattr(req, 'name', req)}: {err}")


def _wrap_cache(wheel_cache: Any) -> None:
    original = wheel_cache.get_cache_entry

    @functools.wraps(original)
    def get_cache_entry(self: Any, link: Any, *args: Any, **kwargs: Any) -> Any:
        entry = original(self, link, *args, **kwargs)
        if entry is None or _trusted_cache_entry(link, entry):
            return entry
        _notice(
            f"not using pip's cached wheel {getattr(entry.link, 'filename', '?')}: nothing on "
            "record says pip-attest checked the source it was built from; building it again"
        )
        return None

    wheel_cache.get_cache_entry = get_cache_entry


def _trusted_cache_entry(link: Any, entry: Any) -> bool:
    try:
        path = os.path.normpath(entry.link.file_path)
        if path in STATE.ledger.built:
            return True  # built in this very run
        if not entry.persistent:
            return False
        index = link.hash if getattr(link, "hash_name", None) == "sha256" else None
        source = str(index or archive_sha256(getattr(entry, "origin", None)) or "")
        return _vouched(source.lower(), sha256_file(Path(path)))
    except Exception:
        return False  # an entry we cannot read is rebuilt


# -- the gate, the first install, dry runs ------------------------------------------------


def _wrap_preparer(preparer: Any, refused: type[Exception]) -> None:
    init = preparer.__init__
    more = preparer.prepare_linked_requirements_more

    @functools.wraps(init)
    def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        STATE.session = getattr(self, "_session", None)
        if getattr(self, "legacy_resolver", False):
            STATE.synchronous = True
        installer = type(getattr(self, "build_env_installer", None)).__name__
        if getattr(self, "build_isolation", None) == "venv" and installer.startswith("Subprocess"):
            # Decided from pip's parsed options, so a config file cannot slip it past.
            _record(
                refusal(
                    "pip",
                    "",
                    "venv-isolation installs build dependencies with another Python, where "
                    "pip-attest cannot verify them",
                    hint="run without --use-feature=venv-isolation "
                    "(command line, PIP_USE_FEATURE or pip.conf)",
                )
            )
            raise refused(_refusal_message(STATE.blocking()))

    @functools.wraps(more)
    def wrapped_more(self: Any, reqs: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        reqs = list(reqs)
        _prefetch(reqs)
        more(self, reqs, *args, **kwargs)
        _gate(reqs, refused)

    preparer.__init__ = wrapped_init
    preparer.prepare_linked_requirements_more = wrapped_more
    prepare_one = getattr(preparer, "prepare_linked_requirement", None)
    if callable(prepare_one):  # an optimisation only: without it, files are checked later

        @functools.wraps(prepare_one)
        def wrapped_prepare_one(self: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
            _speculate(req)
            return prepare_one(self, req, *args, **kwargs)

        preparer.prepare_linked_requirement = wrapped_prepare_one


def _gate(reqs: list[Any], refused: type[Exception]) -> None:
    """After every download and before any build or install: every file pip will install
    was seen, checked, and is what its verdict is about."""
    _collect()
    for problem in STATE.ledger.problems(reqs):
        _record(problem)
    STATE.gated = reqs
    if STATE.report_at_gate:
        _report_new()
    if STATE.blocking():
        raise refused(_refusal_message(STATE.blocking()))
    if not STATE.dry_run:
        _commit()


def _commit() -> None:
    """The run goes ahead: let the policy remember what it saw (first-seen records)."""
    if not STATE.committed and STATE.checker is not None:
        STATE.committed = True
        STATE.checker.commit(STATE.results)


def _wrap_install(req_cls: Any, refused: type[Exception]) -> None:
    """The last word: the first install checks the whole set (wheels pip built since the
    gate included), and each install its own file, whichever path pip took to get here."""
    original = req_cls.install

    @functools.wraps(original)
    def install(self: Any, *args: Any, **kwargs: Any) -> Any:
        _collect()
        if not STATE.installing:
            STATE.installing = True
            whole = STATE.gated if STATE.gated is not None else STATE.resolved or []
            reqs = whole if any(r is self for r in whole) else [*whole, self]
        else:
            reqs = [self]
        for problem in STATE.ledger.problems(reqs):
            _record(problem)
        if STATE.blocking():
            raise refused(_refusal_message(STATE.blocking()))
        _commit()
        done = original(self, *args, **kwargs)
        STATE.installed.append(str(getattr(self, "name", None) or self))
        return done

    req_cls.install = install


def _wrap_resolve(resolver_cls: Any, refused: type[Exception]) -> None:
    original = resolver_cls.resolve
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def resolve(self: Any, *args: Any, **kwargs: Any) -> Any:
        requirement_set = original(self, *args, **kwargs)
        STATE.resolved = list(requirement_set.requirements.values())
        if STATE.dry_run:
            _judge_dry_run(STATE.resolved, refused)
        return requirement_set

    setattr(resolve, _MARK, True)
    resolver_cls.resolve = resolve


def _judge_dry_run(reqs: list[Any], refused: type[Exception]) -> None:
    """A dry run answers "would this install?": judge what pip would install, as soon as it
    knows. Files pip has only the metadata of (PEP 658) are checked against the sha256 the
    index gives for them."""
    _collect()
    ledger = STATE.ledger
    for req in reqs:
        if not installs_file(req) or ledger.lookup(req) is not None:
            continue
        try:
            seen = ledger.describe(req)
        except Exception as err:
            _record(refusal(str(req), "", f"cannot tell which file pip would use: {err}"))
            continue
        if not seen.index_sha256:
            _record(
                refusal(
                    seen.project or seen.url,
                    seen.filename,
                    "pip has not downloaded this file in a dry run, and the index gives no "
                    "sha256 to check its provenance against",
                    hint="run without --dry-run to check the file itself",
                )._replace(status=Status.UNAVAILABLE)
            )
            continue
        entry = ledger.add(seen, _index_candidate(seen))
        entry.result = _checker().check(entry.candidate)
        _record(entry.result)
    for problem in ledger.problems(reqs):
        _record(problem)
    if STATE.report_at_gate:
        _report_new()
    if STATE.blocking():
        raise refused(_refusal_message(STATE.blocking()))


# -- starting checks early (optimisations only) -------------------------------------------


def _index_candidate(seen: Seen) -> Candidate:
    """A file as the index describes it, before pip has its bytes."""
    origin = Origin.LOCAL if seen.url.startswith("file:") else Origin.INDEX
    return Candidate(
        seen.filename,
        seen.index_sha256,
        seen.url,
        seen.project,
        seen.version,
        advert=STATE.adverts.get(seen.url),
        origin=origin,
        problem=seen.problem,
    )


def _early(req: Any) -> Candidate | None:
    seen = STATE.ledger.describe(req)
    if seen.tree or seen.source is not None or not seen.project or seen.problem:
        return None
    if not seen.url.startswith(("http:", "https:")):
        return None
    return _index_candidate(seen)


def _prefetch(reqs: list[Any]) -> None:
    """Start downloading the provenance of every file pip is about to download. Best
    effort: the checks decide."""
    for req in reqs:
        with contextlib.suppress(Exception):
            if not installs_file(req) or getattr(req, "local_file_path", None):
                continue
            candidate = _early(req)
            if candidate is not None:
                _checker().prefetch(candidate)


def _speculate(req: Any) -> None:
    """The resolver wants this file's metadata, so pip may use it: start checking its
    provenance now, against the sha256 the index gives. The check of pip's bytes later
    reuses this work only if their sha256 is that one. Best effort."""
    with contextlib.suppress(Exception):
        candidate = _early(req)
        if candidate is not None and candidate.sha256:
            _checker().speculate(candidate)


# -- provenance adverts on index pages -----------------------------------------------------


def _wrap_links(link_cls: Any) -> None:
    from_json = link_cls.from_json.__func__
    from_element = link_cls.from_element.__func__

    @functools.wraps(from_json)
    def wrapped_json(cls: Any, file_data: Any, page_url: str, *a: Any, **kw: Any) -> Any:
        link = from_json(cls, file_data, page_url, *a, **kw)
        if link is not None and isinstance(file_data, dict) and "provenance" in file_data:
            value = file_data["provenance"]
            _remember(link, None if value is None else str(value), page_url)
        return link

    @functools.wraps(from_element)
    def wrapped_element(cls: Any, attribs: Any, page_url: str, *a: Any, **kw: Any) -> Any:
        link = from_element(cls, attribs, page_url, *a, **kw)
        if link is not None and isinstance(attribs, dict) and "data-provenance" in attribs:
            # An attribute with no value is a malformed advert, not "no provenance".
            _remember(link, str(attribs["data-provenance"] or ""), page_url)
        return link

    link_cls.from_json = classmethod(wrapped_json)
    link_cls.from_element = classmethod(wrapped_element)


def _remember(link: Any, provenance: str | None, page_url: str) -> None:
    key = link.url_without_fragment
    advert = Advert(provenance, page_url)
    known = STATE.adverts.get(key)
    if known is not None and known.conflict:
        return  # once two pages disagree, no third page settles it
    if known is not None and known.url != provenance:
        # Two pages disagree about one file: trust neither.
        shown = f"{(known.url or '')[:100]!r} and {(provenance or '')[:100]!r}"
        advert = Advert(None, page_url, conflict=f"provenance advertised as {shown}")
    STATE.adverts[key] = advert


# -- reporting -----------------------------------------------------------------------------


def _report_new() -> None:
    from pip_attest._report import render_text

    if STATE.results_file is None:
        return
    records = read_results(STATE.results_file)
    new = records[STATE.reported :]
    STATE.reported = len(records)
    if new:
        sys.stderr.write(render_text(new, installed=None))
        sys.stderr.flush()


def _notice(message: str) -> None:
    sys.stderr.write(f"pip-attest: {message}\n")
    sys.stderr.flush()


def _refusal_message(blocking: list[FileResult]) -> str:
    from pip_attest._report import refusal_lines

    return "\n".join(refusal_lines(blocking, installed=STATE.installed))
