"""The error hierarchy: one root, one subclass per pipeline stage.

Every error carries a one-line, user-facing message. Third-party errors are wrapped at the
boundary (``raise VerificationError(...) from err``) so the CLI never shows a traceback unless
asked to with ``-v``.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every error pip-attest raises on purpose."""


class UsageError(Error):
    """The command line or configuration is wrong (exit code 2)."""


class PipSeamError(Error):
    """pip's internals are not the shape pip-attest knows how to guard (exit code 2)."""


class VerificationError(Error):
    """An attestation did not verify."""


class TrustError(Error):
    """The Sigstore trust root is missing, malformed, or could not be updated."""
