"""Fast cold builds of CUDA candidates written in KernelBench's ``load_inline`` convention.

Where the time goes (measured; see the report in docs/benchmarks.md): a KernelBench candidate's kernel is a
few lines, but both translation units that ``load_inline`` generates parse all of ``<torch/extension.h>``
(about 420k preprocessed lines: ATen's 2,000+ operator headers, the C++ frontend, autograd, pybind11).
``cuda.cu`` pays it three times inside nvcc (cudafe++ host front end, cicc device front end, gcc on the
cudafe output) and ``main.cpp`` once more. Optimisation levels play no part: torch passes no ``-O`` at all.

The fast build keeps the candidate's sources byte for byte and changes only what the two headers that
KernelBench sources (and load_inline's own preamble) include resolve to: a ``-I`` directory in front of
torch's ``-isystem`` paths holds a light ``torch/extension.h`` and ``torch/types.h`` with

  * ``ATen/core/Tensor.h`` (the Tensor class and every method), ``ATen/Dispatch.h`` (AT_DISPATCH_*),
    ``c10/util/Exception.h`` (TORCH_CHECK);
  * ``ATen/ops/<name>.h`` for each identifier of the sources that names an ATen operator
    (``torch::zeros_like`` -> ``ATen/ops/zeros_like.h``), instead of all of them. Each is shadowed by a
    copy in the shim directory without its four heaviest includes (``ATen/Context.h``, ``DeviceGuard.h``,
    ``TensorUtils.h``, ``TracerMode.h``: about 66k preprocessed lines that no operator function uses;
    checked by compiling all 1,342 operator headers without them). That halves nvcc's time again;
  * the ``namespace torch { using namespace at; kFloat32 = ...; }`` block, copied at run time out of the
    installed ``torch/types.h`` so it follows the torch version;
  * for ``main.cpp`` only: torch's pybind11 type casters and ``wrap_pybind_function``.

Device code is untouched: same flags, same kernel source, same PTX (checked: identical PTX for the light
and the full header set). The one semantic difference is that ``torch::empty`` & co. resolve to the
``at::`` functions instead of the autograd-aware wrappers in variable_factories.h; they return the same
tensor unless ``requires_grad`` is asked for, so sources that mention ``requires_grad`` skip the light
build.

Safety: anything the light headers do not declare makes the light build fail to compile; then the
original ``load_inline`` runs with the original arguments in the original build directory, exactly as
without this module, and its result or its error (with the candidate's compiler errors) is what the
caller gets. A marker file remembers the failure so that later processes of the same candidate go
straight to the original build (and find it cached).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from typing import Any, Callable

LIGHT_SUBDIR = "light"  # the light build's own build directory, inside the cache entry
FAILED_MARKER = "LIGHT_FAILED"  # in the light directory: the light headers did not do for this candidate
GUARD = "KERNEL_SEARCH_LIGHT_TORCH_H"

# Headers every light build includes: the Tensor class with all its methods, AT_DISPATCH_*, TORCH_CHECK.
BASE_HEADERS = ("ATen/core/Tensor.h", "ATen/Dispatch.h", "c10/util/Exception.h")
# main.cpp only: pybind11 with torch's type casters (Tensor, ScalarType, ...) and wrap_pybind_function,
# which the bindings load_inline generates call.
PYBIND_HEADERS = ("torch/csrc/utils/pybind.h", "torch/csrc/Exceptions.h")
# Sources that mention these need something the light headers change or lack: build them as torch does.
SKIP_PATTERNS = (
    re.compile(r"\brequires_grad\b"),  # torch:: factories differ from at:: ones only there
)
# Included by every generated ATen/ops/<op>.h but used by none of its inline functions (see the docstring).
OP_HEADER_HEAVY_INCLUDES = frozenset(("ATen/Context.h", "ATen/DeviceGuard.h", "ATen/TensorUtils.h", "ATen/TracerMode.h"))
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_TORCH_NS = re.compile(r"^namespace torch \{\n(.*?)^\}\s*//\s*namespace torch", re.S | re.M)


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return list(v)


def torch_include_dir() -> str:
    import torch.utils.cpp_extension as cpp

    return cpp.include_paths()[0]


def torch_namespace_block(include_dir: str) -> str:
    """The body of ``namespace torch { ... }`` in the installed torch/types.h (aliases only)."""
    path = os.path.join(include_dir, "torch", "csrc", "api", "include", "torch", "types.h")
    try:
        with open(path, encoding="utf-8") as f:
            m = _TORCH_NS.search(f.read())
    except OSError:
        m = None
    body = m.group(1) if m else ""
    if "using namespace at" not in body:  # layout changed: the one line everything depends on
        body = "using namespace at; // NOLINT\n"
    return body


def aten_ops(sources: list[str], include_dir: str) -> list[str]:
    """ATen operator headers named by an identifier of the sources (a superset of what they call)."""
    ops_dir = os.path.join(include_dir, "ATen", "ops")
    try:
        available = {f[:-2] for f in os.listdir(ops_dir) if f.endswith(".h")}
    except OSError:
        return []
    idents: set[str] = set()
    for s in sources:
        idents.update(_IDENT.findall(s))
    return sorted(i for i in idents & available)


def light_op_header(include_dir: str, op: str) -> str | None:
    """ATen/ops/<op>.h without OP_HEADER_HEAVY_INCLUDES, or None where it is not a generated operator header.

    Written under the same name into the shim directory, which comes before torch's on the include path, so a
    candidate that includes the header itself (or all of them through ATen/ATen.h) gets this one copy too."""
    try:
        with open(os.path.join(include_dir, "ATen", "ops", f"{op}.h"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    if "from Function.h" not in text:  # torchgen's marker for the at::<op>() functions header
        return None
    keep = [ln for ln in text.split("\n")
            if not (ln.startswith("#include <") and ln.rstrip()[10:-1] in OP_HEADER_HEAVY_INCLUDES)]
    return "\n".join(keep)


def light_header(ops: list[str], torch_block: str, pybind: bool) -> str:
    lines = ["// kernel-search fast build: stands in for <torch/extension.h> and <torch/types.h>.",
             "// Generated by verifier/cuda_build.py; see there why.",
             f"#ifndef {GUARD}", f"#define {GUARD}"]
    heads = list(BASE_HEADERS) + [f"ATen/ops/{o}.h" for o in ops] + (list(PYBIND_HEADERS) if pybind else [])
    lines += [f"#include <{h}>" for h in heads]
    lines += ["namespace torch {", torch_block.rstrip("\n"), "} // namespace torch", f"#endif // {GUARD}", ""]
    return "\n".join(lines)


def _write_if_changed(path: str, text: str) -> None:
    # ninja tracks main.cpp's headers through its depfile: rewriting an unchanged shim would rebuild.
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_shims(light_dir: str, args: dict[str, Any], include_dir: str | None = None) -> dict[str, str]:
    """Write the two shim include directories; returns {"cpp": dir, "cu": dir} to put first on -I."""
    include_dir = include_dir or torch_include_dir()
    block = torch_namespace_block(include_dir)
    fns = args.get("functions")
    cpp_src = _as_list(args.get("cpp_sources")) + list(fns.keys() if isinstance(fns, dict) else _as_list(fns))
    cu_src = _as_list(args.get("cuda_sources"))
    dirs = {}
    for kind, srcs, pybind in (("cpp", cpp_src, True), ("cu", cu_src, False)):
        d = os.path.join(light_dir, f"include_{kind}")
        ops = aten_ops(srcs, include_dir)
        _write_if_changed(os.path.join(d, "light_torch.h"), light_header(ops, block, pybind))
        for op in ops:
            text = light_op_header(include_dir, op)
            if text is not None:
                _write_if_changed(os.path.join(d, "ATen", "ops", f"{op}.h"), text)
        for name in ("extension.h", "types.h"):
            _write_if_changed(os.path.join(d, "torch", name), '#include "../light_torch.h"\n')
        dirs[kind] = d
    return dirs


def light_eligible(args: dict[str, Any]) -> str | None:
    """None when the light build may be tried, else why not."""
    if not args.get("build_directory"):
        return "no build directory"
    if os.environ.get("KS_FAST_BUILD", "1") == "0":
        return "KS_FAST_BUILD=0"
    if args.get("is_python_module") is False or args.get("sycl_sources"):
        return "not a python CUDA/C++ module"
    text = "\n".join(_as_list(args.get("cpp_sources")) + _as_list(args.get("cuda_sources")))
    for p in SKIP_PATTERNS:
        if p.search(text):
            return f"source matches {p.pattern}"
    if os.path.exists(os.path.join(args["build_directory"], LIGHT_SUBDIR, FAILED_MARKER)):
        return "light build failed before"
    return None


def light_arguments(args: dict[str, Any], light_dir: str, shims: dict[str, str]) -> dict[str, Any]:
    """The candidate's load_inline arguments for the light build. Lists are copied: load_inline inserts
    its preamble into the caller's lists, and the original build may still need them untouched."""
    la = {k: (list(v) if isinstance(v, (list, tuple)) else dict(v) if isinstance(v, dict) else v)
          for k, v in args.items()}
    la["build_directory"] = light_dir
    la["extra_cflags"] = _as_list(args.get("extra_cflags")) + [f"-I{shims['cpp']}"]
    la["extra_cuda_cflags"] = _as_list(args.get("extra_cuda_cflags")) + [f"-I{shims['cu']}"]
    return la


