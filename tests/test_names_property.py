"""Property: pip-attest reads a distribution file's name exactly as pip does (issue 16 §1).

A verdict is about the project and version pip installs. For every spelling of a project
P's file names that pip itself takes as P's (case, ``-``/``_``/``.`` runs, every archive
extension in pip's list, post-release dashes, build tags, epochs, local versions),
``pip_attest._names.read_for`` must give pip's version and no problem, and a pin or a
first-seen record on P must then apply: a missing attestation is a blocking downgrade.

pip decides, not a model of it: acceptance is the running pip's own ``LinkEvaluator`` (the
code that picks files from index and find-links pages), and for names of any shape its
``splitext``, ``Wheel`` and ``_extract_version_from_fragment``. pip before 25.3 read wheel
names with a looser pattern; that ``Wheel`` class is loaded from pip 23.3.2's own wheel in
the test wheelhouse. No pip subprocess runs.

Examples are bounded and not stored (``database=None``).
"""

from __future__ import annotations

import tempfile
import types
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version
from pip._internal.exceptions import InvalidWheelFilename
from pip._internal.index.package_finder import (
    LinkEvaluator,
    LinkType,
    _extract_version_from_fragment,
)
from pip._internal.models.link import Link
from pip._internal.models.target_python import TargetPython
from pip._internal.models.wheel import Wheel
from pip._internal.utils.filetypes import ARCHIVE_EXTENSIONS, WHEEL_EXTENSION
from pip._internal.utils.misc import splitext
from pip._vendor.packaging.utils import canonicalize_name as pip_canonical_name
from pip._vendor.packaging.version import InvalidVersion as PipInvalidVersion
from pip._vendor.packaging.version import Version as PipVersion

from pip_attest import _config as cfg
from pip_attest import _env
from pip_attest._identity import parse_identity
from pip_attest._model import Status
from pip_attest._names import read_for
from pip_attest._pip._version import STRICT_WHEEL_NAMES
from pip_attest._policy import Evidence, EvidenceKind, Policy
from pip_attest._store import FirstSeenStore
from tests.support.venvs import PIP_OLDEST

BOUNDED = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# The running pip reads wheel names strictly from 25.3 on.
RUNNING_PIP_IS_LEGACY = Version(PipVersion(__import__("pip").__version__).public) < (
    STRICT_WHEEL_NAMES
)
MISSING = Evidence(EvidenceKind.MISSING, reason="the index serves no provenance for this file")

# -- what pip makes of a name ---------------------------------------------------------------


def _evaluator(project: str) -> LinkEvaluator:
    return LinkEvaluator(
        project_name=project,
        canonical_name=pip_canonical_name(project),
        formats=frozenset({"binary", "source"}),
        target_python=TargetPython(),
        allow_yanked=True,
        ignore_requires_python=True,
    )


def pip_takes(filename: str, project: str) -> str | None:
    """The version pip's index reader gives ``filename`` on ``project``'s page, or None when
    it would not take the file (pip drops candidates whose version does not parse)."""
    link = Link(f"https://index.invalid/files/{quote(filename)}")
    kind, detail = _evaluator(project).evaluate_link(link)
    if kind is not LinkType.candidate:
        return None
    try:
        return str(PipVersion(detail))
    except PipInvalidVersion:
        return None


def pip_reads(filename: str, project: str, wheel_cls: Any = Wheel) -> str | None:
    """The version pip's own name functions give ``filename`` as a file of ``project``."""
    stem, ext = splitext(filename)
    if ext not in ARCHIVE_EXTENSIONS:
        return None
    if ext == WHEEL_EXTENSION:
        try:
            wheel = wheel_cls(filename)
        except InvalidWheelFilename:
            return None
        if pip_canonical_name(wheel.name) != pip_canonical_name(project):
            return None
        version: str | None = wheel.version
    else:
        version = _extract_version_from_fragment(stem, pip_canonical_name(project))
    if not version:
        return None
    try:
        return str(PipVersion(version))
    except PipInvalidVersion:
        return None


def same_version(a: str | None, b: str | None) -> bool:
    try:
        return a is not None and b is not None and Version(a) == Version(b)
    except InvalidVersion:
        return False


# -- spellings ------------------------------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
name_parts = st.lists(st.text(ALNUM, min_size=1, max_size=5), min_size=1, max_size=3)


@st.composite
def spelled(draw: st.DrawFn, parts: list[str], separators: list[str]) -> str:
    """``parts`` in mixed case, joined by runs of ``separators``."""
    out = []
    for i, part in enumerate(parts):
        if i:
            out.append(draw(st.text("".join(separators), min_size=1, max_size=2)))
        upper = draw(st.lists(st.booleans(), min_size=len(part), max_size=len(part)))
        out.append("".join(c.upper() if up else c for c, up in zip(part, upper, strict=True)))
    return "".join(out)


