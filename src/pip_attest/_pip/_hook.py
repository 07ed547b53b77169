"""The ``PIP_ATTEST_ENFORCE=1`` hook, loaded from ``pip_attest_hook.pth``.

The ``.pth`` line runs in every interpreter start. With the variable unset it does nothing
but one ``os.environ`` lookup (``os`` is already imported by then) and imports nothing.
With it set, it imports this module, which adds a one-shot finder to ``sys.meta_path``:
when pip imports ``pip._internal.operations.prepare``, the finder lets the import finish and
then installs the seam. Any failure stops the process with exit code 2: enforcement that
cannot be guaranteed must not look like enforcement.

The subprocess pips that install build dependencies inherit the environment, and so the
hook (DESIGN.md §3).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

TARGET = "pip._internal.operations.prepare"
EXIT_UNSUPPORTED = 2


def _fail(message: str) -> None:
    sys.stderr.write(f"ERROR: pip-attest: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_UNSUPPORTED)


def _on_loaded(module: ModuleType) -> None:
    try:
        import os

        # Import what reporting needs now: pip 26.1+ blocks imports once installing starts.
        import pip_attest._report  # noqa: F401
        from pip_attest._config import Settings
        from pip_attest._pip import _seam

        settings = Settings.from_env()
        _seam.refuse_unguardable(sys.argv[1:], os.environ)
        # A process that inherited a results file is a build-dependency subprocess: it
        # reports to its parent instead of printing.
        _seam.install(settings, report_at_gate=settings.results_file is None)
    except Exception as err:
        if type(err).__module__.startswith("pip_attest"):  # our own one-line errors
            _fail(f"{err} (PIP_ATTEST_ENFORCE is set, so pip will not run unguarded)")
        _fail(
            f"the enforcement hook failed to load ({type(err).__name__}: {err}); "
            "PIP_ATTEST_ENFORCE is set, so pip will not run unguarded"
        )


class _PrepareFinder:
    """A post-import hook for exactly one module. Deliberately not an ``importlib.abc``
    subclass: importing ``importlib.abc`` alone costs about 14 ms."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != TARGET:
            return None
        import importlib.util

        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        loader: Any = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            _fail(f"cannot find {TARGET} to guard it")
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _on_loaded(module)

        loader.exec_module = exec_module
        return spec


_ACTIVE = False


def activate() -> None:
    """Idempotent: the ``.pth`` can run twice in one interpreter (venvs with system site)."""
    global _ACTIVE
    if _ACTIVE:
        return
    _ACTIVE = True
    module = sys.modules.get(TARGET)
    if module is not None:
        _on_loaded(module)
    else:
        sys.meta_path.insert(0, _PrepareFinder())