def _clear_stale_lock(d: str, max_age_s: float = 600.0) -> None:
    lock = os.path.join(d, "lock")  # load_inline's FileBaton, left behind when a build was killed
    try:
        if os.path.exists(lock) and time.time() - os.path.getmtime(lock) > max_age_s:
            os.remove(lock)
    except OSError:
        pass


def _forget_version(name: str) -> None:
    # load_inline renames a module whose build arguments changed within one process to NAME_v1; the
    # original build after a failed light one must keep NAME (and so hit its cache in later processes).
    try:
        import torch.utils.cpp_extension as cpp

        cpp.JIT_EXTENSION_VERSIONER.entries.pop(name, None)
    except Exception:  # noqa: BLE001 - private API moved: the module is then named NAME_v1, still works
        pass


def is_cached(build_directory: str) -> bool:
    """Whether a build of this cache entry exists (light or original), for the caller's build log."""
    return any(os.path.exists(os.path.join(build_directory, *p, "build.ninja")) for p in ((), (LIGHT_SUBDIR,)))


def use_cache_entry(args: dict[str, Any], cache_root: str, toolchain_id: str) -> dict[str, Any]:
    """Point a ``load_inline`` call's bound ``args`` at its entry of the build cache under ``cache_root``.

    The entry is keyed by the call's arguments (less ``verbose`` and ``build_directory``) and the toolchain;
    the module is renamed ``NAME_<key>`` so that two candidates with the same name do not share a build.
    Returns the start of the build log entry: ``key``, and ``cached`` (whether a build of it exists)."""
    key_src = json.dumps({k: (v if isinstance(v, (str, list, tuple, bool, type(None))) else str(v))
                          for k, v in args.items() if k not in ("verbose", "build_directory")},
                         sort_keys=True, default=str) + toolchain_id
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    args["name"] = f"{args['name']}_{key}"
    bdir = os.path.join(cache_root, key)
    os.makedirs(bdir, exist_ok=True)
    _clear_stale_lock(bdir)
    args["build_directory"] = bdir
    return {"key": key, "cached": is_cached(bdir)}


