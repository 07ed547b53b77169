"""The seam: the one place that touches pip's private API.

pip has no plugin interface (pypa/pip#12985 was never merged), so pip-attest wraps private
functions. They were checked in every pip release from 23.3 to 26.3 (DESIGN.md §3):

* ``pip._internal.operations.prepare._get_prepared_distribution(req, ...)`` sees every file
  pip will use (plain downloads, lazily fetched wheels, wheel-cache hits) after pip's own hash
  check and before any build code runs. Its first argument has always been ``req``; the
  others changed in 25.2 and 26.2, so the wrapper passes them through untouched.
* ``RequirementPreparer.prepare_linked_requirements_more`` runs after every file has been
  downloaded and before anything is installed, in every command: the gate. When it starts,
  pip knows every file it will use, so the provenance of those not yet checked is fetched
  then, concurrently with pip's downloads.
* ``Link.from_json`` and ``Link.from_element`` drop the PEP 740 provenance URL, so we keep a
  URL → provenance table while pip parses index pages.
* ``RequirementPreparer.__init__`` holds pip's ``PipSession``: provenance is fetched with
  pip's own proxies, certificates, credentials, retries and timeouts.
* ``RequirementPreparer.prepare_linked_requirement`` runs when the resolver wants a
  candidate's metadata. Checking starts there, against the sha256 the index gives, so
  that it overlaps resolution; the bytes pip later has reuse that work only if their
  sha256 is the same. An optimisation only: if it is missing, nothing is wrapped there.

If any of these is missing or has another shape, :func:`install` raises
:class:`~pip_attest.PipSeamError` and nothing runs: an unguarded pip must never install.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from pip_attest._check import Candidate, Checker, Pending, append_results, read_results
from pip_attest._config import ALLOW_UNTESTED_PIP, PARENT_PID, RESULTS_FILE, Settings, env_flag
from pip_attest._errors import PipSeamError
from pip_attest._model import FileResult, Status, sha256_file
from pip_attest._policy import Evidence
from pip_attest._provenance import Advert

MIN_PIP = Version("23.3")
MAX_PIP_EXCLUSIVE = Version("26.4")
SUPPORTED_RANGE = f">={MIN_PIP},<{MAX_PIP_EXCLUSIVE}"
_MARK = "__pip_attest_wrapped__"


class _State:
    """Per-process state. One pip run per process; the CLI resets it between runs."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.checker: Checker | None = None
        self.session: Any = None
        self.adverts: dict[str, Advert] = {}
        self.results: list[FileResult] = []
        self.seen: dict[int, FileResult] = {}
        # Wheels being checked in the background, in the order pip prepared them. A wheel
        # runs no code until it is installed, so its result can wait for the gate.
        self.pending: dict[int, tuple[Candidate, Pending[tuple[Evidence, str | None]]]] = {}
        # Every req checked, kept alive so that no other object can reuse its id().
        self.reqs: list[Any] = []
        # The legacy resolver (pip < 25.3) never reaches the gate: check every file
        # before pip goes on with it, wheels included.
        self.synchronous = False
        self.results_file: Path | None = None
        self.report_at_gate = False
        self.reported = 0

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
    """Options under which build dependencies escape the hook (DESIGN.md §3)."""
    features = " ".join([*args, env.get("PIP_USE_FEATURE", "")])
    if "venv-isolation" in features:
        raise PipSeamError(
            "--use-feature=venv-isolation installs build dependencies where pip-attest "
            "cannot verify them; run without it"
        )


