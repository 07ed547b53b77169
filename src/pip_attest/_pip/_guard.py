"""Refusals that must happen before pip goes anywhere pip-attest cannot follow.

Standard library only: the enforcement hook applies these while pip is still parsing its
command line, and must not load the rest of pip-attest for a ``pip list``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

_MARK = "__pip_attest_wrapped__"


def python_refusal(python: str) -> str:
    """Why ``pip --python`` is refused: pip would re-run itself in another interpreter,
    where nothing of this process guards it."""
    shown = " ".join(str(python).split())[:200]
    return (
        f"pip's --python ({shown!r}; also set by PIP_PYTHON or 'python =' in pip.conf) runs "
        "pip again in another interpreter, outside pip-attest's guard; run pip-attest in that "
        f"interpreter instead ({shown} -m pip_attest install ...), or unset it"
    )


def patch_main_parser(module: ModuleType, fail: Callable[[str], NoReturn]) -> None:
    """pip calls ``identify_python_interpreter`` only when ``--python`` (from the command
    line, the environment or a config file) is about to make it re-run itself elsewhere
    (pip/_internal/cli/main_parser.py, every release since 22.3): stop there."""
    original: Any = getattr(module, "identify_python_interpreter", None)
    if original is None or getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def identify_python_interpreter(python: str) -> str | None:
        fail(python_refusal(python))

    setattr(identify_python_interpreter, _MARK, True)
    setattr(module, "identify_python_interpreter", identify_python_interpreter)  # noqa: B010
