"""The seam: where pip-attest patches pip. Only ``pip_attest._pip`` changes pip: this module
installs every patch; ``_files`` (local files, built and cached wheels), ``_early`` (checks
started ahead, index adverts) and ``_guard`` (``--python``) hold the ones they name.

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

import contextlib
import functools
import inspect
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from packaging.utils import canonicalize_name

from pip_attest import _env
from pip_attest._config import Settings
from pip_attest._errors import PipSeamError
from pip_attest._model import Status
from pip_attest._names import name_problem, parse_version
from pip_attest._pip import _adverts, _early, _files, _guard
from pip_attest._pip._ledger import Entry, refusal
from pip_attest._pip._reqs import installs_file
from pip_attest._pip._state import (
    STATE,
    checker,
    collect,
    commit,
    record,
    refusal_message,
    refuse,
    report_new,
    reset,
)
from pip_attest._pip._version import (
    STRICT_WHEEL_NAMES,
    SUPPORTED_RANGE,
    check_version,
)
from pip_attest._policy import Policy

__all__ = [
    "STATE",
    "check_version",
    "checker",
    "collect",
    "install",
    "patch_install_command",
    "refuse_unguardable",
    "reset",
]

_MARK = "__pip_attest_wrapped__"


def refuse_unguardable(args: Iterable[str], env: dict[str, str] | os._Environ[str]) -> None:
    """Options under which build dependencies escape the hook."""
    args = list(args)
    for i, arg in enumerate(args):
        # After 'install' pip takes --python as a usage error; say what it is instead.
        if arg == "--python" or arg.startswith("--python="):
            value = arg.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
            raise PipSeamError(_guard.python_refusal(value))
    features = " ".join([*args, env.get("PIP_USE_FEATURE", "")])
    if "venv-isolation" in features:
        raise PipSeamError(
            "--use-feature=venv-isolation installs build dependencies where pip-attest "
            "cannot verify them; run without it"
        )


def install(settings: Settings, *, on_gate: Callable[[list[dict[str, Any]]], None] | None) -> None:
    """Patch pip. Idempotent: a second call only refreshes the settings."""
    version = check_version()
    try:  # pip's internals: only when the seam goes in, and a failure is a refusal to run
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
    STATE.policy = Policy(settings)  # reads the lock, if any: before pip starts
    STATE.on_gate = on_gate
    STATE.ledger.legacy_wheels = version < STRICT_WHEEL_NAMES
    if settings.results_file is None:
        # The top pip process of a run: children (build-dependency installs) append here.
        fd, name = tempfile.mkstemp(prefix="pip-attest-", suffix=".jsonl")
        os.close(fd)
        STATE.results_file = Path(name)
        os.environ[_env.RESULTS_FILE] = name
        os.environ[_env.PARENT_PID] = str(os.getpid())
    else:
        STATE.results_file = settings.results_file
    if getattr(prepare._get_prepared_distribution, _MARK, False):
        return
    refused = _refusal_type(InstallationError)
    _guard.patch_main_parser(main_parser, _refuse_python)
    _adverts.wrap_links(Link)
    _wrap_preparer(prepare.RequirementPreparer, refused)
    _files.wrap_file_url(prepare, refused)
    _wrap_install(InstallRequirement, refused)
    _files.wrap_build(wheel_builder)
    _files.wrap_cache(cache.WheelCache)
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
        STATE.installs = not STATE.dry_run
        return run(self, options, *args, **kwargs)

    setattr(wrapped_run, _MARK, True)
    command.run = wrapped_run


def _refuse_python(refusal: str) -> NoReturn:
    raise PipSeamError(refusal)


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


# -- the seam itself ---------------------------------------------------------------------


def _wrap_prepared(prepare: Any, refused: type[Exception]) -> None:
    original = prepare._get_prepared_distribution

    @functools.wraps(original)
    def _get_prepared_distribution(req: Any, *args: Any, **kwargs: Any) -> Any:
        entry, key = _prepare(req, refused)
        if entry.result is not None and entry.result.blocking:
            # An sdist or a source tree would run build code next: stop right here.
            refuse(refused)
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
        record(
            refusal(
                str(getattr(req, "name", None) or getattr(link, "url", None) or req),
                str(getattr(link, "filename", "") or ""),
                f"cannot tell which file pip is using: {type(err).__name__}: {err}",
                hint="report this as a pip-attest bug",
            )
        )
        refuse(refused)
    known = ledger.entries.get(seen.key)
    if known is not None:
        return known, seen.key
    _early.lock_index_adverts(seen)
    candidate = ledger.candidate(seen, STATE.adverts, _files.vouched)
    entry = ledger.add(seen, candidate)
    run_checker = checker()
    if (
        not STATE.synchronous
        and getattr(req.link, "is_wheel", False)
        and candidate.project
        and candidate.sha256
        and not candidate.problem
    ):
        entry.pending = run_checker.submit(candidate)
        return entry, seen.key
    entry.result = run_checker.check(candidate)
    if entry.result.blocking or candidate.project:
        record(entry.result)
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
        entry.result = checker().check(named)
        record(entry.result)
        if entry.result.blocking:
            refuse(refused)
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


# -- the gate, the first install, dry runs ------------------------------------------------


def _wrap_preparer(preparer: Any, refused: type[Exception]) -> None:
    init = preparer.__init__
    more = preparer.prepare_linked_requirements_more

    @functools.wraps(init)
    def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        STATE.session = getattr(self, "_session", None)
        with contextlib.suppress(Exception):  # only where a lock's files find their adverts
            STATE.index_urls = list(self.finder.search_scope.index_urls)
        if getattr(self, "legacy_resolver", False):
            STATE.synchronous = True
        installer = type(getattr(self, "build_env_installer", None)).__name__
        if getattr(self, "build_isolation", None) == "venv" and installer.startswith("Subprocess"):
            # Decided from pip's parsed options, so a config file cannot slip it past.
            record(
                refusal(
                    "pip",
                    "",
                    "venv-isolation installs build dependencies with another Python, where "
                    "pip-attest cannot verify them",
                    hint="run without --use-feature=venv-isolation "
                    "(command line, PIP_USE_FEATURE or pip.conf)",
                )
            )
            raise refused(refusal_message(STATE.blocking()))

    @functools.wraps(more)
    def wrapped_more(self: Any, reqs: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        reqs = list(reqs)
        _early.prefetch(reqs)
        more(self, reqs, *args, **kwargs)
        _gate(reqs, refused)

    preparer.__init__ = wrapped_init
    preparer.prepare_linked_requirements_more = wrapped_more
    prepare_one = getattr(preparer, "prepare_linked_requirement", None)
    if callable(prepare_one):  # an optimisation only: without it, files are checked later

        @functools.wraps(prepare_one)
        def wrapped_prepare_one(self: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
            _early.speculate(req)
            return prepare_one(self, req, *args, **kwargs)

        preparer.prepare_linked_requirement = wrapped_prepare_one


def _gate(reqs: list[Any], refused: type[Exception]) -> None:
    """After every download and before any build or install: every file pip will install
    was seen, checked, and is what its verdict is about."""
    collect()
    for problem in STATE.ledger.problems(reqs):
        record(problem)
    STATE.gated = reqs
    report_new()
    if STATE.blocking():
        raise refused(refusal_message(STATE.blocking()))
    if not STATE.dry_run and not STATE.installs:
        commit()  # pip download, pip wheel: past the last refusal (an install checks again)


def _wrap_install(req_cls: Any, refused: type[Exception]) -> None:
    """The last word: the first install checks the whole set (wheels pip built since the
    gate included), and each install its own file, whichever path pip took to get here."""
    original = req_cls.install

    @functools.wraps(original)
    def install(self: Any, *args: Any, **kwargs: Any) -> Any:
        collect()
        if not STATE.installing:
            STATE.installing = True
            whole = STATE.gated if STATE.gated is not None else STATE.resolved or []
            reqs = whole if any(r is self for r in whole) else [*whole, self]
        else:
            reqs = [self]
        for problem in STATE.ledger.problems(reqs):
            record(problem)
        if STATE.blocking():
            raise refused(refusal_message(STATE.blocking()))
        commit()
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
    collect()
    ledger = STATE.ledger
    for req in reqs:
        if not installs_file(req) or ledger.lookup(req) is not None:
            continue
        try:
            seen = ledger.describe(req)
        except Exception as err:
            record(refusal(str(req), "", f"cannot tell which file pip would use: {err}"))
            continue
        if not seen.index_sha256:
            record(
                refusal(
                    seen.project or seen.url,
                    seen.filename,
                    "pip has not downloaded this file in a dry run, and the index gives no "
                    "sha256 to check its provenance against",
                    hint="run without --dry-run to check the file itself",
                )._replace(status=Status.UNAVAILABLE)
            )
            continue
        entry = ledger.add(seen, _early.index_candidate(seen))
        entry.result = checker().check(entry.candidate)
        record(entry.result)
    for problem in ledger.problems(reqs):
        record(problem)
    report_new()
    if STATE.blocking():
        raise refused(refusal_message(STATE.blocking()))


# -- reporting -----------------------------------------------------------------------------
