"""Quoting what an index or a signer wrote, for a one-line message.

Those strings are hostile input: a megabyte-long name, a newline and a fake "verified" row,
terminal escape sequences, a lone surrogate that cannot even be printed. Every one is
escaped and clipped before it is shown.
"""

from __future__ import annotations


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
