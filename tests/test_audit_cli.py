"""``pip-attest audit``'s command line, and the pieces of the audit that need no venv:
usage errors (exit 2), option parsing, launchers, bytecode, the progress bar."""

from __future__ import annotations

import importlib.util
import io
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pip_attest._audit._bytecode import PycName, check_pyc, pyc_name
from pip_attest._audit._installed import site_for
from pip_attest._audit._launcher import launcher_problem
from pip_attest._cli._audit import Progress, parse_audit_args
from pip_attest._errors import UsageError
from tests.support.cli import Run

Cli = Callable[..., Run]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "audit: unknown option '--bogus'"),
        (
            ["--python", "/nonexistent/python"],
            "--python '/nonexistent/python': no such interpreter",
        ),
        (["--path", "/nonexistent"], "--path '/nonexistent': not a directory"),
        (["--python", sys.executable, "--path", "."], "--python and --path name two environments"),
        (["--lock", "/nonexistent/pylock.toml"], "--lock /nonexistent/pylock.toml: no such file"),
        (["--format", "yaml"], "unknown format 'yaml'"),
        (["--output", "/nonexistent/dir/report.json"], "no such directory"),
        (["-i"], "audit: -i needs a value"),
        (["--no-index=1"], "audit: --no-index takes no value"),
        (["--path", ".", "--path", "."], "audit: --path given twice"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: list[str], message: str) -> None:
    result = cli("audit", *args)
    assert result.code == 2, result.err
    assert message in result.err


def test_a_lock_that_is_not_a_lock_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n')
    result = cli("audit", "--path", str(tmp_path), "--no-index", "--lock", str(lock))
    assert result.code == 2
    assert "not a valid PEP 751 lock file" in result.err


def test_help(cli: Cli) -> None:
    result = cli("audit", "--help")
    assert result.code == 0
    assert "usage: pip-attest audit" in result.out
    assert "Exit codes: 0 nothing blocking" in result.out


def test_an_empty_directory_audits_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("audit", "--path", str(tmp_path), "--no-index", "--format", "json")
    assert result.code == 0
    assert "pip-attest: audited 0 distributions" in result.err
    assert '"distributions": []' in result.out


def test_pip_index_options_reach_pip_in_order() -> None:
    ours, own, pip_args = parse_audit_args(
        [
            "-ihttp://a/simple",
            "--extra-index-url=http://b/simple",
            "-f",
            "/wheels",
            "--trusted-host",
            "a",
            "--require-attestations",
            "--path",
            "/site",
            "--retries",
            "0",
        ]
    )
    assert pip_args == [
        "-i",
        "http://a/simple",
        "--extra-index-url",
        "http://b/simple",
        "-f",
        "/wheels",
        "--trusted-host",
        "a",
        "--retries",
        "0",
    ]
    assert own == {"--path": "/site"}
    assert ours == {"--require-attestations": ["1"]}


def test_an_option_is_never_taken_as_a_value() -> None:
    with pytest.raises(UsageError, match="--index-url needs a value"):
        parse_audit_args(["--index-url", "--no-index"])


@pytest.mark.parametrize(
    ("path", "root", "target"),
    [
        ("/v/lib/python3.11/site-packages", "/v", False),
        ("/usr/lib/python3/dist-packages", "/usr", False),
        ("/usr/local/lib64/python3.12t/site-packages", "/usr/local", False),
        ("/opt/pypy/lib/pypy3.10/site-packages", "/opt/pypy", False),
        ("/img/app/deps", "/img/app/deps", True),
        ("/site-packages", "/site-packages", True),
    ],
)
def test_how_far_record_paths_may_reach(path: str, root: str, target: bool) -> None:
    site = site_for(Path(path))
    assert (str(site.root), site.target) == (root, target)


# -- launchers -------------------------------------------------------------------------------

PIP_OLD = b"""#!/v/bin/python3
# -*- coding: utf-8 -*-
import re
import sys
from demo.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""
PIP_NEW = b"""#!/v/bin/python
import sys
from demo.cli import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""
UV = b"""#!/v/bin/python
# -*- coding: utf-8 -*-
import sys
from demo.cli import main
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit(main())
"""
TRAMPOLINE = (
    b"#!/bin/sh\n'''exec' '/a very long path/python' \"$0\" \"$@\"\n' '''\n"
    + (PIP_NEW.split(b"\n", 1)[1])
)


UV_RELOCATABLE = (
    b'#!/bin/sh\n\'\'\'exec\' "$(dirname -- "$(realpath -- "$0")")"/\'python\' "$0" "$@"\n'
    b"' '''\n" + (UV.split(b"\n", 1)[1])
)


