"""``pip-attest status``: is enforcement active for this interpreter, and with what."""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
from pathlib import Path
from typing import Any

from pip_attest import _env, _trust
from pip_attest._cli._common import EXIT_OK, EXIT_USAGE
from pip_attest._cli._policy import policy_summary
from pip_attest._config import Settings, env_flag
from pip_attest._errors import Error
from pip_attest._pip._version import SUPPORTED_RANGE, check_version, pip_version


def cmd_status(args: argparse.Namespace) -> int:

    purelib = Path(sysconfig.get_paths()["purelib"])
    hook = purelib / "pip_attest_hook.pth"
    version = "none"
    try:
        version = str(pip_version())
        check_version()
        supported = True
    except Error:
        supported = False
    settings = Settings.from_env()
    enforce = env_flag(_env.ENFORCE)
    try:
        info = _trust.describe(_trust.ensure_root(settings.trust_root))
        age = info.age()
        trust: dict[str, Any] = {
            "trust_root": str(info.path),
            "trust_root_source": info.source,
            "trust_root_age_days": age.days if age is not None else None,
            "trust_root_stale": info.is_stale(),
        }
    except Error as err:
        trust = {"trust_root": None, "trust_root_error": str(err)}
    status = {
        "python": sys.executable,
        "hook_installed": hook.is_file(),
        "hook_path": str(hook),
        # Loaded at start-up by the .pth when the variable is set: proof it really runs.
        "hook_active": "pip_attest._pip._hook" in sys.modules,
        "enforcing": enforce and hook.is_file() and "pip_attest._pip._hook" in sys.modules,
        "pip_version": version,
        "pip_supported": supported,
        "pip_supported_range": SUPPORTED_RANGE,
        "require_attestations": settings.require_attestations,
        "allow_unattested": sorted(settings.allow_unattested),
        "publishers": {k: [str(i) for i in v] for k, v in sorted(settings.pins.items())},
        "policy": policy_summary(settings),
        **trust,
    }
    if args.format == "json":
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        for key, value in status.items():
            if key == "policy":
                value = (
                    f"file {value['policy_file'] or '(none)'}; "
                    f"{value['first_seen_projects']} first-seen project(s) in "
                    f"{value['first_seen_store']} (details: pip-attest policy show)"
                )
            print(f"{key}: {value}")
    return EXIT_OK if supported else EXIT_USAGE
