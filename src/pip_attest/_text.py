"""Quoting what an index or a signer wrote, for a one-line message.

Those strings are hostile input: a megabyte-long name, a newline and a fake "verified" row,
terminal escape sequences, a lone surrogate that cannot even be printed. Every one is
escaped and clipped before it is shown.
"""

from __future__ import annotations

from typing import Any


def plain(text: str, limit: int = 200) -> str:
    """``text`` with every non-printable character escaped, clipped to about ``limit``."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value: object, limit: int = 200) -> str:
    """``value`` quoted for a message (``repr`` escapes what is not printable), clipped."""
    if isinstance(value, str) and len(value) > limit:
        quoted = repr(value[:limit])
        return f"{quoted[:-1]}...{quoted[-1]} ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


def one_line(err: BaseException) -> str:
    """An exception's message as one clipped line with no control characters."""
    return plain(" ".join(str(err).split()) or type(err).__name__, 300)


def chain_reason(err: BaseException, limit: int = 300) -> str:
    """One line out of an exception chain: each distinct message's first line, outermost
    first, e.g. "Failed to refresh TUF metadata: timestamp was signed by 0/1 keys"."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = _first_line(current)
        # Skip empty messages (tuf raises some bare) and ones an outer message already quotes.
        if text and not any(text in p for p in parts):
            parts.append(text)
        current = current.__cause__ or current.__context__
    line = ": ".join(parts) or type(err).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_line(err: BaseException) -> str:
    errors = getattr(err, "errors", None)  # pydantic's ValidationError, without importing it
    details = _pydantic_details(errors) if callable(errors) else None
    if details:
        first = details[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "document"
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        return f"{where}: {first.get('msg', '')}{more}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror + (f": {err.filename}" if err.filename else "")
    lines = str(err).strip().splitlines()
    return lines[0].strip() if lines else ""


def _pydantic_details(errors: Any) -> list[dict[str, Any]] | None:
    try:
        details = errors()
    except Exception:  # not pydantic after all: use str(err)
        return None
    if isinstance(details, list) and details and all(isinstance(d, dict) for d in details):
        return details
    return None
