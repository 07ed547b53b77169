"""``pip-attest policy show``: the policy in force, and where each part came from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pip_attest._cli._trust import store_of
from pip_attest._config import Settings
from pip_attest._policy import Policy
from pip_attest._store import Record


def policy_summary(settings: Settings) -> dict[str, Any]:
    """The policy in force, each part with where it came from."""
    src = settings.sources
    store = store_of(settings)
    try:
        recorded = sum(1 for r in store.records() if isinstance(r, Record))
    except OSError:
        recorded = 0
    return {
        "policy_file": str(settings.policy_file) if settings.policy_file else None,
        "require_attestations": {
            "value": settings.require_attestations,
            "from": src.get("require-attestations", "default"),
        },
        "allow_unattested": [
            {"project": p, "from": src.get(f"allow-unattested:{p}", "")}
            for p in sorted(settings.allow_unattested)
        ],
        "publishers": [
            {
                "project": p,
                "identities": [str(i) for i in ids],
                "from": src.get(f"publisher:{p}", ""),
            }
            for p, ids in sorted(settings.pins.items())
        ],
        "accepted_this_run": [
            {"project": p, "identities": [str(i) for i in ids]}
            for p, ids in sorted(settings.accepted.items())
        ],
        "lock_file": str(settings.lock_file) if settings.lock_file else None,
        "locked_projects": len(Policy(settings).locked),
        "first_seen_store": str(store.root),
        "first_seen_projects": recorded,
    }


def cmd_policy_show(args: argparse.Namespace) -> int:
    summary = policy_summary(Settings.from_env())
    if args.format == "json":
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    req = summary["require_attestations"]
    lines = [
        f"policy file:          {summary['policy_file'] or '(none)'}",
        f"require-attestations: {str(req['value']).lower()}  ({req['from']})",
        "allow-unattested:     "
        + (", ".join(f"{a['project']} ({a['from']})" for a in summary["allow_unattested"]) or "-"),
        "publishers:" + ("" if summary["publishers"] else "           -  (none pinned)"),
    ]
    lines.extend(
        f"  {pin['project']} = {' or '.join(pin['identities'])}  ({pin['from']})"
        for pin in summary["publishers"]
    )
    lines.extend(
        f"  {acc['project']} += {' or '.join(acc['identities'])}  (this run only)"
        for acc in summary["accepted_this_run"]
    )
    if summary["lock_file"]:
        lines.append(
            f"lock file:            {summary['lock_file']} "
            f"({summary['locked_projects']} project(s) with attestation-identities)"
        )
    lines.append(
        f"first-seen records:   {summary['first_seen_projects']} project(s) in "
        f"{summary['first_seen_store']}"
    )
    lines.append(
        "order: pins, then the lock being installed, then first-seen records, then the "
        "publisher the index names"
    )
    print("\n".join(lines))
    return 0
