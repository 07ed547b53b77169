"""pip-attest's Sigstore trust root: seed it, describe it, update it, judge its age.

pip-attest verifies against its *own* copy of ``trusted_root.json``, kept in the platformdirs
user *data* directory (``default_root_path()``), never against whatever sigstore's TUF client
happens to hold, and never in a cache directory: CI systems save and restore caches across
branches and workflows, so whatever lies in one is input from someone else. The copy is:

- seeded from the production ``trusted_root.json`` that ships inside the installed sigstore
  package (``sigstore/_store/<quoted TUF URL>/trusted_root.json``), so a fresh, offline
  install works at once;
- refreshed only when asked (``update()``), through sigstore's TUF client, and then written
  atomically: a failed update leaves the old copy byte for byte;
- described by a sidecar (``trusted_root.meta.json`` beside it) saying where it came from,
  when, and its sha256, so ``pip-attest status`` can show its age without importing sigstore;
- used only while that sidecar vouches for its bytes: a root edited by hand, or torn by a
  crash between the two writes, is replaced by sigstore's embedded root, with a warning.

Importing this module must stay cheap: sigstore (and with it cryptography and pydantic) is
imported inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from pip_attest._dirs import data_dir
from pip_attest._errors import TrustError
from pip_attest._fileio import atomic_write, read_regular
from pip_attest._notify import warn
from pip_attest._text import chain_reason as _reason

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

__all__ = [
    "PRODUCTION_TUF_URL",
    "SOURCE_EMBEDDED",
    "STALE_AFTER",
    "KeyInfo",
    "TrustRootInfo",
    "default_root_path",
    "describe",
    "ensure_root",
    "import_root",
    "load_verifier_root",
    "update",
]

PRODUCTION_TUF_URL = "https://tuf-repo-cdn.sigstore.dev"

# How old a copy may get before `status` and `install` warn. TUF metadata expires within days,
# but trusted_root.json itself changes a few times a year: the copy in sigstore 4.5.1 gained a
# TSA valid from 2025-07-04 and a Rekor v2 log valid from 2025-09-23. A stale copy misses new
# keys (new attestations then fail to verify: fail closed, but noisy) and end dates set on
# retired keys (an old key is trusted for too long). 90 days catches a missed rotation within
# a quarter without nagging an offline machine every week. It only ever warns; offline use
# never stops working.
STALE_AFTER = timedelta(days=90)

SOURCE_EMBEDDED = "sigstore-embedded"
_FILE_SOURCE_PREFIX = "file:"

_ROOT_NAME = "trusted_root.json"
_SIDECAR_SUFFIX = ".meta.json"
_SIDECAR_VERSION = 1
_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.trustedroot"


class KeyInfo(NamedTuple):
    """One key or CA in a trust root, with the window in which it may be used."""

    role: str  # "fulcio" | "rekor" | "ctlog" | "tsa"
    name: str  # CA URI, or the log's base URL
    valid_from: datetime | None
    valid_until: datetime | None  # None: no end date (still current)
    log_id: str | None = None  # base64 log key id, for "rekor" and "ctlog"


class TrustRootInfo(NamedTuple):
    """What ``pip-attest status`` shows about a trust root file."""

    path: Path
    source: str  # SOURCE_EMBEDDED, a TUF URL, or "file:<path>"
    sha256: str
    fetched_at: datetime | None  # None: unknown (no sidecar, or one that does not match)
    keys: tuple[KeyInfo, ...]

    def age(self, now: datetime | None = None) -> timedelta | None:
        """Time since the root was fetched or seeded, or None when that is unknown."""
        if self.fetched_at is None:
            return None
        return (now or _utcnow()) - self.fetched_at

    def is_stale(self, now: datetime | None = None) -> bool:
        """True when the root is older than ``STALE_AFTER`` (``now``, if given, must be
        timezone-aware). An unknown age is not stale: a user-supplied root is the user's to
        keep fresh, and a warning that can never go away would only teach users to ignore it."""
        age = self.age(now)
        return age is not None and age > STALE_AFTER


def default_root_path() -> Path:
    """pip-attest's own copy (it may not exist yet; see ``ensure_root``)."""
    return data_dir() / "trust" / _ROOT_NAME


