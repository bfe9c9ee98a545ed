"""Parse a KernelBench-format problem without running it (Python ``ast`` only)."""
from __future__ import annotations

import ast
import operator
import os
from typing import Any

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_UNOPS = {ast.USub: operator.neg, ast.UAdd: operator.pos}


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


def problem_info(source: str, problem_id: str | None = None) -> dict[str, Any]:
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
                    except Exception:
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
