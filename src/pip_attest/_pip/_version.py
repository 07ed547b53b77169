"""Which pip this is, and whether pip-attest guards it."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from pip_attest import _env
from pip_attest._config import env_flag
from pip_attest._errors import PipSeamError

MIN_PIP = Version("23.3")
MAX_PIP_EXCLUSIVE = Version("26.4")
SUPPORTED_RANGE = f">={MIN_PIP},<{MAX_PIP_EXCLUSIVE}"
# pip reads wheel names with packaging's strict rules from 25.3; before, also loosely.
STRICT_WHEEL_NAMES = Version("25.3")


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
    if version >= MAX_PIP_EXCLUSIVE and env_flag(_env.ALLOW_UNTESTED_PIP):
        return version
    raise PipSeamError(
        f"pip {version} is not supported: pip-attest guards pip {SUPPORTED_RANGE}. "
        f"Install a supported pip (python -m pip install 'pip{SUPPORTED_RANGE}')"
    )