def ensure_root(path: Path | None = None) -> Path:
    """Return the trust root file to verify against.

    ``path`` given (``--trust-root`` / ``PIP_ATTEST_TRUST_ROOT``): it must be an existing
    file; it is returned as is and parsed later by ``load_verifier_root``.

    ``path`` None: pip-attest's copy, seeded from sigstore's embedded production root when it
    is missing, is not a JSON trust root, or its sidecar does not vouch for its bytes (a torn
    or hand-edited file must not lock the user out, and the embedded root is as trustworthy
    as the installed sigstore itself).
    """
    if path is not None:
        if not path.exists():
            raise TrustError(f"trust root {path}: no such file")
        if not path.is_file():
            raise TrustError(f"trust root {path}: not a file")
        return path

    cached = default_root_path()
    data = _read_own(cached)
    if data is not None and _vouched(cached, data):
        return cached
    if data is not None:
        warn(
            f"the trust root {cached} does not match the record of where it came from; "
            "replaced by sigstore's embedded production root (run 'pip-attest trust update' "
            "to refresh it)"
        )
    _install(cached, _embedded_production_root(), source=SOURCE_EMBEDDED)
    return cached


_MAX_ROOT_BYTES = 4 * 1024 * 1024


def _read_own(path: Path) -> bytes | None:
    """pip-attest's copy, if it is a JSON trust root (bounded, regular file only)."""
    data = read_regular(path, _MAX_ROOT_BYTES)
    try:
        return data if data is not None and _is_root_doc(json.loads(data)) else None
    except ValueError:
        return None


def _vouched(root: Path, data: bytes) -> bool:
    """Whether the sidecar beside ``root`` records exactly these bytes."""
    meta = read_regular(_sidecar_path(root), 64 * 1024)
    try:
        doc = json.loads(meta) if meta is not None else None
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("sha256") == hashlib.sha256(data).hexdigest()


def load_verifier_root(path: Path) -> TrustedRoot:
    """Parse ``path`` into the ``TrustedRoot`` that sigstore's ``Verifier`` takes.

    Beyond sigstore's own parsing, the keyrings the verifier will need (Fulcio, Rekor, CT)
    are built here, so that an empty or broken root fails now, with one clear line, rather
    than as an odd error on the first attestation.
    """
    return _check(_read(path), path)


def describe(path: Path) -> TrustRootInfo:
    """Read ``path`` with the stdlib only: cheap enough for ``pip-attest status``.

    Source and fetch time come from the sidecar beside ``path`` (the cached copy has one;
    ``update(dest=...)`` and ``import_root`` write one too), believed only if its sha256
    matches the file. Raises ``TrustError`` if ``path`` is not a JSON trust root."""
    data = _read(path)
    try:
        doc = json.loads(data)
        keys = _list_keys(doc)
    except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
        raise TrustError(f"trust root {path}: not a Sigstore trusted root: {_reason(err)}") from err

    sha256 = hashlib.sha256(data).hexdigest()
    source, fetched_at = _read_sidecar(path, sha256)
    return TrustRootInfo(path=path, source=source, sha256=sha256, fetched_at=fetched_at, keys=keys)


