"""FlexAttention-style attention variants: a small spec file -> a KernelBench-format problem, plus baselines.

A variant spec (``problems/attention/variants/NAME.py``) declares its mods the way PyTorch's FlexAttention does::

    B, H, S, D = 1, 2, 64, 32          # or one constant a line
    DTYPE = "float32"                  # "float32", "bfloat16" or "float16"
    GRID = (8, 8)                      # optional: 2D variants, S = GRID[0] * GRID[1]

    def score_mod(score, b, h, q_idx, kv_idx):   # optional if mask_mod is given
        return score + (q_idx - kv_idx)

    def mask_mod(b, h, q_idx, kv_idx):           # optional: True where q_idx may attend to kv_idx
        return q_idx >= kv_idx

Commands (each prints to stdout; exit status 1 on a bad spec)::

    python -m verifier.attention validate SPEC.py [--set NAME=VALUE ...]   # one JSON object
    python -m verifier.attention render SPEC.py [--batch 4 --heads 16 --seq 4096 --dim 128 --dtype bfloat16]

``render`` writes a self-contained problem: the spec's constants, helpers and mods inlined, a ``Model`` that
materialises the exact attention in fp32, ``get_inputs()`` and ``get_init_inputs()``. ``baselines()`` builds
FlexAttention and SDPA callables for the verifier's timing (CUDA). torch is imported lazily, like the rest of
the package; nothing touches CUDA at import time. Validation executes the spec file: only load specs you trust.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import sys
import textwrap
import types
import zlib
from typing import Any, Callable

DTYPES = ("float32", "bfloat16", "float16")
SHAPE_NAMES = ("B", "H", "S", "D")
MOD_ARGS = {"score_mod": ("score", "b", "h", "q_idx", "kv_idx"), "mask_mod": ("b", "h", "q_idx", "kv_idx")}
# names the rendered problem defines itself; a spec must not define them
RESERVED = ("Model", "ModelNew", "get_inputs", "get_init_inputs", "math", "torch", "nn")
HEADER_IMPORTS = ("import math", "import torch", "import torch.nn as nn")
HEADER = "import math\n\nimport torch\nimport torch.nn as nn"
TINY = (2, 2, 8, 8)  # (B, H, q_len, kv_len) at most, for the first mod check
FULL_CHECK_LIMIT = 1 << 24  # the mods are also run at the spec's own shape when B*H*S*S is at most this
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SpecError(Exception):
    """A spec that cannot be used; the message is one line meant for the user."""


# --------------------------------------------------------------------------------------------- spec source

def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    msg = f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")
    return msg if len(msg) <= 240 else msg[:237] + "..."


def _literal(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_literal(x) for x in v)
        return f"({inner},)" if isinstance(v, tuple) and len(v) == 1 else (f"({inner})" if isinstance(v, tuple)
                                                                          else f"[{inner}]")
    return repr(v)


def _assigned_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text") from None


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as e:
        raise SpecError(f"syntax error at line {e.lineno}: {e.msg}") from None


def apply_overrides(source: str, overrides: dict[str, Any] | None) -> str:
    """Replace top-level ``NAME = ...`` assignments with the given values (same number of lines).

    When S changes and the spec has a GRID that is not overridden, GRID becomes the square grid (r, r) with
    r * r == S. Constants computed from the overridden ones (``WINDOW = S // 4``) follow them."""
    overrides = dict(overrides or {})
    if not overrides:
        return source
    tree = _parse(source)
    assigned = {_assigned_name(n) for n in tree.body}
    s_new = overrides.get("S")
    if isinstance(s_new, int) and s_new > 0 and "GRID" in assigned and "GRID" not in overrides:
        r = math.isqrt(s_new)
        if r * r != overrides["S"]:
            raise SpecError(f"S={overrides['S']} is not a perfect square, so the 2D GRID cannot follow it; "
                            "set GRID too (--set 'GRID=(h, w)')")
        overrides["GRID"] = (r, r)
    for name in overrides:
        if name not in assigned:
            raise SpecError(f"cannot set {name}: the spec has no top-level assignment '{name} = ...'")
    lines = source.splitlines()
    for node in sorted(tree.body, key=lambda n: -n.lineno):  # bottom up, so line numbers stay valid
        target = _assigned_name(node)
        if target is not None and target in overrides and node.end_lineno is not None:
            old = " ".join(ln.strip() for ln in lines[node.lineno - 1:node.end_lineno])
            new = f"{target} = {_literal(overrides[target])}  # set at render time; the spec has: {old}"
            span = node.end_lineno - node.lineno + 1
            lines[node.lineno - 1:node.end_lineno] = [new] + [""] * (span - 1)
    return "\n".join(lines) + "\n"


def _check_arity(fn: ast.FunctionDef) -> None:
    want = MOD_ARGS[fn.name]
    a = fn.args
    n = len(a.posonlyargs) + len(a.args)
    if a.vararg or a.kwarg or a.kwonlyargs or n != len(want):
        got = "*args/**kwargs" if (a.vararg or a.kwarg) else ("keyword-only arguments" if a.kwonlyargs
                                                               else f"{n}")
        raise SpecError(f"{fn.name} must take exactly {len(want)} positional arguments ({', '.join(want)}); "
                        f"it takes {got} (line {fn.lineno})")


_KINDS = {"Expr": "an expression statement", "AsyncFunctionDef": "an async function", "ClassDef": "a class",
          "If": "an if statement", "For": "a loop", "While": "a loop", "With": "a with block", "Try": "a try block"}


def _check_structure(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    mods: dict[str, ast.FunctionDef] = {}
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            continue  # docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.FunctionDef):
            names = [node.name]
            if node.name in MOD_ARGS:
                _check_arity(node)
                mods[node.name] = node
        else:
            what = _KINDS.get(type(node).__name__, f"a {type(node).__name__} statement")
            raise SpecError(f"line {node.lineno}: a spec's top level may hold only imports, constant assignments "
                            f"and functions, not {what}")
        for name in names:
            if name in RESERVED:
                raise SpecError(f"line {node.lineno}: a spec must not define '{name}' (the rendered problem "
                                "defines it)")
    if not mods:
        raise SpecError("no score_mod or mask_mod function defined at module level")
    return mods


def _exec(source: str, path: str, name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = path
    try:
        code = compile(source, path, "exec")
        exec(code, mod.__dict__)  # a spec is the user's own code
    except SpecError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure is the spec's fault
        tb, line = e.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == path:
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f" (line {line})" if line else ""
        raise SpecError(f"the spec failed to run{where}: {_one_line(e)}") from None
    return mod


def _check_constants(mod: types.ModuleType) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for name in SHAPE_NAMES:
        if not hasattr(mod, name):
            raise SpecError(f"missing constant {name} (the spec needs B, H, S, D and DTYPE)")
        val = getattr(mod, name)
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise SpecError(f"{name} must be a positive int, got {val!r}")
        shape[name] = val
    if not hasattr(mod, "DTYPE"):
        raise SpecError("missing constant DTYPE (one of " + ", ".join(repr(d) for d in DTYPES) + ")")
    if not isinstance(mod.DTYPE, str) or mod.DTYPE not in DTYPES:
        raise SpecError(f"DTYPE must be a string, one of {', '.join(repr(d) for d in DTYPES)}; got {mod.DTYPE!r}")
    if hasattr(mod, "GRID"):
        g = mod.GRID
        if not (isinstance(g, (tuple, list)) and len(g) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in g)):
            raise SpecError(f"GRID must be a pair of positive ints (h, w), got {g!r}")
        if g[0] * g[1] != shape["S"]:
            raise SpecError(f"GRID {tuple(g)} has {g[0] * g[1]} cells but S = {shape['S']}; S must be h * w")
        shape["GRID"] = [g[0], g[1]]
    return shape


def index_tensors(batch: int, heads: int, q_len: int, kv_len: int, device: Any = "cpu") -> tuple[Any, ...]:
    """b, h, q_idx, kv_idx as FlexAttention passes them (int32), shaped to broadcast to [B, H, Q, KV]."""
    import torch

    kw = {"dtype": torch.int32, "device": device}
    return (torch.arange(batch, **kw).view(-1, 1, 1, 1), torch.arange(heads, **kw).view(1, -1, 1, 1),
            torch.arange(q_len, **kw).view(1, 1, -1, 1), torch.arange(kv_len, **kw).view(1, 1, 1, -1))


def _run_mods(mod: types.ModuleType, bhqk: tuple[int, int, int, int]) -> Any:
    """Call the mods on index tensors of shape ``bhqk``; return the keep mask (or None) after checking both."""
    import torch

    shape = tuple(bhqk)
    idx = index_tensors(*shape)
    where = f"on index tensors of shape {shape}"
    keep = None
    with torch.no_grad():
        if getattr(mod, "score_mod", None) is not None:
            score = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 3
            try:
                out = mod.score_mod(score.clone(), *idx)
            except Exception as e:  # noqa: BLE001
                raise SpecError(f"score_mod failed {where}: {_one_line(e)}") from None
            if not isinstance(out, torch.Tensor):
                raise SpecError(f"score_mod must return a tensor, got {type(out).__name__} {where}")
            if not out.is_floating_point():
                raise SpecError(f"score_mod must return a floating-point tensor, got {out.dtype} {where}")
            if _broadcast(out.shape, shape) != shape:
                raise SpecError(f"score_mod returned shape {tuple(out.shape)} {where}; it must be elementwise "
                                "(broadcastable to the scores' shape)")
            if torch.isnan(out).any():
                raise SpecError(f"score_mod returned NaN {where}")
        if getattr(mod, "mask_mod", None) is not None:
            try:
                keep = mod.mask_mod(*idx)
            except Exception as e:  # noqa: BLE001
                raise SpecError(f"mask_mod failed {where}: {_one_line(e)}") from None
            if not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool:
                got = keep.dtype if isinstance(keep, torch.Tensor) else type(keep).__name__
                raise SpecError(f"mask_mod must return a bool tensor, got {got} {where}")
            if _broadcast(keep.shape, shape) != shape:
                raise SpecError(f"mask_mod returned shape {tuple(keep.shape)} {where}; it must be elementwise "
                                "(broadcastable to the scores' shape)")
    return keep


def _modname(spec_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", spec_id)


def _broadcast(a: Any, b: tuple[int, ...]) -> tuple[int, ...] | None:
    import torch

    try:
        return tuple(torch.broadcast_shapes(tuple(a), b))
    except RuntimeError:
        return None


def _analyse(path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything ``validate`` checks; raises SpecError. Returns the pieces ``render`` needs too."""
    spec_id = os.path.splitext(os.path.basename(path))[0]
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", spec_id):
        raise SpecError(f"the file name becomes the problem id: letters, digits, '_', '-', '.' only; got {spec_id!r}")
    original = _read(path)
    tree = _parse(original)  # syntax errors are reported on the user's own file
    source = apply_overrides(original, overrides)
    tree = _parse(source)
    mods = _check_structure(tree)
    name = f"kernel_search_attention_spec_{_modname(spec_id)}_{zlib.crc32(source.encode()):08x}"
    mod = _exec(source, path, name)
    sys.modules[name] = mod  # torch.compile may look a function's module up
    for fn in mods:
        if not isinstance(getattr(mod, fn, None), types.FunctionType):
            raise SpecError(f"{fn} is not a function after the spec ran (was it reassigned?)")
    shape = _check_constants(mod)
    b, h, s = shape["B"], shape["H"], shape["S"]
    _run_mods(mod, (min(b, TINY[0]), min(h, TINY[1]), min(s, TINY[2]), min(s, TINY[3])))
    if b * h * s * s <= FULL_CHECK_LIMIT:
        keep = _run_mods(mod, (b, h, s, s))
        if keep is not None and not bool(keep.any()):
            raise SpecError(f"mask_mod masks every (q_idx, kv_idx) pair at B={b} H={h} S={s}: the output would "
                            "be all zeros")
    return {"id": spec_id, "source": source, "tree": tree, "module": mod, "shape": shape, "mods": mods,
            "overrides": dict(overrides or {})}


def validate(path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"ok": true, "id", "has_score_mod", "has_mask", "shape", "dtype"}`` or ``{"ok": false, "error"}``."""
    try:
        a = _analyse(path, overrides)
    except SpecError as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True, "id": a["id"], "has_score_mod": "score_mod" in a["mods"], "has_mask": "mask_mod" in a["mods"],
            "shape": a["shape"], "dtype": a["module"].DTYPE}


def load_spec(path: str, overrides: dict[str, Any] | None = None) -> types.ModuleType:
    """The validated spec as a module (constants and mods); raises SpecError."""
    return _analyse(path, overrides)["module"]


# ------------------------------------------------------------------------------------------------ render

def _display_path(path: str) -> str:
    full = os.path.abspath(path)
    if full.startswith(REPO + os.sep):
        return os.path.relpath(full, REPO).replace(os.sep, "/")
    return os.path.basename(path)


def _docstring(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{text}\n"""'


def _forward(has_score: bool, has_mask: bool) -> str:
    lines = [
        "    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:",
        "        # q, k, v: [B, H, S, D] in DTYPE; the S x S scores are materialised in fp32",
        "        batch, heads, q_len, head_dim = q.shape",
        "        kv_len = k.shape[-2]",
        "        scale = 1.0 / math.sqrt(head_dim)",
        "        scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) * scale  # [B, H, S, S]",
        "        # the indices as FlexAttention passes them (int32), shaped to broadcast against the scores",
        "        idx = {\"dtype\": torch.int32, \"device\": q.device}",
        "        b = torch.arange(batch, **idx).view(-1, 1, 1, 1)",
        "        h = torch.arange(heads, **idx).view(1, -1, 1, 1)",
        "        q_idx = torch.arange(q_len, **idx).view(1, 1, -1, 1)",
        "        kv_idx = torch.arange(kv_len, **idx).view(1, 1, 1, -1)",
    ]
    if has_score:
        lines.append("        scores = torch.broadcast_to(score_mod(scores, b, h, q_idx, kv_idx).float(), scores.shape)")
    if has_mask:
        lines += [
            "        keep = torch.broadcast_to(mask_mod(b, h, q_idx, kv_idx), scores.shape)  # True: may attend",
            "        scores = scores.masked_fill(~keep, float(\"-inf\"))",
            "        probs = torch.softmax(scores, dim=-1)",
            "        # a query row with every key masked gets probability 0 everywhere (output 0, as FlexAttention",
            "        # returns), not the NaN that softmax of an all -inf row gives",
            "        probs = torch.where(keep.any(dim=-1, keepdim=True), probs, 0.0)",
        ]
    else:
        lines.append("        probs = torch.softmax(scores, dim=-1)")
    lines.append("        return torch.matmul(probs, v.float()).to(q.dtype)")
    return "\n".join(lines)


FP32_TOL_PER_KEY = 2.0 ** -21  # ~4 float32 ulps of 1 per key position: 2e-3 at S = 4096
FP32_TOL_MAX = 4e-3  # bf16 attention errs by ~1e-2: a downgrade must still fail


def fp32_tolerance(dtype: str, seq_len: int) -> float | None:
    """atol = rtol for an fp32 attention problem of sequence length S, or None where the default 1e-4 holds.

    The reference rounds scores to fp32, and position terms make them as large as ~S (relative position:
    |q_idx - kv_idx| up to S - 1), so its own error grows with S: on an H100 a correct online-softmax
    kernel differed from it by 1.4e-4 at S = 1024 and 5.7e-4 at S = 4096 (docs/benchmarks.md), which
    the default 1e-4 rejects. The allowance grows with S, stays 3-4x above those errors and well below
    what computing in bf16 or fp16 costs."""
    if dtype != "float32":
        return None
    tol = min(FP32_TOL_MAX, seq_len * FP32_TOL_PER_KEY)
    return tol if tol > 1e-4 else None


def render(path: str, overrides: dict[str, Any] | None = None) -> str:
    """The self-contained KernelBench-format problem source for a spec; raises SpecError."""
    a = _analyse(path, overrides)
    source, tree, shape = a["source"], a["tree"], a["shape"]
    lines = source.splitlines()
    has_score, has_mask = "score_mod" in a["mods"], "mask_mod" in a["mods"]

    extra_imports: list[str] = []
    chunks: list[tuple[str, str]] = []  # (kind, text) in the spec's order
    prev_end = 0
    for i, node in enumerate(tree.body):
        start, end = prev_end, node.end_lineno
        prev_end = end
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring goes into the problem's docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            text = ast.get_source_segment(source, node) or ""
            if text not in HEADER_IMPORTS and text not in extra_imports:
                extra_imports.append(text)
            continue
        text = "\n".join(lines[start:end]).strip("\n")  # with the comments just above the statement
        chunks.append(("def" if isinstance(node, ast.FunctionDef) else "const", text))

    body = ""
    for j, (kind, text) in enumerate(chunks):
        if j:
            body += "\n\n\n" if kind == "def" or chunks[j - 1][0] == "def" else "\n"
        body += text

    doc = ast.get_docstring(tree) or "(The spec has no docstring.)"
    order = {n: i for i, n in enumerate(SHAPE_NAMES + ("DTYPE",))}
    sets = ", ".join(f"{k}={_literal(v)}" for k, v in
                     sorted(a["overrides"].items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    mods_text = " and ".join(m for m in ("score_mod", "mask_mod") if m in a["mods"])
    steps = "out = softmax(scores) @ v with scores = q @ k^T / sqrt(D)"
    steps += ", then score_mod applied to every score" if has_score else ""
    steps += ", and the pairs that mask_mod rejects set to -inf" if has_mask else ""
    generated = [
        f"Rendered from {_display_path(path)} by `python -m verifier.attention render`"
        + (f" with {sets}" if sets else "") + "; edit the spec, not this file.",
        steps + f". {mods_text} {'is' if len(a['mods']) == 1 else 'are'} written as for PyTorch's FlexAttention: "
        "b, h, q_idx and kv_idx are int32 indices (batch, head, query position, key position)"
        + ("; score is the fp32 score and score_mod returns the new one" if has_score else "")
        + ("; mask_mod returns True where query q_idx may attend to key kv_idx" if has_mask else "")
        + ". The reference applies the mods to whole index tensors by broadcasting and materialises the "
        "[S, S] score matrix in fp32."
        + (" A query whose every key is masked outputs 0 (as FlexAttention does), not NaN." if has_mask else ""),
        f"Inputs q, k, v: [B, H, S, D] = [{shape['B']}, {shape['H']}, {shape['S']}, {shape['D']}] in "
        f"{a['module'].DTYPE}; output: the same shape and dtype.",
    ]
    desc = [f"Attention variant `{a['id']}`.", "", doc.strip()]
    for para in generated:
        glued = "`".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(para.split("`")))
        text = textwrap.fill(glued, width=100, break_long_words=False, break_on_hyphens=False)
        desc += ["", text.replace("\0", " ")]  # code spans stay on one line

    tol = fp32_tolerance(a["module"].DTYPE, shape["S"]) if not {"ATOL", "RTOL"} & set(vars(a["module"])) else None
    if tol is not None:
        body += ("\n\n# fp32 at this S: the reference's own rounding of scores as large as ~S (docs/attention.md)\n"
                 f"ATOL = {tol!r}\nRTOL = {tol!r}")
    out = [_docstring("\n".join(desc)), "", HEADER]
    if extra_imports:
        out += ["", "\n".join(extra_imports)]
    out += ["", body, "", "",
            "class Model(nn.Module):",
            "    def __init__(self):",
            "        super().__init__()",
            "",
            _forward(has_score, has_mask),
            "", "",
            "def get_inputs():",
            "    dtype = getattr(torch, DTYPE)",
            "    q = torch.randn(B, H, S, D, dtype=dtype)",
            "    k = torch.randn(B, H, S, D, dtype=dtype)",
            "    v = torch.randn(B, H, S, D, dtype=dtype)",
            "    return [q, k, v]",
            "", "",
            "def get_init_inputs():",
            "    return []",
            ""]
    return "\n".join(out)


def load_problem(path: str, overrides: dict[str, Any] | None = None) -> types.ModuleType:
    """Render the spec and run the result: a module with Model, get_inputs, the constants and the mods."""
    source = render(path, overrides)
    spec_id = os.path.splitext(os.path.basename(path))[0]
    name = f"kernel_search_attention_problem_{_modname(spec_id)}_{zlib.crc32(source.encode()):08x}"
    mod = _exec(source, f"<rendered {spec_id}>", name)
    sys.modules[name] = mod  # torch.compile looks functions' modules up
    setattr(mod, "RENDERED_SOURCE", source)  # noqa: B010 - a new attribute of a module object
    return mod


# --------------------------------------------------------------------------------------------- baselines

class Baseline:
    """A zero-argument callable with a note on how it expresses the variant."""

    def __init__(self, fn: Callable[[], Any], how: str, exact: bool = True):
        self.fn, self.how, self.exact = fn, how, exact

    def __call__(self) -> Any:
        return self.fn()

    def __repr__(self) -> str:
        return f"Baseline({self.how!r}, exact={self.exact})"


def _is_additive(score_mod: Callable, bhqk: tuple[int, int, int, int]) -> bool:
    """True when score_mod(s) == s + score_mod(0) for random s: the variant is a bias, SDPA can take it."""
    import torch

    idx = index_tensors(*bhqk)
    g = torch.Generator().manual_seed(1)
    zero = torch.broadcast_to(score_mod(torch.zeros(bhqk), *idx).float(), bhqk)
    for scale in (1.0, 10.0):
        s = torch.randn(bhqk, generator=g) * scale
        got = torch.broadcast_to(score_mod(s.clone(), *idx).float(), bhqk)
        if not torch.allclose(got, s + zero, rtol=1e-5, atol=1e-4 * scale, equal_nan=True):
            return False
    return True


def unmasked_pairs(module: Any, batch: int, heads: int, q_len: int, kv_len: int, device: Any = "cpu") -> int:
    """How many (b, h, q_idx, kv_idx) the mask keeps (all of them without a mask_mod)."""
    import torch

    total = batch * heads * q_len * kv_len
    mask_mod = getattr(module, "mask_mod", None)
    if mask_mod is None:
        return total
    with torch.no_grad():
        keep = mask_mod(*index_tensors(batch, heads, q_len, kv_len, device))
    return int(keep.sum().item()) * (total // keep.numel())


def baselines(spec_module_or_path: Any, q: Any, k: Any, v: Any, compile: bool = True) -> dict[str, Baseline]:
    """Zero-argument callables computing the variant on q, k, v ([B, H, S, D]), for timing on CUDA.

    ``flex_attention``: torch.compile(flex_attention) with the spec's score_mod and a block mask built by
    create_block_mask from its mask_mod (``compile=False`` runs FlexAttention's unfused eager path, for CPU
    tests). ``sdpa``: F.scaled_dot_product_attention with ``is_causal=True`` when the mask is exactly causal and
    there is no score_mod, else with an attention-mask tensor: a bool mask for a mask_mod alone, or an additive
    bias in q's dtype (score_mod(0), masked pairs at -inf) when score_mod adds a term independent of the score.
    Absent when score_mod is not additive (soft-capping): SDPA cannot express it. ``exact`` is False when the
    bias does not survive the cast to q's dtype (bf16 holds integers exactly only up to 256).

    A path is loaded with B, H, S, D and DTYPE taken from q; a module must already have q's shape, since mods
    may read the constants (ALiBi's slopes depend on H, a 2D neighbourhood on GRID)."""
    import torch
    import torch.nn.functional as F

    batch, heads, q_len, _ = q.shape
    kv_len = k.shape[-2]
    if isinstance(spec_module_or_path, (str, os.PathLike)):
        dtype_name = str(q.dtype).replace("torch.", "")
        mod = load_spec(os.fspath(spec_module_or_path),
                        {"B": batch, "H": heads, "S": q_len, "D": q.shape[-1], "DTYPE": dtype_name})
    else:
        mod = spec_module_or_path
        want = {"B": batch, "H": heads, "S": q_len, "D": q.shape[-1]}
        have = {n: getattr(mod, n) for n in want if hasattr(mod, n)}
        if any(have[n] != want[n] for n in have):
            raise ValueError(f"the spec module's constants {have} do not match q's shape {want}; load the spec "
                             "with load_spec(path, overrides) or pass its path")
    score_mod = getattr(mod, "score_mod", None)
    mask_mod = getattr(mod, "mask_mod", None)
    dev = q.device
    out: dict[str, Baseline] = {}

    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    keep: Any = None
    if mask_mod is not None:
        with torch.no_grad():
            keep = mask_mod(*index_tensors(batch, heads, q_len, kv_len, dev))
    block_mask = None
    if mask_mod is not None:
        # a mask that does not depend on b (or h) broadcasts over it: build the block mask once, not per batch/head
        bm = batch if keep.dim() == 4 and keep.shape[0] > 1 else None
        hm = heads if keep.dim() >= 3 and keep.shape[-3] > 1 else None
        block_mask = create_block_mask(mask_mod, bm, hm, q_len, kv_len, device=dev)
    flex = torch.compile(flex_attention, dynamic=False) if compile else flex_attention
    out["flex_attention"] = Baseline(lambda: flex(q, k, v, score_mod=score_mod, block_mask=block_mask),
                                     "FlexAttention" + (" (compiled)" if compile else " (eager, unfused)"))

    shape4 = (batch, heads, q_len, kv_len)
    if score_mod is None:
        causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=dev).tril()
        if q_len == kv_len and bool((keep == causal).all()):
            out["sdpa"] = Baseline(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), "is_causal")
        else:
            mask = keep.contiguous()
            out["sdpa"] = Baseline(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), "bool mask")
    else:
        tiny = (min(batch, TINY[0]), min(heads, TINY[1]), min(q_len, TINY[2]), min(kv_len, TINY[3]))
        with torch.no_grad():
            additive = _is_additive(score_mod, tiny)
            if additive:
                bias = score_mod(torch.zeros((), device=dev), *index_tensors(*shape4, dev)).float()
                bias = torch.broadcast_to(bias, torch.broadcast_shapes(bias.shape, (1, 1, q_len, kv_len)))
                if keep is not None:
                    bias = torch.where(keep, bias, float("-inf"))
                cast = bias.to(q.dtype)
                exact = bool(torch.equal(cast.float(), bias))
                del bias
        if additive:
            how = "bias tensor" + ("" if exact else f", inexact in {str(q.dtype).replace('torch.', '')}")
            out["sdpa"] = Baseline(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=cast), how, exact)
    return out


# --------------------------------------------------------------------------------------------------- CLI

def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SpecError(f"--set wants NAME=VALUE, got {item!r}")
        try:
            out[name] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[name] = value.strip()  # a bare word: a string (DTYPE=bfloat16)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m verifier.attention",
                                description="Validate or render a FlexAttention-style attention variant spec.")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, text in (("validate", "check a spec; prints one JSON object"),
                       ("render", "print the KernelBench-format problem for a spec")):
        s = sub.add_parser(name, help=text)
        s.add_argument("spec")
        s.add_argument("--batch", type=int, help="override B")
        s.add_argument("--heads", type=int, help="override H")
        s.add_argument("--seq", type=int, help="override S (a 2D GRID follows as a square grid)")
        s.add_argument("--dim", type=int, help="override D")
        s.add_argument("--dtype", choices=DTYPES, help="override DTYPE")
        s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="override any top-level constant, e.g. --set WINDOW=1024 --set 'GRID=(64, 64)'")
    args = p.parse_args(argv)
    overrides: dict[str, Any] | None
    err: str | None
    try:
        overrides = _parse_set(args.set)
    except SpecError as e:
        overrides = None
        err = str(e)
    else:
        err = None
        for flag, name in (("batch", "B"), ("heads", "H"), ("seq", "S"), ("dim", "D"), ("dtype", "DTYPE")):
            if getattr(args, flag) is not None and overrides is not None:
                overrides[name] = getattr(args, flag)
    if args.cmd == "validate":
        info = {"ok": False, "error": err} if err else validate(args.spec, overrides)
        sys.stdout.write(json.dumps(info) + "\n")
        return 0 if info["ok"] else 1
    try:
        if err:
            raise SpecError(err)
        sys.stdout.write(render(args.spec, overrides))
    except SpecError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
