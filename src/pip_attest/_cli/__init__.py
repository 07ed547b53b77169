"""The command line: the only code that prints for a person or picks an exit code.

One module per command; what they share is in :mod:`pip_attest._cli._common`. Library code
below reports warnings through :mod:`pip_attest._notify`, whose sink is set here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pip_attest import __version__, _env
from pip_attest._cli._common import (
    EXIT_REFUSED,
    EXIT_USAGE,
    split_install_args,
    warning,
)
from pip_attest._errors import Error, PipSeamError, TrustError, UsageError
from pip_attest._identity import parse_identity
from pip_attest._names import parse_any
from pip_attest._notify import set_sink

__all__ = ["main", "split_install_args"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pip-attest",
        description="Make pip refuse packages whose origin cannot be proven (PEP 740).",
        allow_abbrev=False,
    )
    parser.add_argument("-V", "--version", action="version", version=f"pip-attest {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="show tracebacks for internal errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "install", help="pip install, verified (takes pip install's arguments)", add_help=False
    )
    sub.add_parser(
        "lock", help="write a pylock.toml with verified attestation-identities", add_help=False
    )
    sub.add_parser(
        "audit", help="verify the distributions an environment has installed", add_help=False
    )
    _add_verify(sub)
    _add_trust(sub)
    _add_policy_and_status(sub)
    return parser


def _add_verify(sub: Any) -> None:
    verify = sub.add_parser(
        "verify",
        help="verify local distribution files, or every file of a lock",
        allow_abbrev=False,
    )
    verify.add_argument("files", nargs="*", metavar="FILE")
    verify.add_argument(
        "--lock", metavar="PYLOCK", help="verify every file of this lock (any tool's) instead"
    )
    verify.add_argument("-i", "--index-url", metavar="URL", help="with --lock: pip's index URL")
    verify.add_argument("--extra-index-url", metavar="URL", action="append")
    verify.add_argument("-f", "--find-links", metavar="URL", action="append")
    verify.add_argument("--trusted-host", metavar="HOST", action="append")
    verify.add_argument("--no-index", action="store_true")
    verify.add_argument("--require-attestations", action="store_true")
    verify.add_argument("--allow-unattested", metavar="PKG", action="append")
    verify.add_argument("--integrity-api", metavar="URL", action="append")
    verify.add_argument("--policy", metavar="FILE", help="policy file to read")
    verify.add_argument(
        "--provenance", metavar="PATH", help="provenance or attestation (default FILE.provenance)"
    )
    verify.add_argument("--publisher", metavar="IDENTITY", help="require this publisher")
    verify.add_argument("--trust-root", metavar="FILE", help="Sigstore trusted_root.json")
    verify.add_argument("--format", choices=["text", "json"])
    verify.add_argument("--output", metavar="FILE")


def _add_trust(sub: Any) -> None:
    trust = sub.add_parser(
        "trust", help="the Sigstore trust root (show, update) and first-seen publishers"
    )
    tsub = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    show = tsub.add_parser("show", help="where the trust root came from, its age and keys")
    show.add_argument("--trust-root", metavar="FILE")
    update = tsub.add_parser("update", help="refresh the trust root through Sigstore's TUF")
    update.add_argument(
        "--tuf-url", default="https://tuf-repo-cdn.sigstore.dev", help="TUF repository URL"
    )
    update.add_argument(
        "--bootstrap-root", metavar="FILE", help="TUF root.json to trust first (private TUF)"
    )
    listing = tsub.add_parser("list", help="the publishers first seen for each project")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    forget = tsub.add_parser("forget", help="drop projects' first-seen records")
    forget.add_argument("projects", nargs="+", metavar="PROJECT")
    accept = tsub.add_parser("accept", help="accept IDENTITY as a publisher of PROJECT")
    accept.add_argument("project", metavar="PROJECT")
    accept.add_argument("identity", metavar="IDENTITY")


def _add_policy_and_status(sub: Any) -> None:
    policy = sub.add_parser("policy", help="show the publisher policy in force")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    pshow = psub.add_parser("show", help="the policy in force and where each part came from")
    pshow.add_argument("--policy", metavar="FILE", help="policy file to read")
    pshow.add_argument("--format", choices=["text", "json"], default="text")

    status = sub.add_parser("status", help="is enforcement active for this interpreter?")
    status.add_argument("--format", choices=["text", "json"], default="text")


def _env_from_args(args: argparse.Namespace) -> None:
    if getattr(args, "policy", None):
        os.environ[_env.POLICY] = str(Path(args.policy).expanduser().resolve())
    if getattr(args, "trust_root", None):
        os.environ[_env.TRUST_ROOT] = args.trust_root
    if getattr(args, "format", None) and args.command == "verify":
        os.environ[_env.FORMAT] = args.format
    if getattr(args, "output", None):
        os.environ[_env.OUTPUT] = args.output
    if args.command == "verify":
        if args.require_attestations:
            os.environ[_env.REQUIRE] = "1"
        if args.allow_unattested:
            os.environ[_env.ALLOW_UNATTESTED] = " ".join(args.allow_unattested)
        if args.integrity_api:
            os.environ[_env.INTEGRITY_API] = " ".join(args.integrity_api)
    if getattr(args, "publisher", None) and args.command == "verify":
        if args.lock:
            raise UsageError("--publisher IDENTITY goes with FILE...; pin a lock's with --policy")
        parse_identity(args.publisher)
        pins = []
        for f in args.files:
            pv = parse_any(Path(f).name)
            if pv is None:
                raise UsageError(f"{f}: not a distribution filename")
            pins.append(f"{pv[0]}={args.publisher}")
        os.environ[_env.PUBLISHER] = " ".join(pins)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    set_sink(warning)
    verbose = 0
    # 'install' and 'lock' hand everything after them to pip ('audit', pip's index options
    # among its own): argparse must not see it.
    head, rest = argv, []
    command_at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command_at is not None and argv[command_at] in _PASS_THROUGH:
        head, rest = argv[: command_at + 1], argv[command_at + 1 :]
    try:
        if head in (["install"], ["lock"]):
            # The hot paths, with nothing for argparse to parse: pip-attest's own start-up
            # is part of every install's (and lock's) time.
            return _run_pip_command(head[0], rest)
        parser = build_parser()
        args = parser.parse_args(head)
        verbose = args.verbose
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command in _PASS_THROUGH:
            return _run_pip_command(args.command, rest)
        _env_from_args(args)
        return _dispatch(args)
    except UsageError as err:
        print(f"pip-attest: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Error as err:
        print(f"pip-attest: error: {err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, (PipSeamError, TrustError)) else EXIT_REFUSED
    except KeyboardInterrupt:
        print("pip-attest: interrupted; nothing more will be installed", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line, unless -v
        if verbose:
            raise
        print(
            f"pip-attest: internal error: {type(err).__name__}: {err} (run with -v for details)",
            file=sys.stderr,
        )
        return EXIT_USAGE


# Each command's module is imported when it runs: an install pays for no other command's
# imports (pip-attest's start-up is part of every install's time).


_PASS_THROUGH = ("install", "lock", "audit")


def _run_pip_command(command: str, rest: list[str]) -> int:
    if command == "audit":
        from pip_attest._cli._audit import cmd_audit

        return cmd_audit(rest)
    if command == "install":
        from pip_attest._cli._install import cmd_install

        return cmd_install(rest)
    from pip_attest._cli._lock import cmd_lock

    return cmd_lock(rest)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "verify":
        from pip_attest._cli._verify import cmd_verify

        return cmd_verify(args)
    if args.command == "trust":
        from pip_attest._cli._trust import cmd_trust

        return cmd_trust(args)
    if args.command == "policy":
        from pip_attest._cli._policy import cmd_policy_show

        return cmd_policy_show(args)
    from pip_attest._cli._status import cmd_status

    return cmd_status(args)
