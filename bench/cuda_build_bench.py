#!/usr/bin/env python3
"""Cold build time of KernelBench-style CUDA candidates: plain load_inline vs verifier/cuda_build's fast build.

Run on a GPU host from the repository root:  python3 bench/cuda_build_bench.py --out $OUT
For each candidate and each variant it builds cold in a fresh build directory (one build at a time, as the
verifier does), reads the per-step times from ninja's log, runs the module once on the GPU, checks the
two variants and a PyTorch reference agree, and prints a table of wall seconds last. --out DIR writes
cuda_build_bench.json there. Without a GPU it still builds (and fails at link time where torch has no
CUDA libraries), which is only useful to try the script.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- candidates, written the way KernelBench's examples and LLM answers write them ---------------------
ELEMENTWISE_CU = r'''
#include <torch/extension.h>
#include <cuda_runtime.h>

__global__ void elementwise_add_kernel(const float* a, const float* b, float* out, int size) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < size) {
        out[idx] = a[idx] + b[idx];
    }
}

torch::Tensor elementwise_add_cuda(torch::Tensor a, torch::Tensor b) {
    auto size = a.numel();
    auto out = torch::zeros_like(a);

    const int block_size = 256;
    const int num_blocks = (size + block_size - 1) / block_size;

    elementwise_add_kernel<<<num_blocks, block_size>>>(a.data_ptr<float>(), b.data_ptr<float>(), out.data_ptr<float>(), size);

    return out;
}
'''

REDUCTION_CU = r'''
#include <torch/extension.h>
#include <cuda_runtime.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

template <int BLOCK>
__global__ void row_sum_kernel(const float* __restrict__ x, float* __restrict__ out, int rows, int cols) {
    __shared__ float buf[BLOCK];
    int row = blockIdx.x;
    float acc = 0.0f;
    for (int c = threadIdx.x; c < cols; c += BLOCK) {
        acc += x[(long)row * cols + c];
    }
    buf[threadIdx.x] = acc;
    __syncthreads();
    for (int s = BLOCK / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[row] = buf[0];
}

torch::Tensor row_sum_cuda(torch::Tensor x) {
    TORCH_CHECK(x.is_cuda(), "x must be a CUDA tensor");
    TORCH_CHECK(x.dim() == 2, "x must be 2-D");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "x must be float32");
    x = x.contiguous();
    const int rows = x.size(0);
    const int cols = x.size(1);
    auto out = torch::empty({rows}, x.options());
    auto stream = at::cuda::getCurrentCUDAStream();
    row_sum_kernel<256><<<rows, 256, 0, stream>>>(x.data_ptr<float>(), out.data_ptr<float>(), rows, cols);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return out;
}
'''

DISPATCH_CU = r'''
#include <torch/extension.h>
#include <cuda_runtime.h>

template <typename scalar_t>
__global__ void scaled_relu_kernel(const scalar_t* __restrict__ x, scalar_t* __restrict__ y, scalar_t alpha, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        scalar_t v = x[i] * alpha;
        y[i] = v > scalar_t(0) ? v : scalar_t(0);
    }
}

torch::Tensor scaled_relu_cuda(torch::Tensor x, double alpha) {
    auto xc = x.contiguous();
    auto y = torch::empty_like(xc);
    const int64_t n = xc.numel();
    const int threads = 256;
    const int blocks = (n + threads - 1) / threads;
    AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "scaled_relu_cuda", ([&] {
        scaled_relu_kernel<scalar_t><<<blocks, threads>>>(
            xc.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), static_cast<scalar_t>(alpha), n);
    }));
    return y;
}
'''

CANDIDATES: list[dict[str, Any]] = [
    {"name": "elementwise_add", "cuda_sources": ELEMENTWISE_CU, "functions": ["elementwise_add_cuda"],
     "cpp_sources": "torch::Tensor elementwise_add_cuda(torch::Tensor a, torch::Tensor b);"},
    {"name": "row_sum", "cuda_sources": REDUCTION_CU, "functions": ["row_sum_cuda"],
     "cpp_sources": "torch::Tensor row_sum_cuda(torch::Tensor x);"},
    {"name": "scaled_relu", "cuda_sources": DISPATCH_CU, "functions": ["scaled_relu_cuda"],
     "cpp_sources": "torch::Tensor scaled_relu_cuda(torch::Tensor x, double alpha);"},
]


def run_case(torch: Any, cname: str, mod: Any) -> tuple[Any, Any]:
    """(candidate output, reference output) on fixed inputs."""
    g = torch.Generator(device="cuda").manual_seed(0)
    if cname == "elementwise_add":
        a = torch.randn(1 << 20, device="cuda", generator=g)
        b = torch.randn(1 << 20, device="cuda", generator=g)
        return mod.elementwise_add_cuda(a, b), a + b
    if cname == "row_sum":
        x = torch.randn(512, 3000, device="cuda", generator=g)
        return mod.row_sum_cuda(x), x.sum(1)
    if cname == "scaled_relu":
        x = torch.randn(4, 1000, 37, device="cuda", generator=g, dtype=torch.float64)
        return mod.scaled_relu_cuda(x, 0.5), torch.relu(x * 0.5)
    raise KeyError(cname)


def ninja_steps(bdir: str) -> dict[str, float]:
    """Seconds per ninja target of the last build in bdir (from .ninja_log)."""
    out: dict[str, float] = {}
    try:
        with open(os.path.join(bdir, ".ninja_log"), encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4 and not line.startswith("#"):
                    out[parts[3]] = round((int(parts[1]) - int(parts[0])) / 1000.0, 2)
    except OSError:
        pass
    return out


def shim_first(bdir: str) -> bool | None:
    """The light headers only take effect when torch's include paths come as -isystem (after our -I)."""
    try:
        with open(os.path.join(bdir, "build.ninja"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    return "-isystem" in text and "include_cu" in text


def cached_reload(kwargs: dict[str, Any]) -> float | None:
    """Seconds for a fresh process to get the module again through the fast build (ninja: nothing to do)."""
    code = ("import inspect, json, sys, time; sys.path.insert(0, %r)\n"
            "import torch.utils.cpp_extension as cpp\nfrom verifier import cuda_build\n"
            "kw = json.loads(sys.argv[1]); t = time.monotonic()\n"
            "cuda_build.fast_load_inline(cpp.load_inline, inspect.signature(cpp.load_inline).bind(**kw))\n"
            "print(time.monotonic() - t)\n") % REPO
    try:
        r = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True, timeout=300)
        return round(float(r.stdout.strip().splitlines()[-1]), 2) if r.returncode == 0 else None
    except Exception:  # noqa: BLE001
        return None


def tool_versions(torch: Any) -> dict[str, str]:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": str(torch.version.cuda),
           "cpus": str(os.cpu_count()), "MAX_JOBS": os.environ.get("MAX_JOBS", ""),
           "TORCH_CUDA_ARCH_LIST": os.environ.get("TORCH_CUDA_ARCH_LIST", "")}
    for tool, cmd in (("nvcc", ["nvcc", "--version"]), ("c++", ["c++", "--version"]), ("ninja", ["ninja", "--version"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            lines = r.stdout.strip().splitlines()
            env[tool] = (lines[-1] if tool == "nvcc" else lines[0]) if lines else "?"
        except Exception:  # noqa: BLE001
            env[tool] = "absent"
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def main() -> int:  # noqa: C901 - one benchmark, step after step
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="directory to write cuda_build_bench.json into")
    ap.add_argument("--budget-s", type=float, default=540.0, help="stop starting builds after this many seconds")
    ap.add_argument("--only", default="", help="comma-separated candidate names (default: all)")
    ap.add_argument("--variants", default="kernelbench,fast", help="comma-separated: kernelbench, fast")
    ap.add_argument("--keep", action="store_true", help="keep the build directories")
    a = ap.parse_args()
    t_start = time.monotonic()

    sys.path.insert(0, REPO)
    import torch
    import torch.utils.cpp_extension as cpp

    from verifier import cuda_build

    have_gpu = torch.cuda.is_available()
    if have_gpu:  # as the verifier's harness does
        major, minor = torch.cuda.get_device_capability(0)
        os.environ["TORCH_CUDA_ARCH_LIST"] = f"{major}.{minor}" + ("a" if major >= 9 else "")
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0a")
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
    if cpp.CUDA_HOME is None:  # CPU-only torch: still try the compile steps
        cpp.CUDA_HOME = os.environ.get("CUDA_HOME") or "/usr/local/cuda"

    env = tool_versions(torch)
    print(json.dumps(env), flush=True)
    orig = cpp.load_inline
    sig = inspect.signature(orig)
    root = tempfile.mkdtemp(prefix="cuda_build_bench_")
    only = {s for s in a.only.split(",") if s}
    variants = [v for v in a.variants.split(",") if v]
    results: list[dict[str, Any]] = []
    outputs: dict[tuple[str, str], Any] = {}
    tag = f"{os.getpid()}_{int(time.time())}"

    for cand in CANDIDATES:
        if only and cand["name"] not in only:
            continue
        for variant in variants:
            row: dict[str, Any] = {"candidate": cand["name"], "variant": variant}
            results.append(row)
            if time.monotonic() - t_start > a.budget_s:
                row["skipped"] = "budget"
                continue
            bdir = os.path.join(root, f"{cand['name']}_{variant}")
            os.makedirs(bdir)
            kwargs = {"name": f"{cand['name']}_{variant}_{tag}", "cpp_sources": cand["cpp_sources"],
                      "cuda_sources": cand["cuda_sources"], "functions": list(cand["functions"]),
                      "build_directory": bdir, "verbose": False}
            log: dict[str, Any] = {}
            t0 = time.monotonic()
            try:
                if variant == "fast":
                    mod = cuda_build.fast_load_inline(orig, sig.bind(**kwargs), log=log)
                else:
                    mod = orig(**kwargs)
                row["build_s"] = round(time.monotonic() - t0, 2)
            except Exception as e:  # noqa: BLE001
                row["build_s"] = round(time.monotonic() - t0, 2)
                row["error"] = str(e)[-1500:]
                mod = None
            if variant == "fast":
                row.update(built_as=log.get("variant"), light_s=log.get("light_s"), why_full=log.get("why_full"))
            built_dir = os.path.join(bdir, cuda_build.LIGHT_SUBDIR) if log.get("variant") == "light" else bdir
            row["steps_s"] = ninja_steps(built_dir)
            if variant == "fast":
                row["shim_first_on_path"] = shim_first(built_dir)
                if mod is not None:  # a later process of the same candidate must find the build cached
                    row["cached_reload_s"] = cached_reload(kwargs)
            print(json.dumps(row), flush=True)
            if mod is not None and have_gpu:
                try:
                    got, ref = run_case(torch, cand["name"], mod)
                    torch.cuda.synchronize()
                    row["max_abs_err_vs_torch"] = float((got - ref).abs().max())
                    outputs[(cand["name"], variant)] = got
                except Exception as e:  # noqa: BLE001
                    row["run_error"] = str(e)[-500:]
        if len(variants) > 1 and all((cand["name"], v) in outputs for v in variants):
            x0 = outputs[(cand["name"], variants[0])]
            same = all(torch.equal(x0, outputs[(cand["name"], v)]) for v in variants[1:])
            for r in results:
                if r["candidate"] == cand["name"]:
                    r["bitwise_equal_across_variants"] = same

    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    summary = {"env": env, "results": results, "total_s": round(time.monotonic() - t_start, 1)}
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "cuda_build_bench.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)

    print()
    print(f"{'candidate':<16} {'variant':<12} {'built as':<9} {'wall s':>7} {'main.o s':>9} {'cuda.o s':>9} "
          f"{'max err':>9} {'same bits':>9} {'reload s':>8}")
    for r in results:
        steps = r.get("steps_s", {})
        main_s = next((v for k, v in steps.items() if k.endswith("main.o")), "-")
        cu_s = next((v for k, v in steps.items() if k.endswith(".cuda.o")), "-")
        err = r.get("max_abs_err_vs_torch", "-")
        err = f"{err:.2e}" if isinstance(err, float) else err
        status = r.get("skipped") or ("BUILD ERROR" if "error" in r else "") or ("RUN ERROR" if "run_error" in r else "")
        print(f"{r['candidate']:<16} {r['variant']:<12} {r.get('built_as') or ('full' if r['variant'] == 'kernelbench' else '-'):<9} {r.get('build_s', '-'):>7} "
              f"{main_s:>9} {cu_s:>9} {err:>9} {str(r.get('bitwise_equal_across_variants', '-')):>9} "
              f"{str(r.get('cached_reload_s', '-')):>8} {status}")
    return 0 if all("error" not in r and "run_error" not in r for r in results) or not have_gpu else 1


if __name__ == "__main__":
    sys.exit(main())
