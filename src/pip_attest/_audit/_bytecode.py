"""Bytecode: the ``__pycache__/*.pyc`` files Python runs instead of their source.

pip writes compiled files at install time and lists them in RECORD *without a hash*, and
Python writes more at import time, listed nowhere. Python loads a ``.pyc`` instead of its
source whenever its header matches the source (size and modification time, or a hash of the
source, or, for an *unchecked* hash-based ``.pyc``, always), so a planted ``.pyc`` runs
code that no RECORD, wheel or attestation names, next to an untouched ``.py``.

So every ``.pyc`` that Python *would* load for a source the distribution installed is
compiled again from that source, and the two code objects must be equal (code objects
compare their bytecode, constants, names and line tables; not their file name). A ``.pyc``
Python would not load (stale, or another interpreter's) runs nothing and is skipped. The
byte strings themselves cannot be compared: ``marshal`` output depends on reference counts
at the time of writing. Checking needs the interpreter that wrote the file: a ``.pyc`` for
another Python is counted as not checked.

Reading a ``.pyc`` means ``marshal.loads`` of the environment's bytes; it is done only for
files Python itself would load (and so run) on the next import.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import re
import sys
from typing import NamedTuple

MAX_PYC_BYTES = 64 * 1024 * 1024
MAX_SOURCE_BYTES = 64 * 1024 * 1024
MAGIC = importlib.util.MAGIC_NUMBER
TAG = sys.implementation.cache_tag or ""
_PYC = re.compile(r"^(?P<stem>[^.]+)\.(?P<tag>[A-Za-z0-9_-]+)(\.opt-(?P<opt>[12]))?\.pyc$")


class PycName(NamedTuple):
    source: str  # the source's RECORD-style path: "pkg/mod.py"
    tag: str
    optimize: int


def pyc_name(path: str) -> PycName | None:
    """``pkg/__pycache__/mod.cpython-311.opt-1.pyc`` → ``pkg/mod.py``, its tag and level."""
    folder, _, name = path.rpartition("/")
    parent, _, cache = folder.rpartition("/")
    if cache != "__pycache__":
        return None
    match = _PYC.match(name)
    if match is None:
        return None
    source = f"{parent}/{match['stem']}.py" if parent else f"{match['stem']}.py"
    return PycName(source, match["tag"], int(match["opt"] or 0))


def pyc_names_for(source: str, names: list[str]) -> list[str]:
    """The entries of a ``__pycache__`` listing that are compiled forms of ``source``."""
    stem = source.rsplit("/", 1)[-1][: -len(".py")]
    return [n for n in names if n.startswith(stem + ".") and n.endswith(".pyc")]


class Verdict(NamedTuple):
    state: str  # same | differs | stale | foreign
    detail: str = ""


def check_pyc(
    pyc: bytes, source: bytes, source_stat: os.stat_result, name: PycName, *, proven: bool = False
) -> Verdict:
    """Whether Python would load ``pyc`` for ``source``, and if so whether it is that
    source compiled. ``proven``: these very bytes were found to be that source compiled
    before (the audit's cache), so only whether Python would load them is checked."""
    if name.tag != TAG:
        return Verdict("foreign", f"bytecode for {name.tag}")
    if len(pyc) < 16 or pyc[:4] != MAGIC:
        return Verdict("stale")  # another magic: Python compiles the source again
    flags = int.from_bytes(pyc[4:8], "little")
    if flags & ~0b11:
        return Verdict("stale")  # Python refuses such a header and compiles the source
    if flags & 0b1:  # hash-based
        if flags & 0b10:  # checked: loaded when the source's hash matches
            import _imp

            mode = getattr(_imp, "check_hash_based_pycs", "default")
            if mode != "never" and _imp.source_hash(_key(), source) != pyc[8:16]:
                return Verdict("stale")
        # unchecked: Python loads it whatever the source says
    else:
        mtime = int.from_bytes(pyc[8:12], "little")
        size = int.from_bytes(pyc[12:16], "little")
        if mtime != int(source_stat.st_mtime) & 0xFFFFFFFF or size != source_stat.st_size & (
            0xFFFFFFFF
        ):
            return Verdict("stale")
    if proven:
        return Verdict("same")
    try:
        loaded = marshal.loads(pyc[16:])  # noqa: S302 - only what Python itself would load
    except (ValueError, EOFError, TypeError, RecursionError, MemoryError) as err:
        return Verdict("differs", f"Python would load it and fail: {type(err).__name__}")
    try:
        compiled = compile(source, name.source, "exec", dont_inherit=True, optimize=name.optimize)
    except (SyntaxError, ValueError) as err:
        return Verdict("differs", f"its source does not compile ({type(err).__name__})")
    if type(loaded) is not type(compiled) or loaded != compiled:
        return Verdict("differs", "it is not its source compiled")
    return Verdict("same")


def _key() -> int:
    """The key ``importlib`` hashes sources with for hash-based ``.pyc`` files."""
    from importlib import _bootstrap_external

    return int(getattr(_bootstrap_external, "_RAW_MAGIC_NUMBER", 0))
