"""``pip-attest trust``: the Sigstore trust root (show, update) and the first-seen
publishers of each project (list, accept, forget)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from pip_attest import _env, _trust
from pip_attest._cli._common import EXIT_OK, days
from pip_attest._config import Settings
from pip_attest._errors import UsageError
from pip_attest._identity import parse_identity
from pip_attest._store import FirstSeenStore, Record, StoreError


def cmd_trust(args: argparse.Namespace) -> int:
    if args.trust_command in ("list", "forget", "accept"):
        commands = {"list": _trust_list, "forget": _trust_forget, "accept": _trust_accept}
        return commands[args.trust_command](args)
    settings = Settings.from_env()
    if args.trust_command == "update":
        if settings.trust_root is not None:
            raise UsageError(
                f"{_env.TRUST_ROOT} / --trust-root names a custom root; 'trust update' only "
                "refreshes pip-attest's own cached copy"
            )
        bootstrap = Path(args.bootstrap_root) if args.bootstrap_root else None
        info = _trust.update(tuf_url=args.tuf_url, bootstrap_root=bootstrap)
        print(f"updated the trust root from {info.source}", file=sys.stderr)
    else:
        info = _trust.describe(_trust.ensure_root(settings.trust_root))
    age = info.age()
    lines = [
        f"trust root: {info.path}",
        f"source:     {info.source}",
        f"sha256:     {info.sha256}",
        f"age:        {days(age.days) if age is not None else 'unknown'}"
        + (" (stale: run 'pip-attest trust update')" if info.is_stale() else ""),
        "keys:",
    ]
    for key in info.keys:
        start = key.valid_from.date().isoformat() if key.valid_from else "?"
        end = key.valid_until.date().isoformat() if key.valid_until else "now"
        lines.append(f"  {key.role:<7} {key.name}  valid {start} .. {end}")
    print("\n".join(lines))
    return EXIT_OK


def store_of(settings: Settings) -> FirstSeenStore:
    return FirstSeenStore(settings.first_seen_dir)


def _record_json(record: Record) -> dict[str, Any]:
    doc = record.to_json()
    doc.pop("record_version")
    return doc


def _trust_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    store = store_of(settings)
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


def _trust_forget(args: argparse.Namespace) -> int:
    store = store_of(Settings.from_env())
    missing = [p for p in args.projects if not store.forget(_name(p))]
    for project in args.projects:
        if project not in missing:
            print(f"forgot {canonicalize_name(project)}: its next attested install records it anew")
    for project in missing:
        print(f"pip-attest: no first-seen record for {project}", file=sys.stderr)
    return 1 if missing else 0


def _trust_accept(args: argparse.Namespace) -> int:
    identity = parse_identity(args.identity)
    name = _name(args.project)
    store = store_of(Settings.from_env())
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
