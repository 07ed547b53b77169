"""The command line. The only module that prints results or chooses an exit code.

Exit codes (README, "Exit codes"):
  0  everything was verified (or allowed) and pip succeeded
  1  pip-attest refused something: nothing was installed
  2  usage error, or an environment pip-attest cannot guard (unsupported pip, bad trust root)
  3  pip itself failed
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from pip_attest import __version__
from pip_attest import _config as cfg
from pip_attest._errors import Error, UsageError

if TYPE_CHECKING:
    from pip_attest._process import RunMemo

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PIP = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# pip-attest's own install options: (flag, takes a value, environment variable).
# Everything else on an install command line belongs to pip, untouched.
INSTALL_OPTIONS: dict[str, tuple[bool, str]] = {
    "--require-attestations": (False, cfg.REQUIRE),
    "--allow-unattested": (True, cfg.ALLOW_UNATTESTED),
    "--publisher": (True, cfg.PUBLISHER),
    "--accept-publisher": (True, cfg.ACCEPT_PUBLISHER),
    "--policy": (True, cfg.POLICY),
    "--trust-root": (True, cfg.TRUST_ROOT),
    "--integrity-api": (True, cfg.INTEGRITY_API),
    "--provenance-timeout": (True, cfg.TIMEOUT),
    "--format": (True, cfg.FORMAT),
    "--output": (True, cfg.OUTPUT),
}


def split_install_args(argv: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Separate pip-attest's options from pip's, keeping pip's in order.

    Matching is exact (``--flag`` or ``--flag=value``), never by prefix, so no pip option can
    be mistaken for ours. Everything after ``--`` is pip's.
    """
    ours: dict[str, list[str]] = {}
    pip_args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            pip_args.extend(argv[i:])
            break
        flag, eq, value = arg.partition("=")
        if flag in INSTALL_OPTIONS:
            takes_value = INSTALL_OPTIONS[flag][0]
            if not takes_value:
                if eq:
                    raise UsageError(f"{flag} takes no value")
                ours.setdefault(flag, []).append("1")
            elif eq:
                ours.setdefault(flag, []).append(value)
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                ours.setdefault(flag, []).append(argv[i])
            else:
                # Never take a pip option as our value: '--output --no-deps' is a mistake.
                raise UsageError(f"{flag} needs a value")
        else:
            pip_args.append(arg)
        i += 1
    return ours, pip_args


def _apply_to_env(ours: dict[str, list[str]]) -> None:
    """Flags win over the environment; the run and its pip subprocesses then read env."""
    for flag, values in ours.items():
        env = INSTALL_OPTIONS[flag][1]
        if flag in ("--allow-unattested", "--publisher", "--accept-publisher", "--integrity-api"):
            os.environ[env] = " ".join(values)
        elif flag == "--policy":
            # Absolute, so pip subprocesses that run elsewhere read the same file.
            os.environ[env] = str(Path(values[-1]).expanduser().resolve())
        else:
            os.environ[env] = values[-1]


def _output_format() -> tuple[str, Path | None]:
    fmt = os.environ.get(cfg.FORMAT, "text").strip().lower() or "text"
    if fmt not in ("text", "json"):
        raise UsageError(f"unknown format {fmt!r}: expected text or json")
    out = os.environ.get(cfg.OUTPUT, "").strip()
    return fmt, Path(out) if out else None


def _emit(text: str, output: Path | None, stream: TextIO) -> None:
    if output is None:
        stream.write(text)
        stream.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write the report to {output}: {err.strerror}") from None


def _check_output(output: Path | None) -> None:
    """Before pip runs: a report that cannot be written must not fail a finished install."""
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"cannot write the report to {output}: no such directory")


def _warn_stale_root(settings: cfg.Settings) -> Path:
    from pip_attest._trust import describe, ensure_root

    path = ensure_root(settings.trust_root)
    try:
        info = describe(path)
    except Error:
        return path
    if info.is_stale():
        age = info.age()
        days = f"{age.days} days" if age is not None else "an unknown time"
        print(
            f"warning: the Sigstore trust root is {days} old; refresh it with "
            "'pip-attest trust update'",
            file=sys.stderr,
        )
    return path


