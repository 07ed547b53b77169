"""Console-script launchers: the one kind of installed code that no wheel contains.

An installer writes ``<scripts>/NAME`` for every ``console_scripts`` and ``gui_scripts``
entry point a wheel declares. Its text comes from the installer (pip's, through distlib,
has changed across releases; uv writes its own), so it cannot be compared with anything
attested. What can be checked is that it does nothing else: after its ``#!`` line (or the
``/bin/sh`` trampoline used for long interpreter paths), the launcher must be exactly the
shape every known template has, importing the declared object and calling it:

    import re / import sys
    from MODULE import NAME
    if __name__ == '__main__':
        sys.argv[0] = <sys.argv[0] with a suffix removed>      (any number, or if/elif)
        sys.exit(NAME.ATTR())

Anything more (one extra import, one extra call) makes it not a launcher.
"""

from __future__ import annotations

import ast
import re

MAX_LAUNCHER_BYTES = 64 * 1024
# What an installer writes before a launcher's (or a #!python script's) code: "#!" and the
# interpreter's absolute path, nothing after it (the kernel passes the rest of the line as
# an argument: "#!/usr/bin/env -S sh -c CMD" runs CMD); or, for a long path or one with
# spaces, the /bin/sh trampoline exec'ing one path, bare or quoted so that the shell
# expands nothing in it (uv's relocatable one finds the interpreter next to the launcher).
_EXEC_PATH = rb"(?:/[A-Za-z0-9_.+,:@%=/-]*|'/[^'\n]*'|\"/[^\"$`\\\n]*\")"
_RELOCATABLE = rb"\"\$\(dirname -- \"\$\(realpath -- \"\$0\"\)\"\)\"/'[A-Za-z0-9_.-]+'"
_TRAMPOLINE = re.compile(
    rb"#!/bin/sh\n'''exec' (?:" + _EXEC_PATH + rb"|" + _RELOCATABLE + rb") \"\$0\" \"\$@\"\n' '''\n"
)
INTERPRETER_LINES = re.compile(rb"#!/\S+\n|" + _TRAMPOLINE.pattern)
INTERPRETER_PROBLEM = "its #! line runs more than an interpreter"
_ENTRY = re.compile(
    r"^(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+))?\s*(\[[^\]]*\])?\s*$", re.UNICODE
)


def _argv0(node: ast.AST) -> bool:
    """``sys.argv[0]``."""
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == 0
        and _dotted(node.value) == "sys.argv"
    )


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (str, int))


def _value(node: ast.AST) -> bool:
    """What a template assigns to ``sys.argv[0]``."""
    if _constant(node) or _argv0(node):
        return True
    if isinstance(node, ast.Subscript) and _argv0(node.value):  # sys.argv[0][:-4]
        s = node.slice
        return (
            isinstance(s, ast.Slice)
            and s.step is None
            and all(p is None or _constant(p) or _negative(p) for p in (s.lower, s.upper))
        )
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if _dotted(func) == "re.sub":  # re.sub(PATTERN, '', sys.argv[0])
            return (
                len(node.args) == 3
                and _constant(node.args[0])
                and _constant(node.args[1])
                and (_argv0(node.args[2]))
            )
        if isinstance(func, ast.Attribute) and func.attr == "removesuffix" and _argv0(func.value):
            return len(node.args) == 1 and _constant(node.args[0])
    return False


def _negative(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _constant(node.operand)
    )


def _test(node: ast.AST) -> bool:
    """``sys.argv[0].endswith('-script.pyw')``."""
    return (
        isinstance(node, ast.Call)
        and not node.keywords
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "endswith"
        and _argv0(node.func.value)
        and len(node.args) == 1
        and _constant(node.args[0])
    )


def _body(statements: list[ast.stmt], call: str) -> bool:
    """The ``if __name__ == '__main__':`` block: argv fixes, then ``sys.exit(call())``."""
    if not statements:
        return False
    *fixes, last = statements
    for stmt in fixes:
        if not _fix(stmt):
            return False
    return (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and _dotted(last.value.func) == "sys.exit"
        and len(last.value.args) == 1
        and not last.value.keywords
        and isinstance(last.value.args[0], ast.Call)
        and not last.value.args[0].args
        and not last.value.args[0].keywords
        and _dotted(last.value.args[0].func) == call
    )


def _fix(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Assign):
        return len(stmt.targets) == 1 and _argv0(stmt.targets[0]) and _value(stmt.value)
    if isinstance(stmt, ast.If):
        return (
            _test(stmt.test)
            and all(_fix(s) for s in stmt.body)
            and all(_fix(s) for s in stmt.orelse)
        )
    return False


def launcher_problem(content: bytes, entry_point: str) -> str:
    """Why ``content`` is not a launcher for ``entry_point`` (``""`` when it is one)."""
    match = _ENTRY.match(entry_point)
    if match is None:
        return f"its entry point {entry_point[:80]!r} is not one an installer can launch"
    module, attr = match["module"], match["attr"] or ""
    if not attr:
        return f"its entry point {entry_point[:80]!r} names no function"
    if not content.startswith(b"#!"):
        return "it has no #! line"
    trampoline = _TRAMPOLINE.match(content) is not None
    if not trampoline and INTERPRETER_LINES.match(content) is None:
        return INTERPRETER_PROBLEM
    if len(content) > MAX_LAUNCHER_BYTES:
        return f"it is larger than {MAX_LAUNCHER_BYTES} bytes"
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "it is not Python"
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if not trampoline:
            # A string no installer writes there, which a shell named on the #! line runs.
            return INTERPRETER_PROBLEM
        body = body[1:]  # the /bin/sh trampoline's exec line, a string to Python
    import_name = attr.split(".")[0]
    imported = False
    for stmt in body[:-1]:
        if isinstance(stmt, ast.Import) and all(
            a.name in ("re", "sys") and a.asname is None for a in stmt.names
        ):
            continue
        if (
            isinstance(stmt, ast.ImportFrom)
            and not imported
            and stmt.level == 0
            and stmt.module == module
            and [(a.name, a.asname) for a in stmt.names] == [(import_name, None)]
        ):
            imported = True
            continue
        return "it runs more than the launcher of its entry point"
    if not imported or not body:
        return f"it does not import {module}"
    main = body[-1]
    if not (
        isinstance(main, ast.If)
        and not main.orelse
        and isinstance(main.test, ast.Compare)
        and _dotted(main.test.left) == "__name__"
        and len(main.test.ops) == 1
        and isinstance(main.test.ops[0], ast.Eq)
        and len(main.test.comparators) == 1
        and isinstance(main.test.comparators[0], ast.Constant)
        and main.test.comparators[0].value == "__main__"
        and _body(main.body, attr)
    ):
        return f"it does more than call {module}:{attr}"
    return ""
