"""The commands that show or change who is trusted to publish what.

``trust list``, ``trust forget`` and ``trust accept`` manage the first-seen records;
``policy show`` prints the policy in force and where each part of it came from.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from packaging.utils import canonicalize_name

from pip_attest import _config as cfg
from pip_attest._errors import UsageError
from pip_attest._identity import parse_identity
from pip_attest._store import FirstSeenStore, Record, StoreError


def _store(settings: cfg.Settings) -> FirstSeenStore:
    return FirstSeenStore(settings.first_seen_dir)


def _record_json(record: Record) -> dict[str, Any]:
    doc = record.to_json()
    doc.pop("record_version")
    return doc


def cmd_trust_list(args: argparse.Namespace) -> int:
    settings = cfg.Settings.from_env()
    store = _store(settings)
    records, broken = [], []
    for item in store.records():
        if isinstance(item, StoreError):
            broken.append(str(item))
        else:
            records.append(item)
    if args.format == "json":
        doc = {
            "store": str(store.root),
            "projects": [_record_json(r) for r in records],
            "errors": broken,
        }
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(f"first-seen records: {store.root}")
        if not records and not broken:
            print("  (none yet: a project is recorded the first time its files verify)")
        for record in records:
            print(f"{record.project} (attested since {record.first_attested_version})")
            for seen in record.seen:
                print(f"  {seen.identity}  {seen.how} {seen.added} at {seen.version}")
        for error in broken:
            print(f"error: {error}", file=sys.stderr)
    return 1 if broken else 0


def cmd_trust_forget(args: argparse.Namespace) -> int:
    store = _store(cfg.Settings.from_env())
    missing = [p for p in args.projects if not store.forget(_name(p))]
    for project in args.projects:
        if project not in missing:
            print(f"forgot {canonicalize_name(project)}: its next attested install records it anew")
    for project in missing:
        print(f"pip-attest: no first-seen record for {project}", file=sys.stderr)
    return 1 if missing else 0


def cmd_trust_accept(args: argparse.Namespace) -> int:
    identity = parse_identity(args.identity)
    name = _name(args.project)
    store = _store(cfg.Settings.from_env())
    before = store.get(name)
    version = before.first_attested_version if before else "0"
    record, new = store.add(name, version, [identity], "accepted")
    if not new:
        print(f"{identity} was already accepted for {name}")
        return 0
    was = ", ".join(str(i) for i in before.identities) if before else "nothing recorded"
    print(f"accepted {identity} as a publisher of {name} (before: {was})")
    print(f"recorded in {store.root / (name + '.json')}", file=sys.stderr)
    return 0


def _name(project: str) -> str:
    name = canonicalize_name(project)
    if not name or not all(c.isalnum() or c == "-" for c in name):
        raise UsageError(f"{project!r} is not a project name")
    return name


def policy_summary(settings: cfg.Settings) -> dict[str, Any]:
    """The policy in force, each part with where it came from."""
    src = settings.sources
    store = _store(settings)
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
        "locked_projects": len(settings.locked),
        "first_seen_store": str(store.root),
        "first_seen_projects": recorded,
    }


def cmd_policy_show(args: argparse.Namespace) -> int:
    summary = policy_summary(cfg.Settings.from_env())
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