def cmd_install(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv[: argv.index("--") if "--" in argv else None]):
        print(INSTALL_HELP)
        return EXIT_OK
    ours, pip_args = split_install_args(argv)
    _apply_to_env(ours)
    from pip_attest._pip._run import close_run
    from pip_attest._process import run_memo

    try:
        return _install(pip_args, run_memo())
    finally:
        close_run()


def _install(pip_args: list[str], memo: RunMemo | None) -> int:
    fmt, output = _output_format()
    _check_output(output)
    from pip_attest._cli_lock import translate_lock_requirements

    pip_args = translate_lock_requirements(pip_args)
    from pip_attest._check import read_results
    from pip_attest._pip._run import preflight, run_pip
    from pip_attest._report import render_json, render_text

    pip_version = preflight(pip_args)
    fd, results_name = tempfile.mkstemp(prefix="pip-attest-", suffix=".jsonl")
    os.close(fd)
    results_file = Path(results_name)
    os.environ[cfg.RESULTS_FILE] = results_name
    os.environ[cfg.PARENT_PID] = str(os.getpid())
    # Build dependencies are installed by a pip subprocess: the .pth hook guards it.
    os.environ[cfg.ENFORCE] = "1"
    try:
        settings = cfg.Settings.from_env()
        _warn_stale_root(settings)
        rc = run_pip("install", pip_args, settings, quiet_stdout=fmt == "json" and not output)
        records = read_results(results_file)
    finally:
        results_file.unlink(missing_ok=True)
    refused = any(r.get("blocking") for r in records)
    if memo is not None:
        memo.record_run(rc, records, time.time())
    if refused:
        code, outcome = EXIT_REFUSED, "refused"
    elif rc != 0:
        code, outcome = EXIT_PIP, "pip-failed"
    else:
        code, outcome = EXIT_OK, "ok"
    sys.stderr.write(render_text(records, installed=False if code == EXIT_REFUSED else None))
    if code == EXIT_PIP:
        print(f"pip-attest: pip exited with status {rc}", file=sys.stderr)
    if fmt == "json":
        doc = render_json(
            records,
            command="install",
            outcome=outcome,
            exit_code=code,
            extra={"pip_version": pip_version, "pip_exit_code": rc},
        )
        _emit(doc, output, sys.stdout)
    return code


def cmd_verify(args: argparse.Namespace) -> int:
    from pip_attest._check import Candidate, Checker
    from pip_attest._model import Artifact, Origin, Status, sha256_file
    from pip_attest._names import parse_any
    from pip_attest._policy import Evidence, EvidenceKind
    from pip_attest._report import render_json, render_text
    from pip_attest._verify import AttestationVerifier, parse_provenance, read_provenance_file

    files = [Path(f) for f in args.files]
    if args.provenance and len(files) != 1:
        raise UsageError("--provenance goes with exactly one FILE")
    settings = cfg.Settings.from_env()
    verifier = AttestationVerifier(_warn_stale_root(settings))
    checker = Checker(settings, session=None)
    records: list[dict[str, Any]] = []
    for file in files:
        if not file.is_file():
            raise UsageError(f"{file}: no such file")
        named = parse_any(file.name)
        if named is None:
            raise UsageError(f"{file}: not a distribution filename")
        prov = Path(args.provenance) if args.provenance else Path(f"{file}.provenance")
        artifact = Artifact(file.name, sha256_file(file), *named)
        candidate = Candidate(
            file.name, artifact.sha256, file.resolve().as_uri(), *named, origin=Origin.LOCAL
        )
        if not prov.is_file():
            missing = f"no provenance: {prov} does not exist"
            evidence = Evidence(EvidenceKind.MISSING, reason=missing)
        else:
            try:
                attestations = parse_provenance(read_provenance_file(prov), allow_bare=True)
                identities = verifier.verify(artifact, attestations)
                evidence = Evidence(EvidenceKind.VERIFIED, identities=identities)
            except Error as err:
                evidence = Evidence(EvidenceKind.INVALID, reason=str(err))
        result = checker.conclude(candidate, (evidence, str(prov)))
        if result.status is Status.UNEXPECTED_PUBLISHER and evidence.identities:
            # verify pins with a bare IDENTITY; install's PKG=IDENTITY forms do not apply.
            got = next(
                i for i in evidence.identities if not any(i.satisfies(e) for e in result.expected)
            )
            result = result._replace(hint=f"if {got} is legitimate, verify with --publisher {got}")
        # Here only a verified file passes: nothing else vouches for a local file.
        records.append(result._replace(blocking=result.status is not Status.VERIFIED).to_json())
    code = EXIT_REFUSED if any(r["blocking"] for r in records) else EXIT_OK
    hints = "".join(
        f"{r['filename']}: {r['status']}: {r['hint']}\n"
        for r in records
        # Only hints that name a next step here; "run pip-attest verify" would be circular.
        if r["blocking"] and r["hint"] and r["status"] in ("unexpected-publisher", "downgrade")
    )
    fmt, output = _output_format()
    if fmt == "json":
        _emit(
            render_json(
                records, command="verify", outcome="ok" if not code else "refused", exit_code=code
            ),
            output,
            sys.stdout,
        )
    else:
        _emit(render_text(records, installed=None) + hints, output, sys.stdout)
    return code


