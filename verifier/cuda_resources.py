"""Registers, local memory (spills) and static shared memory of a CUDA extension's kernels, read by the
parent from the built module with ``cuobjdump --dump-resource-usage`` (ptxas's own figures, as stored in
the cubin), for ``timing.hardware``. Triton kernels report theirs from the candidate's process
(``candidate.harness.triton_kernel_facts``); an extension's kernels would otherwise have none.

The candidate's process says which modules it built (their paths); only files under the verifier's own
build cache are read, so a path it names cannot point the parent anywhere else. The figures are advice
for the next prompt: a module that lies about itself only spoils its own advice. Where cuobjdump is
missing (it ships with every CUDA toolkit, next to nvcc) the kernels are listed without resources.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

MAX_MODULES = 8
MAX_FUNCTIONS = 256
TIMEOUT_S = 30.0

# "Function _Z10add_kernelPKfS0_Pfi:" then "REG:10 STACK:0 SHARED:0 LOCAL:0 ..." on the same or the next line
_FUNCTION = re.compile(r"^\s*Function\s+([^\s:]+)\s*:(.*)$")
_FIELD = re.compile(r"\b(REG|STACK|SHARED|LOCAL):(\d+)")


def parse_resource_usage(text: str) -> dict[str, dict[str, int]]:
    """Per (mangled) function name, its REG, STACK, SHARED and LOCAL figures; the largest per field where a
    fat binary holds the function for several architectures."""
    out: dict[str, dict[str, int]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _FUNCTION.match(line)
        rest = line
        if m:
            current = m.group(1)
            rest = m.group(2)
            if current not in out and len(out) >= MAX_FUNCTIONS:
                current = None
            elif current is not None:
                out.setdefault(current, {})
        elif not line.startswith((" ", "\t")) and line.strip():
            current = None  # a new section ("Fatbin elf code:", "Resource usage:", ...)
        if current is None:
            continue
        for key, value in _FIELD.findall(rest):
            out[current][key] = max(out[current].get(key, 0), int(value))
    return {k: v for k, v in out.items() if v}


def demangle(names: list[str]) -> dict[str, str]:
    """Mangled to demangled names with c++filt, the names the profiler shows; unchanged where it is
    missing or fails."""
    tool = shutil.which("c++filt") or shutil.which("cu++filt")
    if not names or tool is None:
        return {n: n for n in names}
    try:
        res = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True, text=True, timeout=TIMEOUT_S)
        lines = res.stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {n: n for n in names}
    return {n: (lines[i] if i < len(lines) and lines[i] else n) for i, n in enumerate(names)}


def cuobjdump() -> str | None:
    """cuobjdump on PATH, else next to nvcc, else in CUDA_HOME."""
    found = shutil.which("cuobjdump")
    if found:
        return found
    candidates = [os.path.dirname(os.path.realpath(p)) for p in [shutil.which("nvcc")] if p]
    candidates += [os.path.join(os.environ[v], "bin") for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    candidates.append("/usr/local/cuda/bin")
    for d in candidates:
        p = os.path.join(d, "cuobjdump")
        if os.access(p, os.X_OK):
            return p
    return None


def allowed_modules(paths: Any, cache_root: str) -> list[str]:
    """The named files that are shared objects inside the build cache (symbolic links resolved)."""
    if not isinstance(paths, list):
        return []
    root = os.path.realpath(cache_root) + os.sep
    out: list[str] = []
    for p in paths[:64]:
        if not isinstance(p, str) or len(p) > 4096:
            continue
        real = os.path.realpath(p)
        if real.startswith(root) and real.endswith(".so") and os.path.isfile(real) and real not in out:
            out.append(real)
    return out[:MAX_MODULES]


def local_bytes(fields: dict[str, int]) -> int:
    """A kernel's local memory per thread. ptxas puts spills and local arrays in the stack frame, which
    cuobjdump prints as STACK (CUDA 13 shows a 128-byte spill as ``STACK:128 LOCAL:0``); LOCAL is the
    local memory outside that frame, which older toolkits reported for the same bytes. The larger of the two,
    never their sum, so one spill is not counted twice."""
    return max(fields.get("STACK", 0), fields.get("LOCAL", 0))


def kernel_resources(paths: Any, cache_root: str) -> tuple[dict[str, dict[str, int]], str | None]:
    """Per demangled kernel name, ``registers``, ``spill_bytes`` (local memory per thread) and
    ``shared_bytes`` (static) from the modules the candidate built; and why there are none, when that
    is worth a note (no cuobjdump, or it failed)."""
    modules = allowed_modules(paths, cache_root)
    if not modules:
        return {}, None
    tool = cuobjdump()
    if tool is None:
        return {}, "cuobjdump not found (CUDA toolkit): the extension's kernels are listed without registers or spills"
    usage: dict[str, dict[str, int]] = {}
    for mod in modules:
        try:
            res = subprocess.run([tool, "--dump-resource-usage", mod], capture_output=True, text=True, timeout=TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            return {}, f"cuobjdump failed on the extension: {type(e).__name__}"
        if res.returncode != 0:
            return {}, f"cuobjdump failed on the extension: {(res.stderr.strip().splitlines() or ['exit ' + str(res.returncode)])[-1][:200]}"
        usage.update(parse_resource_usage(res.stdout))
    names = demangle(list(usage))
    return {names[m][:200]: {"registers": f.get("REG", 0), "spill_bytes": local_bytes(f),
                             "shared_bytes": f.get("SHARED", 0)} for m, f in usage.items()}, None


def lookup(resources: dict[str, dict[str, int]], name: str) -> dict[str, int] | None:
    """A profiled kernel's resources: by its full demangled name, else by the name before its arguments
    (the profiler and c++filt can spell parameter lists differently)."""
    if name in resources:
        return resources[name]
    base = name.split("(")[0].strip()
    hits = [v for k, v in resources.items() if k.split("(")[0].strip() == base]
    return hits[0] if len(hits) == 1 else None