def _cased(words: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(words).flatmap(lambda w: st.sampled_from([w, w.upper(), w.capitalize()]))


@st.composite
def versions(draw: st.DrawFn, *, dashes: bool) -> str:
    """A PEP 440 version in one of its many spellings (``dashes``: may contain ``-``, as an
    sdist's may and a wheel's may not)."""
    seps = ["", ".", "_", "-"] if dashes else ["", ".", "_"]
    sep = st.sampled_from(seps)
    number = st.integers(0, 30).map(str) | st.sampled_from(["00", "07", "2024"])
    out = draw(st.sampled_from(["", "", "v", "V"]))
    if draw(st.booleans()) and not draw(st.booleans()):
        out += draw(st.integers(1, 3).map(str)) + "!"
    out += ".".join(draw(st.lists(number, min_size=1, max_size=4)))
    if draw(st.booleans()):
        out += draw(sep) + draw(_cased(["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"]))
        out += draw(st.sampled_from(["", *seps])) + draw(number) if draw(st.booleans()) else ""
    post = draw(st.sampled_from(["none", "implicit", "spelled"]))
    if post == "implicit" and dashes:
        out += "-" + draw(number)
    elif post == "spelled":
        out += draw(sep) + draw(_cased(["post", "rev", "r"])) + draw(st.sampled_from(["", *seps]))
        out += draw(number)
    if draw(st.booleans()):
        out += draw(sep) + draw(_cased(["dev"])) + draw(st.sampled_from(["", draw(number)]))
    if draw(st.booleans()):
        local = draw(st.lists(st.text(ALNUM, min_size=1, max_size=4), min_size=1, max_size=2))
        out += "+" + draw(st.sampled_from([".", "_"] + (["-"] if dashes else []))).join(local)
    return out


SDIST_EXTENSIONS = [e for e in ARCHIVE_EXTENSIONS if e != WHEEL_EXTENSION]
TAGS = ["py3-none-any", "py2.py3-none-any", "py3-none-any.manylinux1_x86_64"]


@st.composite
def accepted_files(draw: st.DrawFn, *, legacy_wheel_cls: Any = None) -> tuple[str, str]:
    """(project, file name) where the name is one of pip's spellings for that project."""
    parts = draw(name_parts)
    project = "-".join(parts)
    if draw(st.booleans()):
        name = draw(spelled(parts, ["-", "_", "."]))
        filename = f"{name}-{draw(versions(dashes=True))}{draw(st.sampled_from(SDIST_EXTENSIONS))}"
    else:
        name = draw(spelled(parts, ["_", "."]))
        build = draw(st.sampled_from(["", "-1", "-2b", "-07"]))
        version = draw(versions(dashes=False))
        filename = f"{name}-{version}{build}-{draw(st.sampled_from(TAGS))}.whl"
    return project, filename


# -- the policy that must apply -------------------------------------------------------------


def _judge(project: str, pin_key: str | None, record_version: str | None, version: str) -> Any:
    with tempfile.TemporaryDirectory() as store:
        env = {_env.POLICY: "none", _env.FIRST_SEEN_DIR: store}
        identity = f"github:example/{project}/release.yml"
        if pin_key is not None:
            env[_env.PUBLISHER] = f"{pin_key}={identity}"
        if record_version is not None:
            FirstSeenStore(Path(store)).add(
                project, record_version, [parse_identity(identity)], "first-use"
            )
        return Policy(cfg.Settings.from_env(env)).judge(project, MISSING, version)


def assert_pin_and_record_apply(project: str, filename: str, version: str, pin_key: str) -> None:
    """With ``version`` as pip-attest reads it: a pin (spelled as in the file name) and a
    first-seen record from that very version both make a missing attestation a blocking
    downgrade."""
    for pin, record in ((pin_key, None), (None, version)):
        verdict = _judge(project, pin, record, version)
        assert (verdict.status, verdict.blocking) == (Status.DOWNGRADE, True), (filename, verdict)


# -- the properties -------------------------------------------------------------------------


@BOUNDED
@given(accepted_files())
@example(("abi3info", "abi3info-2024.10.9.tgz"))
@example(("abi3info", "abi3info-2024.10.9.tar"))
@example(("abi3info", "abi3info-2024.10.9.tar.bz2"))
@example(("abi3info", "abi3info-2024.10.9.tar.xz"))
@example(("abi3info", "abi3info-2024.10.9-1.tar.gz"))
@example(("abi3info", "ABI3INFO-2024.10.9.TBZ".lower()))
@example(("foo-bar", "Foo__Bar.-1.0.post1.tar.lzma"))
def test_every_spelling_pip_takes_for_p_is_read_as_pip_reads_it(case: tuple[str, str]) -> None:
    project, filename = case
    expected = pip_takes(filename, project)
    assume(expected is not None)
    event("wheel" if filename.endswith(WHEEL_EXTENSION) else splitext(filename)[1])

    found, problem = read_for(filename, project, legacy_wheels=RUNNING_PIP_IS_LEGACY)

    assert problem == "", (filename, project, expected)
    assert same_version(found, expected), (filename, project, found, expected)
    assert found is not None
    name_in_file = filename.split("-")[0] if filename.endswith(".whl") else project.upper()
    assert_pin_and_record_apply(project, filename, found, name_in_file)


@BOUNDED
@given(
    project=st.text(ALNUM + "-", min_size=1, max_size=8).filter(
        lambda s: s[0] != "-" and s[-1] != "-" and "--" not in s
    ),
    prefix=st.sampled_from(["", "", "", "x", "evil-", "Evil_"]),
    name_case=st.booleans(),
    joint=st.sampled_from(["-", "-", "-", "-"]) | st.text("-_.", max_size=2),
    tail=versions(dashes=True) | st.text("abcvVpostdevrcAB0123456789._-+!", max_size=20),
    tags=st.sampled_from(["", "-py3-none-any", "-1-py3-none-any", "-py3-none"]),
    ext=st.sampled_from(ARCHIVE_EXTENSIONS)
    | st.sampled_from([".TGZ", ".Tar.gz", ".egg", ".exe", ".gz", ""]),
)
def test_read_for_agrees_with_pips_own_functions_on_any_name(
    project: str, prefix: str, name_case: bool, joint: str, tail: str, tags: str, ext: str
) -> None:
    name = project.replace("-", "_")
    filename = f"{prefix}{name.upper() if name_case else name}{joint}{tail}{tags}{ext}"
    expected = pip_reads(filename, project)
    event("pip refuses it" if expected is None else "pip takes it")

    found, problem = read_for(filename, project, legacy_wheels=RUNNING_PIP_IS_LEGACY)

    if expected is None:
        assert found is None and problem, (filename, project, found)
    else:
        assert problem == "" and same_version(found, expected), (filename, found, expected)


def _pip_wheel_class(wheelhouse: Path, version: str) -> Any:
    """pip ``version``'s own ``Wheel`` class, from its wheel in the wheelhouse: its module
    needs only what every pip still has (``pip._vendor.packaging.tags``, ``pip._internal
    .exceptions``)."""
    with zipfile.ZipFile(wheelhouse / f"pip-{version}-py3-none-any.whl") as zf:
        source = zf.read("pip/_internal/models/wheel.py").decode()
    module = types.ModuleType(f"pip_{version.replace('.', '_')}_wheel")
    exec(compile(source, f"pip-{version}/pip/_internal/models/wheel.py", "exec"), module.__dict__)  # noqa: S102
    return module.Wheel


@pytest.fixture(scope="module")
def legacy_wheel(wheelhouse: Path) -> Any:
    return _pip_wheel_class(wheelhouse, PIP_OLDEST)


@st.composite
def legacy_wheel_names(draw: st.DrawFn) -> tuple[str, str]:
    """Wheel names as pip before 25.3 read them: ``_`` for ``-`` in versions, loose names."""
    parts = draw(name_parts)
    name = draw(spelled(parts, ["_", ".", "__"]))
    version = draw(versions(dashes=True)).replace("-", draw(st.sampled_from(["_", "-", "__"])))
    build = draw(st.sampled_from(["", "-1", "-1_x"]))
    return "-".join(parts), f"{name}-{version}{build}-{draw(st.sampled_from(TAGS))}.whl"


@BOUNDED
@given(case=legacy_wheel_names())
@example(case=("abi3info", "abi3info-2024.10.9_1-py3-none-any.whl"))
@example(case=("abi3info", "abi3info-2024.10.9-1-py3-none-any.whl"))
@example(case=("abi3info", "abi3info-v2024_10_9-py3-none-any.whl"))
def test_legacy_wheel_names_read_as_pip_23_reads_them(
    legacy_wheel: Any, case: tuple[str, str]
) -> None:
    project, filename = case
    expected = pip_reads(filename, project, wheel_cls=legacy_wheel)
    event("pip 23.3 refuses it" if expected is None else "pip 23.3 takes it")

    found, problem = read_for(filename, project, legacy_wheels=True)

    if expected is None:
        # pip 23.3 never takes it as this project's (or only under a non-PEP 440 version,
        # its LegacyVersion): pip-attest must not take it either, which blocks it.
        assert found is None and problem, (filename, project, found)
    else:
        assert problem == "" and same_version(found, expected), (filename, found, expected)
        assert_pin_and_record_apply(project, filename, str(found), project)
