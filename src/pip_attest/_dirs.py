"""Where pip-attest keeps its state.

Two roots, and the difference matters (README, "Where state lives"): the user *data*
directory holds what decides trust (the trust root, first-seen records, the built-wheel
store, the cache key); the user *cache* directory holds only what can be proved again (the
verification cache, whose entries are authenticated, and run records). CI systems save and
restore cache directories across branches and workflows; whatever is there is someone
else's input.
"""

from __future__ import annotations

from pathlib import Path

APP = "pip-attest"


def data_dir() -> Path:
    import platformdirs  # imported on first use: pip-attest's start-up stays small

    return platformdirs.user_data_path(APP, appauthor=False)


def cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path(APP, appauthor=False)


def verified_dir() -> Path:
    """The verification cache (``verified/``)."""
    return cache_dir() / "verified"
