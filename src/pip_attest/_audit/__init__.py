"""``pip-attest audit``: verify an environment that is already installed.

For every installed distribution (:mod:`._installed` reads its metadata as hostile input):

1. **Find the file it was installed from** (:mod:`._run`): the index's files of its name and
   version whose wheel tags are its ``WHEEL`` file's, or the lock's files with ``--lock``;
   ``direct_url.json`` names editable, local-directory and VCS installs, which no index
   served (*not-from-index*).
2. **Verify that file's provenance** exactly as ``install`` does: the same
   :class:`~pip_attest._check.Checker` against the sha256 the index (or the lock) gives.
3. **Bind what is installed to it** (:mod:`._bind`): installed files against RECORD,
   ``.pyc`` files against their sources (:mod:`._bytecode`), and every installed file
   against the attested wheel's members (:mod:`._archive`), with exactly the differences an
   installer makes. A distribution built here from an sdist binds only to the sdist's
   sources and says so (*built-from-sdist*). Importable files no RECORD lists are found by
   :mod:`._unowned`.
4. **Judge it** with the same policy, which writes nothing.

Nothing here prints; :mod:`pip_attest._cli._audit` shows what :func:`audit` returns.
"""

from __future__ import annotations

from pip_attest._audit._model import AuditStatus, DistResult
from pip_attest._audit._run import AuditRun, audit
from pip_attest._audit._where import Environment, at_path, interpreter

__all__ = [
    "AuditRun",
    "AuditStatus",
    "DistResult",
    "Environment",
    "at_path",
    "audit",
    "interpreter",
]
