"""verifier/cuda_build.py: the light-header fast build of load_inline candidates, tested without a GPU.

The nvcc / g++ tests compile KernelBench-style sources against the light headers here (skipped without
nvcc); linking needs torch's CUDA libraries, which a CPU wheel lacks, so the whole load_inline path runs
only in bench/cuda_build_bench.py on a GPU host. KS_SLOW_TESTS=1 adds the real light-fails-then-full
error path (about a minute on 2 cores).
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from verifier import cuda_build as cb

REPO = Path(__file__).resolve().parents[2]
NVCC = shutil.which("nvcc")
SLOW = os.environ.get("KS_SLOW_TESTS") == "1"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("cuda_build_bench", REPO / "bench" / "cuda_build_bench.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


# More KernelBench-style .cu sources (the bench's three are added below): factories with options, several
# outputs, half precision, views, dtype checks, a guard, the current stream.
EXTRA_CU = [
    r'''
#include <torch/extension.h>
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <vector>

__global__ void split_kernel(const float* x, float* lo, float* hi, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { float v = x[i]; lo[i] = fminf(v, 0.f); hi[i] = fmaxf(v, 0.f); }
}

std::vector<torch::Tensor> split_cuda(torch::Tensor x) {
    TORCH_CHECK(x.device().is_cuda(), "need CUDA, got ", x.device());
    TORCH_CHECK(x.dtype() == torch::kFloat32);
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(x.device());
    auto lo = torch::zeros({x.size(0), x.size(1)}, opts);
    auto hi = torch::empty(x.sizes(), x.options());
    int n = x.numel();
    split_kernel<<<(n + 255) / 256, 256>>>(x.data_ptr<float>(), lo.data_ptr<float>(), hi.data_ptr<float>(), n);
    return {lo.view({-1}), hi.reshape({x.size(0), -1})};
}
''',
    r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

template <typename scalar_t>
__global__ void square_kernel(const scalar_t* x, scalar_t* y, int64_t n) {
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] * x[i];
}

torch::Tensor square_cuda(const torch::Tensor& x) {
    c10::cuda::CUDAGuard guard(x.device());
    auto y = at::empty_like(x);
    cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
    AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "square", [&] {
        square_kernel<scalar_t><<<(x.numel() + 127) / 128, 128, 0, stream>>>(
            x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), x.numel());
    });
    return y.to(torch::kFloat32).contiguous();
}
''',
]


def _cu_flags(extra: list[str]) -> list[str]:
    import torch.utils.cpp_extension as cpp

    incs = [a for p in cpp.include_paths() for a in ("-isystem", p)]
    cuda_inc = os.path.join(_cuda_home(), "include")
    return (["-DTORCH_API_INCLUDE_EXTENSION_H"] + incs + ["-isystem", cuda_inc] + list(cpp.COMMON_NVCC_FLAGS)
            + ["-gencode=arch=compute_90a,code=sm_90a", "--compiler-options", "-fPIC", "-std=c++20"] + extra)


def _cuda_home() -> str:
    for d in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
        if d and os.path.isdir(d):
            return d
    return os.path.dirname(os.path.dirname(os.path.realpath(NVCC or "nvcc")))


def _cuda_has(header: str) -> bool:
    return any(os.path.exists(os.path.join(_cuda_home(), d, header)) for d in ("include", "targets/x86_64-linux/include"))


def _generated_cu(sources: list[str]) -> str:
    # what load_inline writes to cuda.cu: its preamble, then the candidate's sources
    return "\n".join(["#include <torch/types.h>", "#include <cuda.h>", "#include <cuda_runtime.h>"] + sources)


# ---- pure Python -------------------------------------------------------------------------------------
def test_aten_ops_scan_names_only_real_operators(tmp_path: Path) -> None:
    inc = cb.torch_include_dir()
    ops = cb.aten_ops(["auto y = torch::zeros_like(x); auto z = at::empty({3}); my_kernel<<<1,1>>>(p);"], inc)
    assert {"zeros_like", "empty"} <= set(ops)
    assert "my_kernel" not in ops and "auto" not in ops
    assert ops == sorted(ops)


def test_torch_namespace_block_comes_from_installed_torch() -> None:
    block = cb.torch_namespace_block(cb.torch_include_dir())
    assert "using namespace at" in block and "kFloat32" in block
    assert cb.torch_namespace_block("/nonexistent") == "using namespace at; // NOLINT\n"


def test_shims_cover_both_headers_and_are_rewritten_only_on_change(tmp_path: Path) -> None:
    b = _bench()
    args = {k: b.CANDIDATES[0][k] for k in ("cpp_sources", "cuda_sources", "functions")}
    dirs = cb.write_shims(str(tmp_path), args)
    for kind in ("cpp", "cu"):
        for name in ("extension.h", "types.h"):
            assert (Path(dirs[kind]) / "torch" / name).read_text() == '#include "../light_torch.h"\n'
    cu = (Path(dirs["cu"]) / "light_torch.h").read_text()
    cpp = (Path(dirs["cpp"]) / "light_torch.h").read_text()
    assert "#include <ATen/ops/zeros_like.h>" in cu and "pybind" not in cu
    assert "torch/csrc/utils/pybind.h" in cpp and "wrap" not in cu
    st = (Path(dirs["cu"]) / "light_torch.h").stat().st_mtime_ns
    cb.write_shims(str(tmp_path), args)
    assert (Path(dirs["cu"]) / "light_torch.h").stat().st_mtime_ns == st  # ninja would rebuild otherwise


def test_named_operator_headers_are_shadowed_without_the_heavy_includes(tmp_path: Path) -> None:
    args = {"cpp_sources": "", "cuda_sources": "auto o = torch::zeros_like(x); int n = x.numel();", "functions": []}
    dirs = cb.write_shims(str(tmp_path), args)
    shadow = Path(dirs["cu"]) / "ATen" / "ops" / "zeros_like.h"
    text = shadow.read_text()
    assert "#include <ATen/ops/zeros_like_ops.h>" in text and "inline at::Tensor zeros_like(" in text
    assert not any(f"#include <{h}>" in text for h in cb.OP_HEADER_HEAVY_INCLUDES)
    real = (Path(cb.torch_include_dir()) / "ATen" / "ops" / "zeros_like.h").read_text()
    assert all(f"#include <{h}>" in real for h in cb.OP_HEADER_HEAVY_INCLUDES)  # else the shadow is pointless
    assert cb.light_op_header(cb.torch_include_dir(), "zeros_like_ops") is None  # not a functions header
    assert cb.light_op_header(cb.torch_include_dir(), "no_such_op") is None


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs c++")
def test_every_operator_header_compiles_without_the_heavy_includes(tmp_path: Path) -> None:
    """The shadowing is only sound if no operator function needs what it drops: all of them, one TU."""
    inc = cb.torch_include_dir()
    ops = sorted(f[:-2] for f in os.listdir(os.path.join(inc, "ATen", "ops")) if f.endswith(".h"))
    (tmp_path / "ATen" / "ops").mkdir(parents=True)
    shadowed = []
    for op in ops:
        text = cb.light_op_header(inc, op)
        if text is not None:
            (tmp_path / "ATen" / "ops" / f"{op}.h").write_text(text)
            shadowed.append(op)
    assert len(shadowed) > 1000
    src = tmp_path / "all.cpp"
    src.write_text("\n".join([f"#include <{h}>" for h in cb.BASE_HEADERS]
                             + [f"#include <ATen/ops/{op}.h>" for op in shadowed]) + "\n")
    import torch.utils.cpp_extension as cpp

    incs = [a for p in cpp.include_paths() for a in ("-isystem", p)]
    r = subprocess.run(["c++", f"-I{tmp_path}", *incs, "-std=c++20", "-fsyntax-only", str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


def test_eligibility(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = {"build_directory": str(tmp_path), "cpp_sources": "x", "cuda_sources": "torch::Tensor f();"}
    assert cb.light_eligible(ok) is None
    assert cb.light_eligible({**ok, "build_directory": None}) == "no build directory"
    assert "requires_grad" in str(cb.light_eligible({**ok, "cuda_sources": "o.requires_grad(true)"}))
    monkeypatch.setenv("KS_FAST_BUILD", "0")
    assert cb.light_eligible(ok) == "KS_FAST_BUILD=0"
    monkeypatch.delenv("KS_FAST_BUILD")
    (tmp_path / cb.LIGHT_SUBDIR).mkdir()
    (tmp_path / cb.LIGHT_SUBDIR / cb.FAILED_MARKER).write_text("err")
    assert cb.light_eligible(ok) == "light build failed before"


def test_light_arguments_copy_lists_and_prepend_shims(tmp_path: Path) -> None:
    cpp_list = ["int f();"]
    args = {"name": "m_abc", "cpp_sources": cpp_list, "cuda_sources": "src", "functions": ["f"],
            "extra_cflags": ["-O3"], "extra_cuda_cflags": None, "build_directory": str(tmp_path)}
    la = cb.light_arguments(args, str(tmp_path / "light"), {"cpp": "/s/cpp", "cu": "/s/cu"})
    assert la["name"] == "m_abc" and la["build_directory"] == str(tmp_path / "light")
    assert la["extra_cflags"] == ["-O3", "-I/s/cpp"] and la["extra_cuda_cflags"] == ["-I/s/cu"]
    la["cpp_sources"].insert(0, "#include <torch/extension.h>")  # what load_inline does to its lists
    assert cpp_list == ["int f();"] and args["extra_cflags"] == ["-O3"]


def _fake_loader(fail_light: bool, calls: list[dict[str, Any]]) -> Any:
    def load_inline(name: str, cpp_sources: Any, cuda_sources: Any = None, functions: Any = None,
                    extra_cflags: Any = None, extra_cuda_cflags: Any = None, build_directory: Any = None,
                    verbose: bool = False) -> Any:
        calls.append(dict(name=name, cpp_sources=cpp_sources, cuda_sources=cuda_sources,
                          extra_cflags=extra_cflags, extra_cuda_cflags=extra_cuda_cflags,
                          build_directory=build_directory))
        light = str(build_directory).endswith(cb.LIGHT_SUBDIR)
        if light and fail_light:
            raise RuntimeError("Error building extension 'm': light_torch.h: error: identifier undefined")
        if not light:
            Path(build_directory, "cuda.cu").write_text(_generated_cu([cuda_sources]))
            raise RuntimeError(f"{build_directory}/cuda.cu(5): error: expected a \";\"")
        return "module"
    return load_inline


def test_fast_build_returns_light_module(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    fake = _fake_loader(False, calls)
    log: dict[str, Any] = {}
    mod = cb.fast_load_inline(fake, inspect.signature(fake).bind(
        name="m", cpp_sources="int f();", cuda_sources="int f() { return 1; }", build_directory=str(tmp_path)), log)
    assert mod == "module" and log["variant"] == "light" and len(calls) == 1
    assert calls[0]["name"] == "m" and calls[0]["extra_cuda_cflags"][-1].startswith("-I")
    assert cb.is_cached(str(tmp_path)) is False  # the fake wrote no build.ninja


def test_light_failure_falls_back_to_the_original_build_and_its_error(tmp_path: Path) -> None:
    """The error the caller sees comes from the original build in the original directory, so the
    harness's map_build_lines still points the compiler's lines at the candidate's source."""
    from verifier.candidate.harness import map_build_lines

    cu = "__global__ void k(float* x) {\n  x[0] = 1.f\n}\n"
    cand = tmp_path / "candidate.py"
    cand.write_text(f'cuda_src = """{cu}"""\n')
    bdir = tmp_path / "build"
    bdir.mkdir()
    calls: list[dict[str, Any]] = []
    fake = _fake_loader(True, calls)
    cpp_list = ["void k();"]
    bound = inspect.signature(fake).bind(name="m", cpp_sources=cpp_list, cuda_sources=cu, build_directory=str(bdir))
    log: dict[str, Any] = {}
    with pytest.raises(RuntimeError) as ei:
        cb.fast_load_inline(fake, bound, log)
    assert [c["build_directory"] for c in calls] == [str(bdir / cb.LIGHT_SUBDIR), str(bdir)]
    assert calls[1]["cpp_sources"] is cpp_list and calls[1]["extra_cuda_cflags"] is None
    assert log["variant"] == "full" and log["why_full"].startswith("light build failed")
    assert (bdir / cb.LIGHT_SUBDIR / cb.FAILED_MARKER).exists()
    msg = map_build_lines(str(ei.value), str(bdir), bound.arguments, str(cand))
    assert "candidate.py:2" in msg and "expected a" in msg  # cuda.cu line 5 = the candidate's line 2
    # a later process goes straight to the original build
    calls.clear()
    with pytest.raises(RuntimeError):
        cb.fast_load_inline(fake, inspect.signature(fake).bind(**bound.arguments), {})
    assert [c["build_directory"] for c in calls] == [str(bdir)]


