"""Static (``ast``) checks of a candidate before anything runs.

Finds: syntax errors, a missing ``ModelNew``, and the statically visible cheat classes
(threads, timer-tamper, side-stream, torch-fallback). Also extracts facts the dynamic checks use
(kernel names, whether atomics are used).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from verifier.cheats import Cheat
from verifier.wire import CheatItem

CANDIDATE_FILE = "candidate.py"

# names whose use does no arithmetic "work": allocation, views, metadata, dtype/device moves
ALLOWED_TORCH_NAMES = {
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like",
    "arange", "tensor", "as_tensor", "from_numpy", "view", "view_as", "reshape", "reshape_as", "contiguous",
    "flatten", "unflatten", "unsqueeze", "squeeze", "permute", "transpose", "t", "expand", "expand_as", "size",
    "shape", "dim", "numel", "stride", "data_ptr", "is_contiguous", "to", "cuda", "cpu", "float", "half",
    "bfloat16", "double", "int", "long", "bool", "type", "device", "dtype", "new_empty", "new_zeros", "new_ones",
    "new_full", "clone", "copy_", "element_size", "item", "tolist", "narrow", "select", "unbind", "split", "chunk",
    "cdiv", "next_power_of_2", "manual_seed", "set_grad_enabled", "no_grad", "inference_mode", "is_tensor",
    "Size", "get_device", "current_device", "current_stream", "is_available", "storage_offset", "fill_",
    "zero_", "detach", "requires_grad_", "Parameter", "register_buffer", "register_parameter", "parameters",
    "named_parameters", "load_inline", "load", "finfo", "iinfo", "promote_types", "result_type", "broadcast_shapes",
    "is_floating_point", "movedim", "as_strided", "view_as_real", "stack", "cat", "get_default_dtype",
    "max_pool_indices",
}
THREAD_MODULES = {"threading", "_thread", "multiprocessing", "subprocess", "concurrent", "asyncio", "pty"}
PROCESS_FUNCS = {"fork", "forkpty", "system", "popen", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv",
                 "spawnve", "spawnvp", "spawnvpe", "execl", "execle", "execlp", "execlpe", "execv", "execve",
                 "execvp", "execvpe", "posix_spawn", "posix_spawnp", "register_at_fork"}
TIMER_NAMES = {"Event", "elapsed_time", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns",
               "process_time", "time_ns", "do_bench", "do_bench_cudagraph", "Timer"}
PATCHABLE_ROOTS = {"torch", "time", "triton", "tl", "F", "nn", "builtins", "np", "numpy", "sys", "os",
                   "functools", "math", "cuda"}
STREAM_NAMES = {"Stream", "stream", "ExternalStream", "set_stream", "StreamContext"}
CPP_THREADS = re.compile(r"std::thread|std::async|pthread_create|\bfork\s*\(|\bsystem\s*\(|\bpopen\s*\(")
CPP_STREAM = re.compile(r"cudaStreamCreate|getStreamFromPool|cudaStreamCreateWithFlags|cudaStreamCreateWithPriority")
CPP_TIMER = re.compile(r"cudaEventElapsedTime|cudaEventRecord")
ATOMICS = re.compile(r"\batomic_\w+|\batomicAdd\b|\batomicCAS\b|\batomicMax\b|\batomicMin\b|atomicExch")
# settings a candidate may assign: they change how fast cuDNN is, not what the timer reads
ALLOWED_SETTINGS = {"torch.backends.cudnn.benchmark", "torch.backends.cudnn.deterministic"}
ALLOWED_OPS_NAME = "ALLOWED_TORCH_OPS"  # a problem's opt-in: PyTorch compute ops its forward may call
SYNONYMS = {"mm": "matmul", "bmm": "matmul", "matmul": "matmul", "__matmul__": "matmul", "addmm": "matmul",
            "einsum": "einsum", "relu_": "relu", "conv2d": "conv2d"}


def _norm(name: str) -> str:
    n = name.lower().replace("_", "")
    return SYNONYMS.get(name, SYNONYMS.get(n, n))


def _chain(node: ast.AST) -> list[str]:
    """torch.nn.functional.relu -> ['torch', 'nn', 'functional', 'relu']; [] when not a plain chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    if isinstance(node, ast.Call):  # x.float().relu() -> method chain rooted at a call
        inner = _chain(node.func)
        return (["<call>"] + parts[::-1]) if inner or True else []
    if parts:
        return ["<expr>"] + parts[::-1]
    return []