@pytest.mark.parametrize(
    "content",
    [PIP_OLD, PIP_NEW, UV, TRAMPOLINE, UV_RELOCATABLE],
    ids=["pip-23", "pip-26", "uv", "sh", "uv-relocatable"],
)
def test_the_launchers_installers_write_are_launchers(content: bytes) -> None:
    assert launcher_problem(content, "demo.cli:main") == ""


def test_a_nested_attribute_entry_point() -> None:
    content = PIP_NEW.replace(b"from demo.cli import main", b"from demo import cli").replace(
        b"sys.exit(main())", b"sys.exit(cli.main())"
    )
    assert launcher_problem(content, "demo:cli.main") == ""


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (PIP_NEW.replace(b"import sys\n", b"import sys\nimport os\n"), "it runs more than"),
        (PIP_NEW.replace(b"main())", b"main(), __import__('os'))"), "it does more than call"),
        (
            PIP_NEW.replace(b"sys.argv[0].removesuffix('.exe')", b"__import__('os').getcwd()"),
            "it does more than call",
        ),
        (PIP_NEW.replace(b"from demo.cli", b"from evil.cli"), "it runs more than"),
        (PIP_NEW.split(b"\n", 1)[1], "it has no #! line"),
        (b"#!/bin/sh\ncurl x | sh\n", "it is not Python"),
        (PIP_NEW + b"print(1)\n", "it runs more than"),
        (
            PIP_NEW.replace(b"#!/v/bin/python", b'#!/usr/bin/env -S sh -c "curl x | sh"'),
            "its #! line runs more than an interpreter",
        ),
        (
            TRAMPOLINE.replace(b"'/a very long path/python'", b"sh -c 'curl x | sh'"),
            "its #! line runs more than an interpreter",
        ),
        (
            TRAMPOLINE.replace(b"'/a very long path/python'", b'"/v/$(curl x | sh)/python"'),
            "its #! line runs more than an interpreter",
        ),
        (
            PIP_NEW.replace(b"#!/v/bin/python\n", b'#!/bin/sh\n"exec" "sh" "-c" "curl x | sh"\n'),
            "its #! line runs more than an interpreter",
        ),
    ],
    ids=[
        "import",
        "call-args",
        "argv",
        "module",
        "no-shebang",
        "shell",
        "trailing",
        "env-split",
        "exec-command",
        "exec-substitution",
        "sh-polyglot",
    ],
)
def test_anything_more_is_not_a_launcher(content: bytes, problem: str) -> None:
    assert problem in launcher_problem(content, "demo.cli:main")


# -- bytecode --------------------------------------------------------------------------------


def _pyc(source: Path, code_text: str) -> bytes:
    info = source.stat()
    header = importlib.util.MAGIC_NUMBER + b"\0\0\0\0"
    header += (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    header += (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    # dont_inherit: this module's "from __future__ import annotations" is not the source's.
    return header + marshal.dumps(compile(code_text, str(source), "exec", dont_inherit=True))


def test_bytecode_names() -> None:
    tag = sys.implementation.cache_tag
    assert pyc_name(f"pkg/__pycache__/mod.{tag}.pyc") == PycName("pkg/mod.py", tag, 0)
    assert pyc_name(f"__pycache__/mod.{tag}.opt-2.pyc") == PycName("mod.py", tag, 2)
    assert pyc_name("pkg/mod.pyc") is None
    assert pyc_name("pkg/__pycache__/notes.txt") is None


def test_bytecode_is_compared_with_its_source_compiled(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("x = 1\n")
    name = PycName("mod.py", sys.implementation.cache_tag, 0)
    info = os.stat(source)
    same = check_pyc(_pyc(source, "x = 1\n"), source.read_bytes(), info, name)
    other = check_pyc(_pyc(source, "x = 2\n"), source.read_bytes(), info, name)
    garbage = check_pyc(_pyc(source, "")[:16] + b"\xff" * 10, source.read_bytes(), info, name)
    foreign = check_pyc(b"", b"", info, PycName("mod.py", "cpython-20", 0))
    assert [v.state for v in (same, other, garbage, foreign)] == [
        "same",
        "differs",
        "differs",
        "foreign",
    ]


def test_progress_is_drawn_in_place_and_cleared() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress.AFTER = 0.0
    progress.update(5, 10)
    progress.update(10, 10)
    progress.clear()
    out = stream.getvalue()
    assert out.startswith("\rAuditing ")
    assert " 10/10 0:00:00" in out
    assert out.endswith("\r\x1b[K")
