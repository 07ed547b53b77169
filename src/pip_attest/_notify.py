"""Where library code reports what a person should know, without printing it itself.

The command line (and the enforcement hook) decide what a person sees; everything below
them calls :func:`warn`, which goes to the sink they set. Until one is set, warnings go to
stderr with pip-attest's prefix, so nothing is ever lost.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Sink = Callable[[str], None]


def _stderr(message: str) -> None:
    sys.stderr.write(f"pip-attest: warning: {message}\n")
    sys.stderr.flush()


_SINK: list[Sink] = [_stderr]


def warn(message: str) -> None:
    """Tell the person running pip-attest ``message`` (one line)."""
    _SINK[0](" ".join(message.split()))


def set_sink(sink: Sink | None) -> None:
    """Send warnings to ``sink`` (None: back to stderr)."""
    _SINK[0] = sink or _stderr