def cmd_trust(args: argparse.Namespace) -> int:
    from pip_attest import _cli_policy, _trust

    if args.trust_command in ("list", "forget", "accept"):
        command = getattr(_cli_policy, f"cmd_trust_{args.trust_command}")
        return int(command(args))
    settings = cfg.Settings.from_env()
    if args.trust_command == "update":
        if settings.trust_root is not None:
            raise UsageError(
                f"{cfg.TRUST_ROOT} / --trust-root names a custom root; 'trust update' only "
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
        f"age:        {_days(age.days) if age is not None else 'unknown'}"
        + (" (stale: run 'pip-attest trust update')" if info.is_stale() else ""),
        "keys:",
    ]
    for key in info.keys:
        start = key.valid_from.date().isoformat() if key.valid_from else "?"
        end = key.valid_until.date().isoformat() if key.valid_until else "now"
        lines.append(f"  {key.role:<7} {key.name}  valid {start} .. {end}")
    print("\n".join(lines))
    return EXIT_OK


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def cmd_status(args: argparse.Namespace) -> int:
    import json
    import sysconfig

    from pip_attest._pip._seam import SUPPORTED_RANGE, pip_version

    purelib = Path(sysconfig.get_paths()["purelib"])
    hook = purelib / "pip_attest_hook.pth"
    try:
        version = str(pip_version())
        from pip_attest._pip._seam import check_version

        check_version()
        supported = True
    except Error:
        version, supported = (version if "version" in locals() else "none"), False
    from pip_attest._cli_policy import policy_summary

    settings = cfg.Settings.from_env()
    enforce = cfg.env_flag(cfg.ENFORCE)
    from pip_attest import _trust

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