def install(settings: Settings, *, report_at_gate: bool) -> None:
    """Patch pip. Idempotent: a second call only refreshes the settings."""
    check_version()
    try:
        from pip._internal.exceptions import InstallationError
        from pip._internal.models.link import Link
        from pip._internal.operations import prepare
        from pip._internal.req.req_install import InstallRequirement
    except Exception as err:
        raise PipSeamError(f"cannot import pip's internals: {err}") from err
    _check_shape(prepare, Link)
    STATE.settings = settings
    STATE.report_at_gate = report_at_gate
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
    _wrap_links(Link)
    _wrap_preparer(prepare.RequirementPreparer, refused)
    _wrap_install(InstallRequirement, refused)
    original = prepare._get_prepared_distribution

    @functools.wraps(original)
    def _get_prepared_distribution(req: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_inert(req) and not STATE.synchronous:
            _check_req(req, wait=False)  # judged at the gate
        elif _check_req(req, wait=True).blocking:
            # An sdist (or a source tree) would run build code next: stop right here.
            _collect()
            raise refused(_refusal_message(STATE.blocking()))
        return original(req, *args, **kwargs)

    setattr(_get_prepared_distribution, _MARK, True)
    prepare._get_prepared_distribution = _get_prepared_distribution


def reset() -> None:
    """Forget the results of a previous run in this process (tests, repeated CLI runs)."""
    STATE.__init__()  # type: ignore[misc]


def _check_shape(prepare: Any, link_cls: Any) -> None:
    problems = []
    func = getattr(prepare, "_get_prepared_distribution", None)
    if not callable(func):
        problems.append("_get_prepared_distribution is missing")
    else:
        params = list(inspect.signature(inspect.unwrap(func)).parameters)
        if not params or params[0] != "req":
            problems.append(f"_get_prepared_distribution takes {params}, expected (req, ...)")
    preparer = getattr(prepare, "RequirementPreparer", None)
    problems.extend(
        f"RequirementPreparer.{name} is missing"
        for name in ("__init__", "prepare_linked_requirements_more")
        if not callable(getattr(preparer, name, None))
    )
    problems.extend(
        f"Link.{name} is missing"
        for name in ("from_json", "from_element")
        if not callable(getattr(link_cls, name, None))
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
                _refusal(
                    "pip",
                    "venv-isolation installs build dependencies with another Python, where "
                    "pip-attest cannot verify them",
                    "run without --use-feature=venv-isolation "
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


def _wrap_install(req_cls: Any, refused: type[Exception]) -> None:
    """The last line: nothing is installed while a check is pending or refused, or for a
    file the seam never saw, whichever path pip took to get here."""
    original = req_cls.install

    @functools.wraps(original)
    def install(self: Any, *args: Any, **kwargs: Any) -> Any:
        _collect()
        if not _seen_or_inert(self):
            _record(
                _refusal(
                    str(getattr(self, "name", None) or self),
                    "pip-attest did not see this file being prepared",
                    "report this as a pip-attest bug",
                    filename=str(getattr(getattr(self, "link", None), "filename", "") or ""),
                )
            )
        if STATE.blocking():
            raise refused(_refusal_message(STATE.blocking()))
        return original(self, *args, **kwargs)

    req_cls.install = install


def _seen_or_inert(req: Any) -> bool:
    if getattr(req, "link", None) is None or getattr(req, "satisfied_by", None):
        return True
    return id(req) in STATE.seen


def _refusal(project: str, reason: str, hint: str, *, filename: str = "") -> FileResult:
    return FileResult(
        project=project,
        version="",
        filename=filename,
        sha256="",
        status=Status.INVALID,
        reason=reason,
        hint=hint,
        blocking=True,
    )


def _prefetch(reqs: list[Any]) -> None:
    """Start downloading the provenance of every file pip is about to download.

    Best effort: a req we cannot read is left to the check itself, which fails closed.
    """
    try:
        for req in reqs:
            link = getattr(req, "link", None)
            if (
                link is None
                or id(req) in STATE.seen
                or id(req) in STATE.pending
                or getattr(req, "satisfied_by", None)
                or getattr(req, "editable", False)
                or link.scheme not in ("http", "https")
            ):
                continue
            url = link.url_without_fragment
            sha256 = link.hash if getattr(link, "hash_name", None) == "sha256" else ""
            _checker().prefetch(url, link.filename, STATE.adverts.get(url), str(sha256 or ""))
    except Exception:  # noqa: S110 - an optimisation only; the checks decide
        pass


def _speculate(req: Any) -> None:
    """The resolver wants this file's metadata, so pip may use it: start checking its
    provenance now, against the sha256 the index gives, while pip resolves. The check
    pip's bytes get later reuses this work only if their sha256 is that one.

    Best effort, like :func:`_prefetch`.
    """
    try:
        link = getattr(req, "link", None)
        if (
            link is None
            or getattr(req, "editable", False)
            or link.scheme not in ("http", "https")
            or getattr(link, "hash_name", None) != "sha256"
            or not link.hash
        ):
            return
        url = link.url_without_fragment
        candidate = Candidate(link.filename, str(link.hash), url, advert=STATE.adverts.get(url))
        _checker().speculate(candidate)
    except Exception:  # noqa: S110 - an optimisation only; the checks decide
        pass


def _collect() -> None:
    """Wait for the wheels checked in the background and record their results, in the
    order pip prepared them."""
    while STATE.pending:
        key = next(iter(STATE.pending))
        candidate, pending = STATE.pending.pop(key)
        result = _checker().conclude(candidate, pending.result())
        STATE.seen[key] = result
        _record(result)


def _gate(reqs: list[Any], refused: type[Exception]) -> None:
    """After every download and before any install: all checked, none refused."""
    _collect()
    for req in reqs:
        if getattr(req, "link", None) is None or getattr(req, "satisfied_by", None):
            continue
        if id(req) not in STATE.seen:
            # pip will install something the seam never saw: refuse rather than guess.
            _record(
                FileResult(
                    project=str(getattr(req, "name", None) or req),
                    version="",
                    filename=str(req.link.filename),
                    sha256="",
                    status=_status("invalid"),
                    reason="pip-attest did not see this file being prepared",
                    hint="report this as a pip-attest bug",
                    blocking=True,
                )
            )
    blocking = STATE.blocking()
    if STATE.report_at_gate:
        _report_new()
    if blocking:
        raise refused(_refusal_message(blocking))
    if STATE.checker is not None:
        STATE.checker.commit(STATE.results)


def _status(name: str) -> Any:
    from pip_attest._model import Status

    return Status(name)


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


def _checker() -> Checker:
    if STATE.checker is None:
        settings = STATE.settings or Settings.from_env()
        STATE.checker = Checker(settings, STATE.session, helper=True)
    return STATE.checker


def _check_req(req: Any, *, wait: bool) -> FileResult:
    """Check the file behind ``req``. With ``wait`` False a file that needs provenance is
    checked in the background and its result (returned as a placeholder here) is recorded
    by :func:`_collect`."""
    known = STATE.seen.get(id(req))
    if known is not None:
        return known
    STATE.reqs.append(req)
    if id(req) in STATE.pending:
        if not wait:
            return _PLACEHOLDER
        _collect()
        return STATE.seen[id(req)]
    checker = _checker()
    try:
        candidate = _candidate(req)
    except Exception as err:  # an unknown req shape: fail closed
        candidate = None
        problem = f"cannot tell which file pip is using: {type(err).__name__}: {err}"
    if candidate is None:
        result = FileResult(
            project=str(getattr(req, "name", None) or req),
            version="",
            filename=str(getattr(getattr(req, "link", None), "filename", "") or req),
            sha256="",
            status=_status("invalid"),
            reason=problem,
            hint="report this as a pip-attest bug",
            blocking=True,
        )
    elif candidate.note.startswith("!"):
        result = FileResult(
            project=candidate.project or candidate.filename,
            version=candidate.version or "",
            filename=candidate.filename,
            sha256=candidate.sha256,
            status=_status("invalid"),
            reason=candidate.note[1:],
            hint="retry with --no-cache-dir",
            blocking=True,
            origin=candidate.origin,
        )
    elif not wait and candidate.sha256:
        STATE.pending[id(req)] = (candidate, checker.submit(candidate))
        return _PLACEHOLDER
    else:
        result = checker.check(candidate)
    STATE.seen[id(req)] = result
    _record(result)
    return result


# What _check_req answers for a file still being checked: not blocking (yet).
_PLACEHOLDER = FileResult(
    project="", version="", filename="", sha256="", status=Status.MISSING, blocking=False
)


def _record(result: FileResult) -> None:
    STATE.results.append(result)
    if STATE.results_file is not None:
        parent = os.environ.get(PARENT_PID)
        child = parent is not None and parent != str(os.getpid())
        append_results(STATE.results_file, [result], origin="build-dependency" if child else None)


def _candidate(req: Any) -> Candidate:
    link = req.link
    name = getattr(req, "name", None)
    if link is None or getattr(req, "editable", False) or link.is_vcs or link.is_existing_dir():
        where = "editable install" if getattr(req, "editable", False) else "local source tree"
        if link is not None and link.is_vcs:
            where = "VCS checkout"
        shown = str(link.url if link is not None else req)
        return Candidate(
            shown,
            "",
            shown,
            origin="local",
            project=name or shown,
            version="",
            note=f"{where}: not a distribution file, nothing to attest",
        )
    download_info = getattr(req, "download_info", None)
    source = getattr(req, "cached_wheel_source_link", None)
    if source is None and download_info is not None and link.is_wheel and link.scheme == "file":
        source_name = Path(_url_path(download_info.url)).name
        if source_name and source_name != link.filename:
            source = download_info  # an ephemeral cache entry: only the recorded origin
    if source is not None:
        # A wheel pip built earlier, from its cache. The attestation is for the sdist it was
        # built from; pip recorded that sdist's URL and sha256 in the cache entry.
        url = str(
            getattr(source, "url_without_fragment", None) or getattr(download_info, "url", "")
        )
        filename = Path(_url_path(url)).name
        sha256 = _archive_sha256(download_info)
        return Candidate(
            filename,
            sha256 or "",
            url,
            advert=STATE.adverts.get(url),
            origin="wheel-cache",
            note="" if sha256 else f"!the cached wheel of {filename} has no recorded sha256",
        )
    path = getattr(req, "local_file_path", None)
    if not path:
        return Candidate(
            link.filename,
            "",
            link.url_without_fragment,
            note="!pip did not download this file before preparing it",
        )
    url = link.url_without_fragment
    return Candidate(
        link.filename,
        sha256_file(Path(path)),
        url,
        advert=STATE.adverts.get(url),
        origin="local" if link.scheme == "file" else "index",
    )


def _is_inert(req: Any) -> bool:
    """A wheel runs no code until it is installed, so its refusal can wait for the gate,
    which then names every refused file at once."""
    link = getattr(req, "link", None)
    return bool(link is not None and link.is_wheel)


def _archive_sha256(download_info: Any) -> str | None:
    # DirectUrl.info became .archive_info in pip 26.1.
    info = getattr(download_info, "archive_info", None)
    if info is None:
        info = getattr(download_info, "info", None)
    hashes = getattr(info, "hashes", None) or {}
    value = hashes.get("sha256")
    return str(value) if value else None


def _url_path(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path)


def _refusal_message(blocking: list[FileResult]) -> str:
    from pip_attest._report import refusal_lines

    return "\n".join(refusal_lines(blocking))