def fast_load_inline(orig_load_inline: Callable[..., Any], bound: Any, log: dict[str, Any] | None = None) -> Any:
    """Build like ``orig_load_inline(*bound.args, **bound.kwargs)``, fast when the light headers do.

    ``bound``: ``inspect.signature(orig_load_inline).bind(...)`` of the candidate's call, with
    ``build_directory`` (the cache entry) and ``name`` already set by the caller. ``log`` (optional)
    receives ``variant`` ("light" or "full"), ``light_s`` and ``why_full``. Raises what the original
    build raises, so the caller's compiler-line mapping (map_build_lines on build_directory) is unchanged.
    """
    log = log if log is not None else {}
    args = bound.arguments
    why = light_eligible(args)
    if why is None:
        bdir = args["build_directory"]
        light_dir = os.path.join(bdir, LIGHT_SUBDIR)
        t0 = time.monotonic()
        try:
            os.makedirs(light_dir, exist_ok=True)
            _clear_stale_lock(light_dir)
            shims = write_shims(light_dir, args)
            mod = orig_load_inline(**light_arguments(args, light_dir, shims))
            log.update(variant="light", light_s=round(time.monotonic() - t0, 2))
            return mod
        except Exception as e:  # noqa: BLE001 - any failure: the original build decides
            why = "light build failed: " + (str(e).strip().splitlines() or ["?"])[0][:200]
            log["light_s"] = round(time.monotonic() - t0, 2)
            try:
                with open(os.path.join(light_dir, FAILED_MARKER), "w", encoding="utf-8") as f:
                    f.write(str(e)[-20000:])
            except OSError:
                pass
            _forget_version(str(args.get("name")))
    log.update(variant="full", why_full=why)
    return orig_load_inline(*bound.args, **bound.kwargs)