# ---- compilers ---------------------------------------------------------------------------------------
def _compile_cu(tmp: Path, sources: list[str], inc: str) -> subprocess.CompletedProcess[str]:
    src = tmp / "cuda.cu"
    src.write_text(_generated_cu(sources))
    return subprocess.run([NVCC or "nvcc", *_cu_flags([f"-I{inc}"]), "-c", str(src), "-o", str(tmp / "cuda.o")],
                          capture_output=True, text=True, timeout=600)


def _compile_main(tmp: Path, cand: dict[str, Any], inc: str) -> subprocess.CompletedProcess[str]:
    import torch.utils.cpp_extension as cpp

    # main.cpp as load_inline writes it: the header, the declarations, the generated bindings
    defs = [f'm.def("{f}", torch::wrap_pybind_function({f}), "{f}");' for f in cand["functions"]]
    text = "\n".join(["#include <torch/extension.h>", cand["cpp_sources"], "PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {",
                      *defs, "}"])
    src = tmp / "main.cpp"
    src.write_text(text)
    incs = [a for p in cpp.include_paths() for a in ("-isystem", p)]
    import sysconfig

    return subprocess.run(["c++", f"-I{inc}", "-DTORCH_EXTENSION_NAME=m", "-DTORCH_API_INCLUDE_EXTENSION_H", *incs,
                           "-isystem", sysconfig.get_paths()["include"], "-fPIC", "-std=c++20", "-fsyntax-only",
                           str(src)], capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(NVCC is None or shutil.which("c++") is None, reason="needs nvcc and c++")
def test_kernelbench_sources_compile_with_light_headers(tmp_path: Path) -> None:
    """All bench candidates and the extra snippets in one nvcc run (one TU keeps it to ~30 s on 2 cores),
    and one candidate's main.cpp with the generated bindings against the light pybind header."""
    b = _bench()
    sources = [c["cuda_sources"] for c in b.CANDIDATES] + EXTRA_CU
    import torch.utils.cpp_extension as cpp

    # A bare nvcc lacks cuSPARSE & co. for ATen/cuda/CUDAContext.h, a CPU wheel lacks c10/cuda's config header:
    # then only the sources without those headers can be checked here (the GPU host's bench builds all).
    if not (_cuda_has("cusparse.h") and os.path.exists(os.path.join(cpp.include_paths()[0], "c10/cuda/impl/cuda_cmake_macros.h"))):
        sources = [s for s in sources if "c10/cuda/" not in s and "ATen/cuda/" not in s]
    assert len(sources) >= 3
    args = {"cpp_sources": [c["cpp_sources"] for c in b.CANDIDATES], "cuda_sources": sources,
            "functions": [f for c in b.CANDIDATES for f in c["functions"]]}
    dirs = cb.write_shims(str(tmp_path / "light"), args)
    (tmp_path / "cu").mkdir()
    (tmp_path / "cpp").mkdir()
    with ThreadPoolExecutor(2) as ex:
        fcu = ex.submit(_compile_cu, tmp_path / "cu", sources, dirs["cu"])
        fmain = ex.submit(_compile_main, tmp_path / "cpp", b.CANDIDATES[2], dirs["cpp"])
        rcu, rmain = fcu.result(), fmain.result()
    assert rcu.returncode == 0, rcu.stdout + rcu.stderr
    assert rmain.returncode == 0, rmain.stdout + rmain.stderr


@pytest.mark.skipif(not SLOW or NVCC is None, reason="KS_SLOW_TESTS=1 and nvcc needed (about a minute)")
def test_real_error_path_reports_candidates_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .cu with an error: the light build fails, the original build runs and its nvcc error, mapped
    by the harness, names the candidate's line."""
    import torch.utils.cpp_extension as cpp

    from verifier.candidate.harness import map_build_lines

    monkeypatch.setattr(cpp, "CUDA_HOME", cpp.CUDA_HOME or _cuda_home())
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0a")
    cu = ("#include <torch/extension.h>\n__global__ void k(float* x) { x[0] = 1.f; }\n"
          "torch::Tensor f(torch::Tensor x) {\n  k<<<1, 1>>>(x.data_ptr<float>())\n  return x;\n}\n")
    cand = tmp_path / "candidate.py"
    cand.write_text(f'import torch\n\ncuda_src = """{cu}"""\n')
    bdir = tmp_path / "build"
    bdir.mkdir()
    orig = cpp.load_inline
    bound = inspect.signature(orig).bind(name=f"err_{os.getpid()}", cpp_sources="torch::Tensor f(torch::Tensor x);",
                                        cuda_sources=cu, functions=["f"], build_directory=str(bdir))
    log: dict[str, Any] = {}
    with pytest.raises(Exception) as ei:
        cb.fast_load_inline(orig, bound, log)
    assert log["variant"] == "full"
    msg = map_build_lines(str(ei.value), str(bdir), bound.arguments, str(cand))
    assert "candidate.py:6" in msg or "candidate.py:7" in msg, msg[-3000:]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