def update(
    *,
    tuf_url: str = PRODUCTION_TUF_URL,
    bootstrap_root: Path | None = None,
    dest: Path | None = None,
) -> TrustRootInfo:
    """Fetch the current ``trusted_root.json`` through sigstore's TUF client and install it.

    ``bootstrap_root`` is the TUF ``root.json`` to start trusting ``tuf_url`` from. sigstore
    ships one for its production and staging repositories and uses that, ignoring any other;
    every other URL needs one. On any failure the file at ``dest`` (default: the cached copy)
    and its sidecar are left untouched.
    """
    url = tuf_url.rstrip("/")
    target = dest if dest is not None else default_root_path()

    has_embedded = _sigstore_embeds_tuf_root(url)
    if bootstrap_root is None and not has_embedded:
        raise TrustError(
            f"cannot update from {url}: sigstore ships no TUF root for it; "
            "give that repository's root.json as the bootstrap root"
        )
    if bootstrap_root is not None:
        if has_embedded:
            # sigstore's TrustUpdater silently prefers its embedded root.json for these URLs.
            raise TrustError(
                f"cannot update from {url} with bootstrap root {bootstrap_root}: "
                "sigstore ships its own TUF root for that repository and would ignore it"
            )
        if not bootstrap_root.is_file():
            raise TrustError(f"bootstrap root {bootstrap_root}: no such file")

    try:
        from pip_attest._sigstore import fetch_trusted_root  # sigstore: only to refresh

        data = fetch_trusted_root(url, bootstrap_root)
    except Exception as err:  # network, TUF verification, disk: all mean "not updated"
        raise TrustError(f"could not update the trust root from {url}: {_reason(err)}") from err

    try:
        _parse_root(data)
    except Exception as err:
        raise TrustError(
            f"{url} served a trusted_root.json that is not a Sigstore trusted root: {_reason(err)}"
        ) from err

    _install(target, data, source=url)
    return describe(target)


def import_root(src: Path, *, dest: Path | None = None) -> TrustRootInfo:
    """Install a user-supplied trust root file as the cached copy, after checking it,
    recording ``file:<src>`` as its source."""
    data = _read(ensure_root(src))
    _check(data, src)
    target = dest if dest is not None else default_root_path()
    _install(target, data, source=f"{_FILE_SOURCE_PREFIX}{src.resolve()}")
    return describe(target)


# -- helpers ----------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _sidecar_path(root: Path) -> Path:
    # trusted_root.json -> trusted_root.meta.json
    return root.with_name(root.stem + _SIDECAR_SUFFIX)


def _is_root_doc(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("mediaType", "")).startswith(_MEDIA_TYPE_PREFIX)


def _read_embedded(url: str, name: str) -> bytes:
    # sigstore 4.x embeds per-repository files as sigstore/_store/<quote(url, safe="")>/<name>
    # (see sigstore._utils.read_embedded); importlib.resources also works from a zip.
    from importlib.resources import files

    return files("sigstore._store").joinpath(quote(url, safe="")).joinpath(name).read_bytes()


def _sigstore_embeds_tuf_root(url: str) -> bool:
    try:
        _read_embedded(url, "root.json")
    except (OSError, ModuleNotFoundError):
        return False
    return True


def _embedded_production_root() -> bytes:
    what = f"cannot seed the trust root from the production {_ROOT_NAME} embedded in sigstore"
    hint = "run `pip-attest trust update`"
    try:
        data = _read_embedded(PRODUCTION_TUF_URL, _ROOT_NAME)
        doc = json.loads(data)
    except (OSError, ModuleNotFoundError, ValueError) as err:
        raise TrustError(f"{what}: {_reason(err)}; {hint}") from err
    if not _is_root_doc(doc):
        raise TrustError(f"{what}: not a trusted root; {hint}")
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise TrustError(f"trust root {path}: cannot read: {err.strerror or err}") from err


def _check(data: bytes, path: Path) -> TrustedRoot:
    try:
        return _parse_root(data)
    except Exception as err:  # sigstore raises pydantic, cryptography and its own errors
        raise TrustError(f"trust root {path}: not a Sigstore trusted root: {_reason(err)}") from err


def _parse_root(data: bytes) -> TrustedRoot:
    from pip_attest._sigstore import parse_trusted_root  # sigstore: only to install a root

    return parse_trusted_root(data)


