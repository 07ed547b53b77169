"""The ``PIP_ATTEST_ENFORCE=1`` hook, loaded from ``pip_attest_hook.pth``.

The ``.pth`` line runs in every interpreter start. With the variable unset it does nothing
but one ``os.environ`` lookup (``os`` is already imported by then) and imports nothing.
With it set, it imports this module, which adds a finder to ``sys.meta_path`` that acts
right after pip loads three of its modules: ``cli.main_parser`` (``--python`` is refused
before pip can re-run itself elsewhere), ``operations.prepare`` (the seam is installed) and
``commands.install`` (a dry run is noted, to be judged). Any failure stops the process with
exit code 2: enforcement that cannot be guaranteed must not look like enforcement. If this
module cannot even be imported, the ``.pth`` line itself puts a finder in place that stops
pip the same way.

The ``.pth`` runs more than once per interpreter in a venv (CPython's ``site`` processes
the venv's site-packages twice, and ``site.addsitedir`` can run it again), so
:func:`activate` is idempotent.

pip 26.1+ refuses every new import once it starts installing files
(``pip._internal.commands.install._prevent_further_imports``, an audit hook plus a
``sys.meta_path`` blocker, kept until the process exits). Everything pip-attest runs at or
after that point is imported in :func:`_on_loaded`, when pip imports its prepare module.

The subprocess pips that install build dependencies inherit the environment, and so the
hook (except under ``--use-feature=venv-isolation``, which is refused).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

TARGET = "pip._internal.operations.prepare"
MAIN_PARSER = "pip._internal.cli.main_parser"
INSTALL_COMMAND = "pip._internal.commands.install"
REQ_COMMAND = "pip._internal.cli.req_command"
EXIT_UNSUPPORTED = 2
_REFUSED = "PIP_ATTEST_ENFORCE is set, so pip will not run unguarded"
# The same words as the .pth line's own message, for when this module cannot load at all.
_UNGUARDED = (
    "PIP_ATTEST_ENFORCE is set, so pip will not run unguarded. Repair with: "
    "PIP_ATTEST_ENFORCE=0 python -m pip install --force-reinstall pip-attest"
)


def _fail(message: str) -> NoReturn:
    """Stop the process with one line on stderr: pip must not go on unguarded."""
    sys.stderr.write(f"ERROR: pip-attest: {' '.join(message.split())}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_UNSUPPORTED)


def _on_main_parser(module: ModuleType) -> None:
    try:
        from pip_attest._pip import _guard

        _guard.patch_main_parser(module, _fail)
    except Exception as err:
        _fail(f"the enforcement hook failed to load ({type(err).__name__}: {err}); {_UNGUARDED}")


def _on_install_command(module: ModuleType) -> None:
    try:
        from pip_attest._pip import _seam

        _seam.patch_install_command(module)
    except Exception as err:
        _fail(f"the enforcement hook failed to load ({type(err).__name__}: {err}); {_UNGUARDED}")


def _on_req_command(module: ModuleType) -> None:
    try:
        from pip_attest._pip import _pylock

        _pylock.patch_lock_reader(module)
    except Exception as err:
        _fail(f"the enforcement hook failed to load ({type(err).__name__}: {err}); {_UNGUARDED}")


def _on_loaded(module: ModuleType) -> None:
    try:
        import atexit

        # Import what the gate and the report need now: pip 26.1+ blocks imports once it
        # starts installing.
        from pip_attest._config import Settings
        from pip_attest._pip import _seam
        from pip_attest._report import render_text

        settings = Settings.from_env()
        _seam.refuse_unguardable(sys.argv[1:], os.environ)
        # A process that inherited a results file is a build-dependency subprocess: it
        # reports to its parent instead of printing.
        top = settings.results_file is None
        if top:  # its build-dependency subprocesses judge by the same policy file
            os.environ.update(settings.exports())

        def show(records: list[dict[str, Any]]) -> None:
            sys.stderr.write(render_text(records, installed=None))
            sys.stderr.flush()

        _seam.install(settings, on_gate=show if top else None)
        if top and _seam.STATE.results_file is not None:
            # The top process created the results file; nobody else removes it.
            atexit.register(_remove, str(_seam.STATE.results_file))
    except Exception as err:
        if type(err).__module__.startswith("pip_attest"):  # our own one-line errors
            _fail(f"{err} ({_REFUSED})")
        _fail(f"the enforcement hook failed to load ({type(err).__name__}: {err}); {_UNGUARDED}")


def _remove(path: str) -> None:
    """Runs at exit, when pip 26.1+ still blocks imports: it imports nothing."""
    with contextlib.suppress(OSError):
        os.unlink(path)


_TARGETS: dict[str, Callable[[ModuleType], None]] = {
    MAIN_PARSER: _on_main_parser,
    TARGET: _on_loaded,
    REQ_COMMAND: _on_req_command,
    INSTALL_COMMAND: _on_install_command,
}


class _PostImportFinder:
    """A post-import hook for a few of pip's modules: each runs its callback once the
    module has executed. Deliberately not an ``importlib.abc`` subclass: importing
    ``importlib.abc`` alone costs more than all of this hook."""

    def __init__(self, targets: dict[str, Callable[[ModuleType], None]]) -> None:
        self._targets = dict(targets)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        callback = self._targets.pop(fullname, None)
        if callback is None:
            return None
        import importlib.util

        if not self._targets and self in sys.meta_path:
            sys.meta_path.remove(self)
        # Asks every finder again; this one no longer answers for ``fullname``.
        spec = importlib.util.find_spec(fullname)
        loader: Any = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            _fail(f"cannot find {fullname} to guard it ({_REFUSED})")
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            callback(module)

        loader.exec_module = exec_module
        return spec


_ACTIVE = False


def activate() -> None:
    """Idempotent: the ``.pth`` runs twice in a venv, and again on ``site.addsitedir``."""
    global _ACTIVE
    if _ACTIVE:
        return
    _ACTIVE = True
    waiting = {}
    for name, callback in _TARGETS.items():
        module = sys.modules.get(name)
        if module is not None:
            callback(module)
        else:
            waiting[name] = callback
    if waiting:
        sys.meta_path.insert(0, _PostImportFinder(waiting))
