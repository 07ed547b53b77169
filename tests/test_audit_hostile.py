"""Hostile installed metadata: each case is one clear line, exit 1, no traceback, no hang.

An audit reads what someone else installed (an image, a colleague's venv): every file of a
``.dist-info`` is input from an attacker. Each case below is written into a site-packages
folder by hand and audited with ``--path`` and ``--no-index`` (nothing is fetched: metadata
no installer writes is a finding before any index is asked).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.audit_env import fake_dist
from tests.support.cli import Run

Cli = Callable[..., Run]


def audit_site(cli: Cli, site: Path, *args: str) -> Run:
    started = time.monotonic()
    result = cli("audit", "--path", str(site), "--no-index", *args)
    assert time.monotonic() - started < 30, "the audit must not hang"
    return result


def only_line(result: Run) -> str:
    rows = [r for r in result.err.splitlines() if r.startswith("  ")]
    assert len(rows) == 1, result.err
    return re.sub(r"\s+", " ", rows[0].strip())


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site-packages"
    path.mkdir()
    return path


def test_a_clean_fake_distribution_is_only_missing(cli: Cli, site: Path) -> None:
    """The control: the hand-written distribution below is what an installer writes."""
    fake_dist(site, "fine", "1.0")
    result = audit_site(cli, site)
    assert result.code == 0, result.err
    assert only_line(result) == "missing fine 1.0 no index to look fine 1.0 up on (--no-index)"


@pytest.mark.parametrize(
    "path",
    ["../../../../../../etc/passwd", "../outside.py", "pkg/../../../escape.py"],
)
def test_record_paths_that_escape_the_directory(cli: Cli, site: Path, path: str) -> None:
    record = f"{path},sha256=AAAA,4\nevil-1.0.dist-info/RECORD,,\n".encode()
    fake_dist(site, "evil", "1.0", files={}, record=record)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == (
        f"modified evil 1.0 RECORD lists {path}, outside the environment [also: missing]"
    )


def test_an_absolute_record_path(cli: Cli, site: Path) -> None:
    fake_dist(site, "evil", "1.0", files={}, record=b"/etc/shadow,sha256=AAAA,4\n")
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified evil 1.0 RECORD row 1: the path '/etc/shadow' is absolute"


def test_a_huge_record(cli: Cli, site: Path) -> None:
    info = fake_dist(site, "huge", "1.0")
    with (info / "RECORD").open("r+b") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: no disk used, no time spent
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified huge 1.0 RECORD is larger than 67108864 bytes"


def test_a_record_with_too_many_rows(cli: Cli, site: Path) -> None:
    rows = "".join(f"f{i}.py,,\n" for i in range(500_001)).encode()
    fake_dist(site, "rows", "1.0", files={}, record=rows)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified rows 1.0 RECORD has more than 500000 rows"


@pytest.mark.parametrize(
    ("wheel", "reason"),
    [
        (
            b"Wheel-Version: 1.0\nTag: ../../etc/x\n",
            "WHEEL lists '../../etc/x', which is not a wheel tag",
        ),
        (
            b"Wheel-Version: 1.0\nTag: py3-none-any\x1b[2J\n",
            r"WHEEL lists 'py3-none-any\x1b[2J', which is not a wheel tag",
        ),
        (
            b"Wheel-Version: 1.0\nTag: py3-none-any; rm -rf /\n",
            "WHEEL lists 'py3-none-any; rm -rf /', which is not a wheel tag",
        ),
        (b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n", "WHEEL lists no tags"),
        (
            b"Wheel-Version: 1.0\nTag: py3-none-any\nBuild: $(x)\n",
            "WHEEL's Build '$(x)' is not a build number",
        ),
        (b"\xff\xfeTag: py3-none-any\n", "WHEEL is not UTF-8 (byte 0)"),
    ],
    ids=["path", "escape-sequence", "shell", "no-tags", "build", "not-utf8"],
)
def test_a_wheel_file_with_odd_tags(cli: Cli, site: Path, wheel: bytes, reason: str) -> None:
    fake_dist(site, "odd", "1.0", wheel=wheel)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == f"modified odd 1.0 {reason}"


def test_many_tags(cli: Cli, site: Path) -> None:
    tags = "".join(f"Tag: a-b-{i}\n" for i in range(4097)).encode()
    fake_dist(site, "tags", "1.0", wheel=b"Wheel-Version: 1.0\n" + tags)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified tags 1.0 WHEEL lists more than 4096 tags"


def test_a_record_that_is_a_symbolic_link_loop(cli: Cli, site: Path) -> None:
    info = fake_dist(site, "loop", "1.0")
    (info / "RECORD").unlink()
    (info / "RECORD").symlink_to("RECORD")
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified loop 1.0 RECORD is a symbolic link loop"


def test_an_installed_file_that_is_a_symbolic_link_loop(cli: Cli, site: Path) -> None:
    fake_dist(site, "loop", "1.0")
    (site / "loop.py").unlink()
    (site / "loop.py").symlink_to("loop.py")
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified loop 1.0 loop.py is a symbolic link [also: missing]"


def test_a_dist_info_folder_that_is_a_symbolic_link_loop(cli: Cli, site: Path) -> None:
    (site / "loop-1.0.dist-info").symlink_to("loop-1.0.dist-info")
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == (
        "modified loop 1.0 'loop-1.0.dist-info' is a symbolic link, not the folder an "
        "installer makes"
    )


def test_a_file_reached_through_a_link_out_of_the_environment(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "mod.py").write_text("x = 1\n")
    fake_dist(site, "linked", "1.0", files={"pkg/mod.py": b"x = 1\n"})
    (site / "pkg" / "mod.py").unlink()
    (site / "pkg").rmdir()
    (site / "pkg").symlink_to(outside)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == (
        "modified linked 1.0 pkg/mod.py is reached through a link out of the environment "
        "[also: missing]"
    )


def test_a_metadata_whose_name_differs_from_its_folder(cli: Cli, site: Path) -> None:
    fake_dist(
        site, "requests", "2.32.0", metadata=b"Metadata-Version: 2.1\nName: evil\nVersion: 2.32.0\n"
    )
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == (
        "modified requests 2.32.0 METADATA names 'evil' '2.32.0', but its folder is "
        "'requests-2.32.0.dist-info'"
    )


def test_a_metadata_whose_version_differs_from_its_folder(cli: Cli, site: Path) -> None:
    fake_dist(site, "pkg", "1.0", metadata=b"Metadata-Version: 2.1\nName: pkg\nVersion: 9.9\n")
    result = audit_site(cli, site)
    assert result.code == 1
    assert "METADATA names 'pkg' '9.9', but its folder is 'pkg-1.0.dist-info'" in only_line(result)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (
            b"Metadata-Version: 2.1\nName: caf\xe9\nVersion: 1.0\n",
            "METADATA is not UTF-8 (byte 31)",
        ),
        (b"Metadata-Version: 2.1\nVersion: 1.0\n", "METADATA has no Name"),
        (
            b"Metadata-Version: 2.1\nName: pkg\nVersion: one\n",
            "METADATA's Version 'one' is not a version",
        ),
        (
            b"Metadata-Version: 2.1\nName: pkg\x1b[31m\nVersion: 1.0\n",
            r"METADATA's Name 'pkg\x1b[31m' is not a project name",
        ),
    ],
    ids=["not-utf8", "no-name", "bad-version", "escape-sequence"],
)
def test_unreadable_metadata(cli: Cli, site: Path, metadata: bytes, reason: str) -> None:
    fake_dist(site, "pkg", "1.0", metadata=metadata)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == f"modified pkg 1.0 {reason}"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
@pytest.mark.parametrize("where", ["RECORD", "METADATA", "WHEEL", "direct_url.json", "file"])
def test_a_fifo_never_hangs_the_audit(cli: Cli, site: Path, where: str) -> None:
    info = fake_dist(site, "fifo", "1.0")
    target = site / "fifo.py" if where == "file" else info / where
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    result = audit_site(cli, site)
    assert result.code == 1
    if where == "file":
        expected = "fifo.py is not a regular file [also: missing]"
    else:
        expected = f"{where} is not a regular file"
    assert only_line(result) == f"modified fifo 1.0 {expected}"


def test_a_record_that_lists_an_unreadable_folder_as_a_file(cli: Cli, site: Path) -> None:
    record = b"pkg,sha256=AAAA,4\nfolder-1.0.dist-info/RECORD,,\n"
    fake_dist(site, "folder", "1.0", files={"pkg/x.py": b""}, record=record)
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified folder 1.0 pkg is a folder [also: missing]"


def test_record_rows_that_are_not_record_rows(cli: Cli, site: Path) -> None:
    cases = {
        "md5": (b"x.py,md5=AAAA,4\n", "RECORD row 1: hash 'md5=AAAA' is not sha256 or better"),
        "fields": (b"x.py,sha256=AAAA,4,extra\n", "RECORD row 1 has 4 fields, not 3"),
        "size": (b"x.py,sha256=AAAA,-4\n", "RECORD row 1: size '-4' is not a number"),
        "twice": (b"x.py,,\nx.py,,\n", "RECORD lists 'x.py' twice"),
        "nul": (b"x\x00.py,,\n", "RECORD row 1: the path 'x\\x00.py' holds control characters"),
    }
    for name, (record, _) in cases.items():
        fake_dist(site, f"rec-{name}", "1.0", files={}, record=record)
    result = audit_site(cli, site)
    assert result.code == 1
    for name, (_, reason) in cases.items():
        assert f"rec-{name} 1.0  {reason}" in re.sub(r"  +", "  ", result.err), result.err


def test_a_direct_url_that_is_not_json(cli: Cli, site: Path) -> None:
    info = fake_dist(site, "direct", "1.0")
    (info / "direct_url.json").write_bytes(b"{not json")
    result = audit_site(cli, site)
    assert result.code == 1
    assert only_line(result) == "modified direct 1.0 direct_url.json is not JSON"


def test_a_file_changed_and_a_file_deleted(cli: Cli, site: Path) -> None:
    fake_dist(site, "two", "1.0", files={"two/a.py": b"a = 1\n", "two/b.py": b"b = 1\n"})
    (site / "two" / "a.py").write_bytes(b"a = 2\n")
    (site / "two" / "b.py").unlink()
    result = audit_site(cli, site, "--format", "json")
    assert result.code == 1
    assert only_line(result) == (
        "modified two 1.0 two/a.py was changed after install (RECORD's hash differs) (and 1 more) "
        "[also: missing]"
    )


def test_a_missing_record_from_pip_is_modified_but_a_system_package_is_not_from_index(
    cli: Cli, site: Path
) -> None:
    pip_info = fake_dist(site, "norecord", "1.0")
    (pip_info / "RECORD").unlink()
    apt_info = fake_dist(site, "fromapt", "1.0")
    (apt_info / "RECORD").unlink()
    (apt_info / "INSTALLER").write_text("debian\n")
    result = audit_site(cli, site)
    assert result.code == 1
    text = re.sub(r"\s+", " ", result.err)
    assert "modified norecord 1.0 RECORD is missing" in text
    assert "not-from-index fromapt 1.0 installed by 'debian', which keeps no RECORD" in text


def test_escape_sequences_never_reach_the_terminal(cli: Cli, site: Path) -> None:
    fake_dist(site, "esc", "1.0", files={"esc.py": b"x\n"}, record=b"esc\x1b[2J.py,,\n")
    result = audit_site(cli, site)
    assert "\x1b" not in result.err
    assert result.code == 1


def test_a_legacy_egg_info_is_not_from_index(cli: Cli, site: Path) -> None:
    egg = site / "old-1.0.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: old\nVersion: 1.0\n")
    result = audit_site(cli, site)
    assert result.code == 0, result.err
    assert only_line(result) == (
        "not-from-index old 1.0 installed as .egg-info (setup.py, or a system package manager): "
        "no RECORD to bind it to any file"
    )


def test_an_extension_module_another_distribution_lists_shadows_a_module(
    cli: Cli, site: Path
) -> None:
    """Python tries extension modules before source: fine/mod.cpython-*.so, listed in the
    RECORD of another (unattested) distribution, is what 'import fine.mod' loads."""
    import importlib.machinery

    fake_dist(site, "fine", "1.0", files={"fine/__init__.py": b"", "fine/mod.py": b"x = 1\n"})
    ext = "fine/mod" + importlib.machinery.EXTENSION_SUFFIXES[0]
    fake_dist(site, "other", "1.0", files={ext: b"\x7fELF"})

    result = audit_site(cli, site)

    assert result.code == 1, result.err
    assert re.search(
        rf"modified\s+fine 1.0\s+{re.escape(str(site / ext))} is imported instead of "
        r"fine/mod.py, and fine's RECORD does not list it",
        result.err,
    ), result.err
    assert re.search(r"missing\s+other 1.0", result.err), result.err


def test_a_pycache_that_cannot_be_listed_is_not_clean(cli: Cli, site: Path) -> None:
    """Python would still load a .pyc from it by name: unchecked bytecode is a finding."""
    fake_dist(site, "hidden", "1.0")
    (site / "__pycache__").symlink_to("__pycache__")  # listing it fails (ELOOP)
    result = audit_site(cli, site)
    assert result.code == 1, result.err
    assert only_line(result).startswith(
        "modified hidden 1.0 __pycache__ cannot be listed (Too many levels of symbolic links): "
        "the bytecode Python would load from it cannot be checked"
    )