@dataclass
class StaticResult:
    syntax_error: str | None = None
    missing: str | None = None
    cheats: list[CheatItem] = field(default_factory=list)
    kernel_names: list[str] = field(default_factory=list)
    uses_atomics: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, cheat: Cheat, evidence: str) -> None:
        cls = cheat.value
        for c in self.cheats:  # one entry per class, up to three pieces of evidence
            if c["class"] == cls:
                if evidence not in c["evidence"] and c["evidence"].count("; ") < 2:
                    c["evidence"] += "; " + evidence
                return
        self.cheats.append({"class": cls, "evidence": evidence})


def allowed_torch_ops(problem_source: str | None) -> set[str]:
    """The problem's ``ALLOWED_TORCH_OPS``: a module-level list (or tuple/set) of string literals naming
    the PyTorch compute ops (aten names, e.g. ``"mm"``, ``"softmax"``) a candidate's ``forward`` may
    dispatch besides glue (docs/verifier.md, "What counts as the kernel's work"). Empty when absent."""
    if not problem_source:
        return set()
    try:
        tree = ast.parse(problem_source)
    except SyntaxError:
        return set()
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == ALLOWED_OPS_NAME for t in targets) and \
                    isinstance(node.value, (ast.List, ast.Tuple, ast.Set)):
                out |= {e.value.removeprefix("aten::") for e in node.value.elts
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return out


class _OpCollector(ast.NodeVisitor):
    """Collect 'work' ops called in a function body: torch.X / F.X / tensor.X() / nn module calls / @.
    ``torch_only``: only what is surely PyTorch (torch.X / F.X, nn module attributes, ``@``), not method
    calls on objects whose type the source does not show."""

    def __init__(self, module_attrs: dict[str, str], torch_aliases: set[str], torch_only: bool = False):
        self.ops: dict[str, int] = {}
        self.module_attrs = module_attrs
        self.torch_aliases = torch_aliases
        self.torch_only = torch_only
        self.called_names: set[str] = set()
        self.called_methods: set[str] = set()

    def _add(self, name: str, line: int) -> None:
        if name in ALLOWED_TORCH_NAMES:
            return
        self.ops.setdefault(_norm(name), line)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.MatMult):
            self._add("matmul", node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        ch = _chain(node.func)
        if len(ch) == 1:
            self.called_names.add(ch[0])
        elif len(ch) == 2 and ch[0] == "self":
            if ch[1] in self.module_attrs:
                self._add(self.module_attrs[ch[1]], node.lineno)
            else:
                self.called_methods.add(ch[1])
        elif len(ch) >= 2:
            root, last = ch[0], ch[-1]
            if root in self.torch_aliases:
                if "cuda" not in ch[:-1] and "testing" not in ch and ch[1:2] != ["utils"] and ch[1:2] != ["library"]:
                    self._add(last, node.lineno)
            elif self.torch_only:
                pass
            elif root not in ("self", "tl", "triton", "math", "os", "sys", "np", "numpy", "ctypes", "functools"):
                # a method on some object (a tensor, most likely): x.matmul(y), x.relu()
                if not (ch[0] == "self" or last.startswith("_")) and not ch[0][:1].isupper():
                    self._add(last, node.lineno)
        self.generic_visit(node)


def _torch_aliases(tree: ast.Module) -> set[str]:
    aliases = {"torch"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "torch":
                    aliases.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "torch":
            for a in node.names:
                if a.name in ("functional", "nn", "F") or node.module.endswith("functional"):
                    aliases.add(a.asname or a.name)
    return aliases


def _class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    return None


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _module_attrs(cls: ast.ClassDef, torch_aliases: set[str]) -> dict[str, str]:
    """self.conv = nn.Conv2d(...) in __init__ -> {'conv': 'Conv2d'}"""
    out: dict[str, str] = {}
    init = _method(cls, "__init__")
    if init is None:
        return out
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            ch = _chain(node.value.func)
            if len(ch) >= 2 and (ch[0] in torch_aliases or ch[0] == "nn") and ch[-1][:1].isupper() \
                    and ch[-1] not in ("Parameter", "ParameterList", "ParameterDict", "ModuleList", "ModuleDict",
                                       "Sequential", "Identity"):
                for t in node.targets:
                    tc = _chain(t)
                    if len(tc) == 2 and tc[0] == "self":
                        out[tc[1]] = ch[-1]
    return out


def forward_ops(tree: ast.Module, cls_name: str, torch_only: bool = False) -> dict[str, int]:
    """Work ops reached from ``cls_name.forward`` (following self.method() and module-level functions)."""
    cls = _class(tree, cls_name)
    if cls is None:
        return {}
    aliases = _torch_aliases(tree)
    attrs = _module_attrs(cls, aliases)
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    jit = set(_jit_names(tree))
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    todo: list[ast.FunctionDef] = []
    fwd = methods.get("forward")
    if fwd is None:
        return {}
    todo.append(fwd)
    seen: set[str] = set()
    ops: dict[str, int] = {}
    while todo:
        fn = todo.pop()
        if fn.name in seen:
            continue
        seen.add(fn.name)
        col = _OpCollector(attrs, aliases, torch_only)
        col.visit(fn)
        for k, v in col.ops.items():
            ops.setdefault(k, v)
        for name in col.called_names:
            if name in funcs and name not in jit:
                todo.append(funcs[name])
        for name in col.called_methods:
            if name in methods:
                todo.append(methods[name])
    return ops


def _is_jit_decorator(d: ast.AST) -> bool:
    ch = _chain(d.func if isinstance(d, ast.Call) else d)
    return bool(ch) and ch[-1] in ("jit", "autotune", "heuristics") and ch[0] in ("triton", "jit", "autotune")


def _jit_names(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(_is_jit_decorator(d) for d in node.decorator_list):
            names.append(node.name)
    return names


def _strings(tree: ast.Module) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 20:
            out.append((node.lineno, node.value))
    return out


def check_candidate(source: str, problem_source: str | None = None, backend: str = "triton") -> StaticResult:  # noqa: C901 - one rule after another
    res = StaticResult()
    try:
        tree = ast.parse(source, filename=CANDIDATE_FILE)
    except SyntaxError as e:
        line = (e.text or "").rstrip("\n")
        res.syntax_error = f"{CANDIDATE_FILE}:{e.lineno}: SyntaxError: {e.msg}" + (f"\n    {line.strip()}" if line else "")
        return res
    cls = _class(tree, "ModelNew")
    assigned = any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ModelNew" for t in n.targets)
                   for n in tree.body)
    if cls is None and not assigned:
        res.missing = "candidate does not define class ModelNew at module level"
        return res
    if cls is not None and _method(cls, "forward") is None and not cls.bases:
        res.missing = "class ModelNew has no forward method"
        return res

    def where(node: ast.AST) -> str:
        return f"{CANDIDATE_FILE}:{getattr(node, 'lineno', '?')}"

    # ---- threads / processes -------------------------------------------------------------------
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in THREAD_MODULES:
                    res.add(Cheat.THREADS, f"{where(node)} imports {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in THREAD_MODULES:
                res.add(Cheat.THREADS, f"{where(node)} imports from {node.module}")
            if node.module == "os" and any(a.name in PROCESS_FUNCS for a in node.names):
                res.add(Cheat.THREADS, f"{where(node)} imports a process-spawning function from os")
            if node.module.split(".")[0] == "time" and any(a.name in TIMER_NAMES for a in node.names):
                res.add(Cheat.TIMER_TAMPER, f"{where(node)} imports a timing function from time")
        elif isinstance(node, ast.Attribute):
            ch = _chain(node)
            if len(ch) == 2 and ch[0] == "os" and ch[1] in PROCESS_FUNCS:
                res.add(Cheat.THREADS, f"{where(node)} uses os.{ch[1]}")
            if ch and ch[-1] in TIMER_NAMES and (ch[0] in ("torch", "time", "triton", "cuda") or "cuda" in ch):
                res.add(Cheat.TIMER_TAMPER, f"{where(node)} references {'.'.join(ch)}")
            if ch and ch[-1] in STREAM_NAMES and "cuda" in ch[:-1]:
                res.add(Cheat.SIDE_STREAM, f"{where(node)} uses {'.'.join(ch)}")

    # ---- timer-tamper: patching module attributes ----------------------------------------------
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            ch = _chain(t)
            if ".".join(ch) in ALLOWED_SETTINGS:
                continue
            if len(ch) >= 2 and ch[0] in PATCHABLE_ROOTS:
                res.add(Cheat.TIMER_TAMPER, f"{where(node)} assigns to {'.'.join(ch)} (patches a library)")
        if isinstance(node, ast.Call):
            ch = _chain(node.func)
            if ch in (["setattr"], ["delattr"]) and node.args:
                root = _chain(node.args[0])
                if root and root[0] in PATCHABLE_ROOTS:
                    res.add(Cheat.TIMER_TAMPER, f"{where(node)} calls {ch[0]} on {'.'.join(root)} (patches a library)")

    # ---- torch-fallback: subclassing Model, try/except fallback, calling the reference's ops ------
    if cls is not None:
        for b in cls.bases:
            ch = _chain(b)
            if ch and ch[-1] == "Model":
                res.add(Cheat.TORCH_FALLBACK, f"{where(cls)} ModelNew subclasses Model")
    aliases = _torch_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for h in node.handlers:
                col = _OpCollector({}, aliases)
                for stmt in h.body:
                    col.visit(stmt)
                if col.ops:
                    op = min(col.ops, key=lambda o: col.ops[o])
                    res.add(Cheat.TORCH_FALLBACK, f"{where(h)} except-branch falls back to PyTorch ({op})")
    if problem_source is not None:
        try:
            ptree = ast.parse(problem_source)
        except SyntaxError:
            ptree = None
        if ptree is not None:
            ref_ops = forward_ops(ptree, "Model")
            cand_ops = forward_ops(tree, "ModelNew")
            if ref_ops and set(ref_ops) <= set(cand_ops):
                names = ", ".join(sorted(ref_ops))
                first = min(cand_ops[k] for k in ref_ops)
                res.add(Cheat.TORCH_FALLBACK,
                        f"{CANDIDATE_FILE}:{first} ModelNew.forward calls the reference's own PyTorch op(s): {names}")
            else:
                allowed = {_norm(o) for o in allowed_torch_ops(problem_source)}
                compute = {k: v for k, v in forward_ops(tree, "ModelNew", torch_only=True).items() if k not in allowed}
                if compute:
                    names = ", ".join(sorted(compute, key=lambda k: compute[k])[:6])
                    res.add(Cheat.TORCH_FALLBACK,
                            f"{CANDIDATE_FILE}:{min(compute.values())} ModelNew.forward calls PyTorch compute op(s): "
                            f"{names} (the kernel must do the work; glue such as torch.empty, .view, .contiguous "
                            f"is allowed{'; the problem allows ' + ', '.join(sorted(allowed)) if allowed else ''})")
            for lineno, s in _strings(tree):
                for op in ref_ops:
                    if re.search(rf"\b(?:torch|at)::(?:native::)?{re.escape(op)}\s*\(", s):
                        res.add(Cheat.TORCH_FALLBACK, f"{CANDIDATE_FILE}:{lineno} C++ source calls torch/at::{op}")

    # ---- C++/CUDA sources ---------------------------------------------------------------------
    for lineno, s in _strings(tree):
        if found := CPP_THREADS.search(s):
            res.add(Cheat.THREADS, f"{CANDIDATE_FILE}:{lineno} C++ source starts threads or processes "
                               f"({found.group(0)})")
        if found := CPP_STREAM.search(s):
            res.add(Cheat.SIDE_STREAM, f"{CANDIDATE_FILE}:{lineno} C++ source creates a stream ({found.group(0)})")
        if found := CPP_TIMER.search(s):
            res.add(Cheat.TIMER_TAMPER, f"{CANDIDATE_FILE}:{lineno} C++ source uses CUDA timing ({found.group(0)})")
        for m in re.finditer(r"__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?\w[\w:<>\s\*]*?\s(\w+)\s*\(", s):
            res.kernel_names.append(m.group(1))

    res.kernel_names = sorted(set(res.kernel_names) | set(_jit_names(tree)))
    res.uses_atomics = bool(ATOMICS.search(source))
    return res


def result_dict(r: StaticResult) -> dict[str, Any]:
    return {"cheats": r.cheats, "kernel_names": r.kernel_names, "uses_atomics": r.uses_atomics}
