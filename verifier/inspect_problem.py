"""Parse a KernelBench-format problem without running it (Python ``ast`` only)."""
from __future__ import annotations

import ast
import hashlib
import operator
import os
from typing import Any


def problem_hash(source: str) -> str:
    """The problem's identity in caches (prepared references, baselines): its source's hash."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]

_BINOPS: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_UNOPS: dict[type, Any] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _const_eval(node: ast.AST, env: dict[str, Any]) -> Any:
    """Evaluate a constant expression: literals, tuples/lists of them, arithmetic, earlier constants."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise ValueError("unsupported constant")
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [_const_eval(e, env) for e in node.elts]
        return vals if isinstance(node, ast.List) else tuple(vals)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _const_eval(node.left, env), _const_eval(node.right, env)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            raise ValueError("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNOPS:
        return _UNOPS[type(node.op)](_const_eval(node.operand, env))
    raise ValueError("not a constant")


def _json_safe(v: Any) -> bool:
    if isinstance(v, float):
        return v == v and v not in (float("inf"), float("-inf"))
    if isinstance(v, (list, tuple)):
        return all(_json_safe(x) for x in v)
    return isinstance(v, (int, str, bool)) or v is None


def problem_info(source: str, problem_id: str | None = None) -> dict[str, Any]:  # noqa: C901 - one check per error line
    """Return the inspect JSON for a problem source. ``ok`` is False with one clear ``error`` line."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return {"ok": False, "error": f"syntax error at line {e.lineno}: {e.msg}"}
    model: ast.ClassDef | None = None
    funcs: dict[str, ast.FunctionDef] = {}
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Model":
            model = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs[node.name] = node  # type: ignore[assignment]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None:
                continue
            for t in targets:
                if isinstance(t, ast.Name):
                    try:
                        val = _const_eval(node.value, constants)
                    except Exception:  # noqa: BLE001 - any expression it cannot evaluate is not a constant
                        constants.pop(t.id, None)
                        continue
                    if _json_safe(val):
                        constants[t.id] = list(val) if isinstance(val, tuple) else val
    if model is None:
        return {"ok": False, "error": "no class Model defined at module level"}
    forward = next((n for n in model.body if isinstance(n, ast.FunctionDef) and n.name == "forward"), None)
    if forward is None:
        return {"ok": False, "error": "class Model has no forward method"}
    for name in ("get_inputs", "get_init_inputs"):
        if name not in funcs:
            return {"ok": False, "error": f"no function {name}() defined at module level"}
    args = forward.args
    arity = len(args.posonlyargs) + len(args.args) - 1  # minus self
    if args.vararg is not None:
        arity = -1  # variadic: unknown
    n_inputs = _returned_list_length(funcs["get_inputs"])
    required = arity - len(args.defaults) if arity >= 0 else -1
    if n_inputs is not None and arity >= 0 and not (required <= n_inputs <= arity):
        return {"ok": False, "error": f"Model.forward takes {arity} input(s) but get_inputs() returns {n_inputs}"}
    return {
        "ok": True,
        "id": problem_id,
        "has_model": True,
        "has_get_inputs": True,
        "has_get_init_inputs": True,
        "forward_arity": arity,
        "constants": constants,
    }


def _returned_list_length(func: ast.FunctionDef) -> int | None:
    """Length of the list/tuple literal a function returns, when every return is one and they agree."""
    lengths = {len(n.value.elts) for n in ast.walk(func) if isinstance(n, ast.Return) and isinstance(n.value, (ast.List, ast.Tuple))
               and not any(isinstance(e, ast.Starred) for e in n.value.elts)}
    others = [n for n in ast.walk(func) if isinstance(n, ast.Return) and not isinstance(n.value, (ast.List, ast.Tuple))]
    return lengths.pop() if len(lengths) == 1 and not others else None


def inspect_file(path: str) -> dict[str, Any]:
    pid = os.path.splitext(os.path.basename(path))[0]
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except OSError as e:
        return {"ok": False, "error": f"cannot read {path}: {e.strerror}"}
    except UnicodeDecodeError:
        return {"ok": False, "error": f"{path} is not UTF-8 text"}
    return problem_info(source, pid)


# ---- hidden extra shape (shape-hardcoding check) -----------------------------------------------------
SHAPE_CONST_MIN = 8
SHAPE_NEW_MIN = 16  # never shrink below 16: tl.dot needs 16, and a block size equal to a dimension stays legal
_INPUT_FUNCS = ("get_inputs", "get_init_inputs")


def smaller_size(c: int) -> int:
    """The hidden shape's value for a size constant ``c`` (>= 8): keep c's power-of-two factor p and scale the
    odd part m = c / p to m * 3 // 4 (m > 1), or halve c when it is a power of two. Divisibility (by block
    sizes, by 8 for vector loads) and power-of-two-ness are kept, the value always shrinks:
    4096 -> 2048, 3000 (8 * 375) -> 2248, 48 (16 * 3) -> 32, 100 -> 72, 9 -> 6."""
    p = c & -c
    m = c // p
    return c // 2 if m == 1 else (m * 3 // 4) * p


def shape_variant(source: str) -> tuple[str, list[tuple[str, int, int]]] | None:  # noqa: C901 - one pass per rule
    """The problem's source with its module-level size constants shrunk (``smaller_size``; a constant whose
    new value would be below 16 is kept), and the
    changes as (name, old, new). A constant qualifies when it is an int literal >= 8 (alone or inside a
    tuple/list literal) assigned at module level and used only by ``get_inputs``/``get_init_inputs`` (or
    other constants used only there): a constant that ``Model`` or a helper reads directly is kept, since a
    candidate could learn it only by copying it. None when nothing qualifies."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    assigns: dict[str, list[ast.Assign | ast.AnnAssign]] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    assigns.setdefault(t.id, []).append(node)
    # names read outside get_inputs/get_init_inputs (Model, helpers, top-level statements), then closed over
    # the constants those names are computed from
    pinned: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _INPUT_FUNCS:
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
                isinstance(t, ast.Name) for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
            continue
        pinned |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    todo = list(pinned)
    while todo:
        name = todo.pop()
        for node in assigns.get(name, []):
            for n in ast.walk(node.value) if node.value is not None else ():
                if isinstance(n, ast.Name) and n.id not in pinned:
                    pinned.add(n.id)
                    todo.append(n.id)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # (line index, col start, col end, text)
    changes: list[tuple[str, int, int]] = []
    for name, nodes in assigns.items():
        if name in pinned or len(nodes) != 1:
            continue
        value = nodes[0].value
        elts = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]
        for e in elts:
            if (isinstance(e, ast.Constant) and type(e.value) is int and e.value >= SHAPE_CONST_MIN
                    and e.lineno == e.end_lineno and e.end_col_offset is not None):
                new = smaller_size(e.value)
                if new < SHAPE_NEW_MIN:
                    continue
                edits.append((e.lineno - 1, e.col_offset, e.end_col_offset, str(new)))
                changes.append((name, e.value, new))
    if not edits:
        return None
    # col offsets are UTF-8 byte offsets
    for li, c0, c1, text in sorted(edits, reverse=True):
        b = lines[li].encode()
        lines[li] = (b[:c0] + text.encode() + b[c1:]).decode()
    return "".join(lines), changes