def _install(target: Path, data: bytes, *, source: str) -> None:
    """Write the root, then its sidecar, each atomically (temp file + os.replace).

    The pair is not atomic as a whole; the sidecar's sha256 shows a torn pair, and
    ``describe`` then reports the age as unknown.
    """
    sidecar = {
        "version": _SIDECAR_VERSION,
        "source": source,
        "fetched_at": _utcnow().isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    try:
        atomic_write(target, data)
        atomic_write(_sidecar_path(target), (json.dumps(sidecar, indent=2) + "\n").encode())
    except OSError as err:
        raise TrustError(f"cannot write the trust root to {target}: {_reason(err)}") from err


def _read_sidecar(root: Path, sha256: str) -> tuple[str, datetime | None]:
    """(source, fetched_at) from the sidecar, trusted only if it describes these bytes."""
    fallback = f"{_FILE_SOURCE_PREFIX}{root}"
    try:
        meta = json.loads(_sidecar_path(root).read_bytes())
    except (OSError, ValueError):
        return fallback, None
    if not isinstance(meta, dict):
        return fallback, None
    source = meta.get("source")
    if not isinstance(source, str):
        return fallback, None
    if meta.get("sha256") != sha256:
        return f"{fallback} (changed since it came from {source})", None
    fetched_raw = meta.get("fetched_at")
    fetched_at = _parse_time(fetched_raw) if isinstance(fetched_raw, str) else None
    return source, fetched_at


# RFC 3339 as protobuf JSON writes it (0, 3, 6 or 9 fractional digits, "Z" or an offset).
# datetime.fromisoformat only learned "Z" and arbitrary fractions in 3.11.
_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


def _parse_time(text: str) -> datetime | None:
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    iso = whole + (f".{fraction[:6].ljust(6, '0')}" if fraction else "")
    iso += "+00:00" if zone in (None, "Z") else zone
    try:
        return datetime.fromisoformat(iso).astimezone(timezone.utc)
    except ValueError:
        return None


def _window(obj: Any) -> tuple[datetime | None, datetime | None]:
    if not isinstance(obj, dict):
        return None, None
    start, end = obj.get("start"), obj.get("end")
    return (
        _parse_time(start) if isinstance(start, str) else None,
        _parse_time(end) if isinstance(end, str) else None,
    )


def _entries(doc: dict[str, Any], field: str) -> list[dict[str, Any]]:
    value = doc.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError(f"{field} is not a list of objects")
    return value


def _list_keys(doc: Any) -> tuple[KeyInfo, ...]:
    if not isinstance(doc, dict):
        raise TypeError(f"expected a JSON object, got {type(doc).__name__}")
    media_type = doc.get("mediaType")
    if not isinstance(media_type, str) or not media_type.startswith(_MEDIA_TYPE_PREFIX):
        raise TypeError(f"got mediaType {media_type!r}, expected {_MEDIA_TYPE_PREFIX}…")

    keys: list[KeyInfo] = []
    for role, field in (("fulcio", "certificateAuthorities"), ("tsa", "timestampAuthorities")):
        for ca in _entries(doc, field):
            start, end = _window(ca.get("validFor"))
            keys.append(KeyInfo(role, str(ca.get("uri", "")), start, end))
    for role, field in (("rekor", "tlogs"), ("ctlog", "ctlogs")):
        for log in _entries(doc, field):
            public_key = log.get("publicKey")
            start, end = _window(
                public_key.get("validFor") if isinstance(public_key, dict) else None
            )
            log_id = log.get("logId")
            key_id = log_id.get("keyId") if isinstance(log_id, dict) else None
            keys.append(
                KeyInfo(
                    role,
                    str(log.get("baseUrl", "")),
                    start,
                    end,
                    key_id if isinstance(key_id, str) else None,
                )
            )
    return tuple(keys)
