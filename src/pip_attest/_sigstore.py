"""The parts of sigstore-python that pip-attest needs and that are not public API.

Kept in this one module, so that a sigstore release that moves them breaks one place, and
a test (tests/test_trust.py) fails on any sigstore version not listed in :data:`CHECKED`
(pyproject allows sigstore 4.x; a new 4.y must be read before it is trusted here).

* ``sigstore._internal.tuf.TrustUpdater``: the only way to get the TUF-verified
  ``trusted_root.json`` itself. The public ``ClientTrustConfig.from_tuf`` hands back a
  re-serialised model, whose bytes (and sha256) differ from the signed target.
* ``sigstore._internal.trust.KeyringPurpose``: to build a root's Rekor and CT keyrings when
  a root is installed, so that an unusable root fails then, with one line, rather than at
  the first attestation.

Importing this module imports sigstore, which is costly: its callers import it
only when they install or refresh a trust root.
"""

from __future__ import annotations

from pathlib import Path

import sigstore
from sigstore._internal.trust import KeyringPurpose
from sigstore._internal.tuf import TrustUpdater
from sigstore.models import TrustedRoot
from sigstore_models.trustroot import v1 as trustroot_v1

# Read, source against source, for the names and signatures used below.
CHECKED = frozenset({"4.1.0", "4.2.0", "4.3.0", "4.4.0", "4.5.0", "4.5.1"})
VERSION = str(sigstore.__version__)


def fetch_trusted_root(url: str, bootstrap_root: Path | None) -> bytes:
    """The ``trusted_root.json`` target of the TUF repository at ``url``, as TUF verified
    it (refreshing the metadata over the network)."""
    updater = TrustUpdater(url, offline=False, bootstrap_root=bootstrap_root)
    return Path(updater.get_trusted_root_path()).read_bytes()


def parse_trusted_root(data: bytes) -> TrustedRoot:
    """A ``TrustedRoot`` whose Fulcio chain and Rekor and CT keyrings could all be built."""
    root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(data))
    root.get_fulcio_certs()
    root.rekor_keyring(KeyringPurpose.VERIFY)
    root.ct_keyring(KeyringPurpose.VERIFY)
    return root
