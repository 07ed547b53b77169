"""pip-attest: make ``pip install`` refuse packages whose origin cannot be proven.

The public surface is the command line (``pip-attest``, ``python -m pip_attest``) and
the ``PIP_ATTEST_*`` environment variables. Everything importable under an underscore is
private and may change in any release.
"""

from __future__ import annotations

from pip_attest._errors import Error

__version__ = "0.1.0.dev0"

__all__ = ["Error", "__version__"]
