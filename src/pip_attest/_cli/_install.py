"""``pip-attest install``: pip install, every file checked before anything is installed."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from pip_attest._cli._common import (
    EXIT_OK,
    EXIT_PIP,
    EXIT_REFUSED,
    POLICY_OPTIONS_HELP,
    apply_to_env,
    check_output,
    emit,
    output_format,
    split_install_args,
    warn_stale_root,
)
from pip_attest._config import Settings
from pip_attest._pip._run import close_run, guarded
from pip_attest._report import merged, render_json, render_text
from pip_attest._spawn import run_memo

INSTALL_HELP = (
    """\
usage: pip-attest install [pip-attest options] <anything pip install takes>

Runs 'pip install' with every distribution file checked against its PEP 740
attestations before anything is installed. All other arguments go to pip unchanged
(see 'pip install --help').

pip-attest options (each also read from the environment variable shown):
  --require-attestations    refuse files that have no attestation      PIP_ATTEST_REQUIRE=1
"""
    + POLICY_OPTIONS_HELP
    + """  --format text|json        machine report on stdout (or --output)   PIP_ATTEST_FORMAT
  --output FILE             write the report to FILE                 PIP_ATTEST_OUTPUT

Identities: github:OWNER/REPO/WORKFLOW[@ENV], gitlab:NAMESPACE/PROJECT/PATH[@ENV],
            google:EMAIL, circleci:PROJECT_ID/PIPELINE_DEFINITION_ID
Exit codes: 0 ok, 1 refused (nothing installed), 2 usage or unsupported environment,
            3 pip failed, 4 installed but the report could not be written."""
)


def cmd_install(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv[: argv.index("--") if "--" in argv else None]):
        print(INSTALL_HELP)
        return EXIT_OK
    ours, pip_args = split_install_args(argv)
    apply_to_env(ours)
    fmt, output = output_format()
    check_output(output)
    try:
        if any("pylock." in arg for arg in pip_args):
            # Deferred: costly to import, and only an install from a lock needs it.
            from pip_attest._locking import translate_lock_requirements

            pip_args = translate_lock_requirements(pip_args)
        warn_stale_root(Settings.from_env())
        run = guarded("install", pip_args, quiet_stdout=fmt == "json" and not output)
    finally:
        close_run()
    memo = run_memo()
    if memo is not None:
        memo.record_run(run.rc, run.records, time.time())
    records = merged(run.records)
    if any(r.get("blocking") for r in records):
        code, outcome = EXIT_REFUSED, "refused"
    elif run.rc != 0:
        code, outcome = EXIT_PIP, "pip-failed"
    else:
        code, outcome = EXIT_OK, "ok"
    nothing = code == EXIT_REFUSED and not run.installed  # else pip's error said what was
    sys.stderr.write(render_text(records, installed=False if nothing else None))
    if code == EXIT_PIP:
        print(f"pip-attest: pip exited with status {run.rc}", file=sys.stderr)
    if fmt != "json":
        return code
    extra = {"pip_version": run.pip_version, "pip_exit_code": run.rc}
    doc = render_json(records, command="install", outcome=outcome, exit_code=code, extra=extra)
    return emit(doc, output, sys.stdout, code)