INSTALL_HELP = """\
usage: pip-attest install [pip-attest options] <anything pip install takes>

Runs 'pip install' with every distribution file checked against its PEP 740
attestations before anything is installed. All other arguments go to pip unchanged
(see 'pip install --help').

pip-attest options (each also read from the environment variable shown):
  --require-attestations    refuse files that have no attestation      PIP_ATTEST_REQUIRE=1
  --allow-unattested PKG    with --require-attestations, still allow PKG (repeatable)
                                                                PIP_ATTEST_ALLOW_UNATTESTED
  --publisher PKG=IDENTITY  require PKG to be signed by IDENTITY (repeatable)
                                                                PIP_ATTEST_PUBLISHER
  --accept-publisher PKG=IDENTITY
                            also accept IDENTITY for PKG, for this run only
                                                         PIP_ATTEST_ACCEPT_PUBLISHER
  --policy FILE             policy file (default: the nearest pyproject.toml's
                            [tool.pip-attest] table)             PIP_ATTEST_POLICY
  --trust-root FILE         Sigstore trusted_root.json to verify against
                                                                PIP_ATTEST_TRUST_ROOT
  --integrity-api URL       also ask this index's PEP 740 Integrity API
                                                                PIP_ATTEST_INTEGRITY_API
  --provenance-timeout SEC  time limit for one provenance download  PIP_ATTEST_TIMEOUT
  --format text|json        machine report on stdout (or --output)   PIP_ATTEST_FORMAT
  --output FILE             write the report to FILE                 PIP_ATTEST_OUTPUT

Identities: github:OWNER/REPO/WORKFLOW[@ENV], gitlab:NAMESPACE/PROJECT/PATH[@ENV],
            google:EMAIL, circleci:PROJECT_ID/PIPELINE_DEFINITION_ID
Exit codes: 0 ok, 1 refused (nothing installed), 2 usage or unsupported environment,
            3 pip failed."""


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

    verify = sub.add_parser("verify", help="verify local distribution files", allow_abbrev=False)
    verify.add_argument("files", nargs="+", metavar="FILE")
    verify.add_argument(
        "--provenance", metavar="PATH", help="provenance or attestation (default FILE.provenance)"
    )
    verify.add_argument("--publisher", metavar="IDENTITY", help="require this publisher")
    verify.add_argument("--trust-root", metavar="FILE", help="Sigstore trusted_root.json")
    verify.add_argument("--format", choices=["text", "json"])
    verify.add_argument("--output", metavar="FILE")

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

    policy = sub.add_parser("policy", help="show the publisher policy in force")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    pshow = psub.add_parser("show", help="the policy in force and where each part came from")
    pshow.add_argument("--policy", metavar="FILE", help="policy file to read")
    pshow.add_argument("--format", choices=["text", "json"], default="text")

    status = sub.add_parser("status", help="is enforcement active for this interpreter?")
    status.add_argument("--format", choices=["text", "json"], default="text")
    return parser


def _env_from_args(args: argparse.Namespace) -> None:
    if getattr(args, "policy", None):
        os.environ[cfg.POLICY] = str(Path(args.policy).expanduser().resolve())
    if getattr(args, "trust_root", None):
        os.environ[cfg.TRUST_ROOT] = args.trust_root
    if getattr(args, "format", None) and args.command == "verify":
        os.environ[cfg.FORMAT] = args.format
    if getattr(args, "output", None):
        os.environ[cfg.OUTPUT] = args.output
    if getattr(args, "publisher", None) and args.command == "verify":
        from pip_attest._identity import parse_identity
        from pip_attest._names import parse_any

        parse_identity(args.publisher)
        pins = []
        for f in args.files:
            pv = parse_any(Path(f).name)
            if pv is None:
                raise UsageError(f"{f}: not a distribution filename")
            pins.append(f"{pv[0]}={args.publisher}")
        os.environ[cfg.PUBLISHER] = " ".join(pins)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = 0
    # 'install' hands everything after it to pip, so argparse must not see those arguments.
    head = argv
    rest: list[str] = []
    command_at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command_at is not None and argv[command_at] in ("install", "lock"):
        head, rest = argv[: command_at + 1], argv[command_at + 1 :]
    try:
        if head == ["install"]:
            # The hot paths, with nothing for argparse to parse: pip-attest's own start-up
            # is part of every install's (and lock's) time.
            return cmd_install(rest)
        if head == ["lock"]:
            from pip_attest._cli_lock import cmd_lock

            return cmd_lock(rest)
        parser = build_parser()
        args = parser.parse_args(head)
        verbose = args.verbose
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command == "install":
            return cmd_install(rest)
        if args.command == "lock":
            from pip_attest._cli_lock import cmd_lock

            return cmd_lock(rest)
        _env_from_args(args)
        if args.command == "verify":
            return cmd_verify(args)
        if args.command == "trust":
            return cmd_trust(args)
        if args.command == "policy":
            from pip_attest._cli_policy import cmd_policy_show

            return cmd_policy_show(args)
        return cmd_status(args)
    except UsageError as err:
        print(f"pip-attest: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Error as err:
        from pip_attest._errors import PipSeamError, TrustError

        print(f"pip-attest: error: {err}", file=sys.stderr)
        if isinstance(err, (PipSeamError, TrustError)):
            return EXIT_USAGE
        return EXIT_REFUSED
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
