"""Helpers for the candidate's process: poisoning, launch counting, op recording, snapshots, timing.

Imported by ``verifier._runner`` after torch and before the candidate.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import shutil
import subprocess
import time
from typing import Any, Callable, Iterator

from verifier import cuda_build
from verifier.shared import INT_POISON, PAYLOAD_BITS, record_aten_ops
from verifier.timing import Clock, covered_length


def map_build_lines(msg: str, bdir: str, args: dict[str, Any], cand_path: str) -> str:
    """Rewrite 'cuda.cu(12)' / 'main.cpp:12:5' in a build log to the candidate's own line numbers."""
    import re

    try:
        with open(cand_path, encoding="utf-8") as f:
            cand = f.read()
    except OSError:
        return msg
    maps: list[tuple[str, int, int, int]] = []
    for fname, key in (("cuda.cu", "cuda_sources"), ("main.cpp", "cpp_sources")):
        srcs = args.get(key)
        if isinstance(srcs, str):
            srcs = [srcs]
        if not srcs:
            continue
        try:
            with open(os.path.join(bdir, fname), encoding="utf-8") as f:
                gen = f.read()
        except OSError:
            continue
        for src in srcs:
            if not isinstance(src, str) or not src.strip():
                continue
            gi, ci = gen.find(src), cand.find(src)
            if gi < 0 or ci < 0:
                continue
            g0 = gen[:gi].count("\n") + 1
            maps.append((fname, g0, g0 + src.count("\n"), cand[:ci].count("\n") + 1))

    def to_cand(fname: str, line: int) -> str | None:
        for f, g0, g1, c0 in maps:
            if f == fname and g0 <= line <= g1:
                return f"candidate.py:{c0 + line - g0}"
        return None

    def nv(m: Any) -> str:
        return to_cand(m.group(1), int(m.group(2))) or m.group(0)

    msg = re.sub(r"(?:[^\s\"'():]*/)?(cuda\.cu|main\.cpp)\((\d+)\)", nv, msg)
    msg = re.sub(r"(?:[^\s\"'():]*/)?(cuda\.cu|main\.cpp):(\d+)(?::\d+)?", nv, msg)
    return msg


def os_thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1


def child_pids() -> list[int]:
    """This process's live children (zombies left out)."""
    from verifier.sandbox import child_pids_of

    alive = []
    for p in child_pids_of("self"):
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().split(") ")[-1][:1] not in ("Z", "X"):
                    alive.append(p)
        except OSError:
            pass
    return alive


def poison_fill(torch: Any, t: Any, mode: str | None) -> None:
    if mode is None or not isinstance(t, torch.Tensor) or t.numel() == 0:
        return
    with torch.no_grad():
        if mode == "zero":
            t.zero_()
            return
        name = str(t.dtype).replace("torch.", "")
        if name in PAYLOAD_BITS:
            idt, val = PAYLOAD_BITS[name]
            if t.is_contiguous():
                t.view(getattr(torch, idt)).fill_(val)
            else:
                t.fill_(float("nan"))
        elif t.dtype == torch.bool or t.is_complex():
            return
        elif t.is_floating_point():
            t.fill_(float("nan"))
        else:
            info = torch.iinfo(t.dtype)
            t.fill_(INT_POISON & info.max)


def clone_all(torch: Any, xs: list[Any], device: str | None = None) -> list[Any]:
    out = []
    for x in xs:
        if isinstance(x, torch.Tensor):
            y = x.detach().clone()
            out.append(y.to(device) if device else y)
        else:
            out.append(copy.deepcopy(x))
    return out


def overwrite(torch: Any, a: list[Any], b: list[Any]) -> None:
    for i, (x, y) in enumerate(zip(a, b)):
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape == y.shape and x.dtype == y.dtype:
            x.copy_(y)
        else:
            a[i] = y.detach().clone().to(x.device) if isinstance(y, torch.Tensor) and isinstance(x, torch.Tensor) else y


def copy_state(torch: Any, model: Any, ref_sd: dict[str, Any]) -> dict[str, Any]:
    """Copy the reference's weights into ModelNew where names and shapes match."""
    if not hasattr(model, "state_dict"):
        return {"matched": 0, "ref": len(ref_sd), "own": 0}
    own = model.state_dict()
    match = {k: v for k, v in ref_sd.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if match:
        model.load_state_dict(match, strict=False)
    return {"matched": len(match), "ref": len(ref_sd), "own": len(own)}


def snapshot(torch: Any, out: Any, keep_device: bool = False) -> tuple[list[Any], list[dict[str, Any]]]:
    """Flatten forward's result to copies (on the CPU, or where they are with ``keep_device``: handed to
    the parent through CUDA IPC) plus a description of each item's type."""
    items: list[Any] = []
    types: list[dict[str, Any]] = []

    def rec(o: Any, depth: int = 0) -> None:
        if isinstance(o, torch.Tensor):
            tname = f"{type(o).__module__}.{type(o).__qualname__}"
            info: dict[str, Any] = {"kind": "tensor", "type": tname, "plain": type(o) is torch.Tensor}
            try:
                if not info["plain"]:
                    raise TypeError(f"output is a {tname}, not a plain torch.Tensor")
                if o.is_meta or o.layout != torch.strided:
                    raise TypeError(f"output has no real storage (meta={o.is_meta}, layout={o.layout})")
                if o.numel() > 0 and o.untyped_storage().data_ptr() == 0:
                    raise TypeError("output storage has a null data pointer")
                info.update(dtype=str(o.dtype).replace("torch.", ""), shape=list(o.shape), device=o.device.type)
                items.append(o.detach().clone() if keep_device else o.detach().clone().cpu())
            except Exception as e:  # noqa: BLE001
                info["plain"] = False
                info["why"] = str(e)[:300]
                items.append(None)
            types.append(info)
        elif isinstance(o, (list, tuple)) and depth < 4:
            for x in o:
                rec(x, depth + 1)
        elif isinstance(o, (int, float, bool)) or o is None:
            items.append(o)
            types.append({"kind": "scalar", "type": type(o).__name__})
        else:
            items.append(None)
            types.append({"kind": "object", "type": f"{type(o).__module__}.{type(o).__qualname__}",
                          "torch_function": hasattr(type(o), "__torch_function__") or hasattr(type(o), "__torch_dispatch__")})

    rec(out)
    return items, types


def _nvcc_id() -> str:
    nvcc = shutil.which("nvcc") or os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")
    try:
        return subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[-1]
    except Exception:  # noqa: BLE001
        return "no-nvcc"


def _capture_profiler() -> tuple[Any, Any] | None:
    """torch.profiler's entry points, taken before the candidate is imported (it could patch them later)."""
    try:
        from torch.profiler import ProfilerActivity, profile

        return profile, ProfilerActivity
    except Exception:  # noqa: BLE001
        return None


GPU_ACTIVITIES = ("kernel", "gpu_memcpy", "gpu_memset")


def _is_gpu_work(e: Any) -> bool:
    """A kernel, copy or memset on the GPU (not a CPU-side call, not a user annotation's GPU range)."""
    if hasattr(e, "activity_type"):  # torch >= 2.13
        return e.activity_type() in GPU_ACTIVITIES
    if getattr(e, "is_user_annotation", lambda: False)():
        return False
    return str(e.device_type()).endswith("CUDA")


def profile_gpu_work(profiler: tuple[Any, Any] | None, sync: Callable[[], Any], zero_: Callable[[Any], Any],
                     marker: Any, calls: list[Callable[[], Any]]) -> dict[str, Any]:
    """What the GPU ran for ``calls``, on every stream, from the CUDA profiler (CUPTI): the one check that
    sees work on a stream the candidate's C++ made itself. ``marker`` (a one-element tensor) is zeroed on
    the current stream first (with ``zero_`` as captured before the candidate was imported): the first GPU
    activity names the stream being timed. Returns the GPU's busy time per call in ms (the union of the
    activities' intervals: kernels that overlap count once), the activities on other streams
    (``off_stream``: count, names, ms), or ``error`` when the profiler failed. An exception raised by
    a call is the candidate's and is raised again."""
    if profiler is None:
        return {"error": "torch.profiler unavailable"}
    profile, activity = profiler
    t0 = time.perf_counter()
    call_error: BaseException | None = None
    try:
        sync()
        with profile(activities=[activity.CUDA]) as prof:
            zero_(marker)
            for f in calls:
                try:
                    f()
                except BaseException as e:  # noqa: BLE001 - the candidate's: raised below, profiler closed
                    call_error = e
                    break
            sync()
        evs = [e for e in prof.profiler.kineto_results.events() if _is_gpu_work(e)]
    except Exception as e:  # noqa: BLE001 - no CUPTI, profiler busy, ...
        if call_error is not None:
            raise call_error from None
        return {"error": f"{type(e).__name__}: {e}"[:200]}
    if call_error is not None:
        raise call_error
    if not evs:
        return {"error": "the profiler recorded no GPU activity"}
    evs.sort(key=lambda e: e.start_ns())
    timed_stream = evs[0].device_resource_id()
    work = evs[1:]
    off = [e for e in work if e.device_resource_id() != timed_stream]
    busy_ns = covered_length((e.start_ns(), e.start_ns() + e.duration_ns()) for e in work)
    return {"calls": len(calls), "work_ms_per_call": busy_ns / 1e6 / max(1, len(calls)),
            "activities": len(work), "off_stream": len(off), "wall_s": round(time.perf_counter() - t0, 3),
            "off_stream_ms": sum(e.duration_ns() for e in off) / 1e6,
            "off_stream_names": sorted({e.name()[:80] for e in off})[:3],
            "kernel_counts": _kernel_counts(work)}


MAX_REPORTED_KERNELS = 64  # distinct kernel names kept for timing.hardware; the parent lists fewer


def _kernel_counts(work: list[Any]) -> dict[str, int]:
    """Launches per kernel name among the profiled GPU activities (copies and memsets left out where the
    profiler says which is which), for timing.hardware."""
    counts: dict[str, int] = {}
    for e in work:
        if hasattr(e, "activity_type") and e.activity_type() != "kernel":
            continue
        name = e.name()[:200]
        if name in counts or len(counts) < MAX_REPORTED_KERNELS:
            counts[name] = counts.get(name, 0) + 1
    return counts


def triton_kernel_facts(kernel: Any, grid: Any) -> dict[str, Any] | None:
    """What a compiled Triton kernel says about itself (registers, local memory, shared memory, warps) and
    its launch grid when the grid was given as a tuple; None for the interpreter, which compiles nothing.
    Attribute names follow Triton 3.x's CompiledKernel; anything missing is left out."""
    regs = getattr(kernel, "n_regs", None)
    meta = getattr(kernel, "metadata", None)
    if not isinstance(regs, int) or meta is None:
        return None
    spills = getattr(kernel, "n_spills", None)  # CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES / 4
    warps = getattr(meta, "num_warps", None)
    warp_size = getattr(meta, "warp_size", 32)
    g = [int(x) for x in grid][:3] if isinstance(grid, (tuple, list)) and all(isinstance(x, int) for x in grid) else None
    return {"registers": regs, "spill_bytes": spills * 4 if isinstance(spills, int) else None,
            "shared_bytes": getattr(meta, "shared", None),
            "block": [warps * warp_size] if isinstance(warps, int) and isinstance(warp_size, int) else None,
            "grid": g}


def _count_calls(h: Harness, m: Any) -> Any:
    """Wrap an extension module's functions: each call counts as a launch and has its stream checked."""
    for attr in dir(m):
        if attr.startswith("_"):
            continue
        f = getattr(m, attr)
        if callable(f) and not isinstance(f, type):
            def counted(*a: Any, _fn: Any = f, **k: Any) -> Any:
                h.launches += 1
                h.check_stream()
                return _fn(*a, **k)
            try:
                setattr(m, attr, counted)
            except Exception:  # noqa: BLE001 - a module that refuses the attribute keeps its own function
                pass
    return m


def _take_record_seed(cfg: dict[str, Any]) -> int | None:
    """The parent's seed for the op-recording call, taken out of the config (in memory and in its file)
    before the candidate is imported, so that the candidate cannot read it there and prepare for it."""
    seed = cfg.pop("record_seed", None)
    path = os.path.join(cfg.get("workdir", ""), "config.json")
    if seed is not None and os.path.isfile(path):
        try:
            with open(path, "w") as f:
                json.dump(cfg, f)
        except OSError:
            pass
    return int(seed) if isinstance(seed, int) else None


class Harness:
    def __init__(self, torch: Any, device: str, cfg: dict[str, Any]):
        self.torch = torch
        self.device = device
        self.cfg = cfg
        self.clock = Clock(torch)
        self.launches = 0
        self.last_ops: dict[str, int] = {}
        self.poison_mode: str | None = None
        self.out_nbytes = int(cfg.get("out_nbytes", 0))
        self.out_sizes: list[int] = []
        self._orig: dict[str, Any] = {}
        self.build_log: list[dict[str, Any]] = []
        self.cuda_modules: list[str] = []  # built extensions' files, for the parent's cuobjdump (cuda_resources)
        self.expected_stream: Any = None
        self.off_stream_launches = 0
        self.off_stream_example = ""
        self._current_stream: Any = torch.cuda.current_stream if device == "cuda" else None
        self._profiler = _capture_profiler() if device == "cuda" else None
        self.profiler_works = False  # set by start_profiler()
        self.record_seed = _take_record_seed(cfg)
        self.triton_kernels: dict[str, dict[str, Any]] = {}  # name -> triton_kernel_facts, last launch wins

    def note_triton_kernel(self, kernel: Any, grid: Any) -> None:
        try:
            facts = triton_kernel_facts(kernel, grid)
            name = getattr(kernel, "name", None)
        except Exception:  # noqa: BLE001 - advice only: a Triton without these attributes reports nothing
            return
        if facts is not None and isinstance(name, str) and (name in self.triton_kernels
                                                            or len(self.triton_kernels) < MAX_REPORTED_KERNELS):
            self.triton_kernels[name[:200]] = facts

    # ---- installation -----------------------------------------------------------------------------
    def install(self) -> None:
        torch = self.torch
        h = self
        for name in ("empty", "empty_like", "empty_strided"):
            orig = getattr(torch, name)
            self._orig[name] = orig

            def wrapper(*a: Any, _orig_fn: Any = orig, **k: Any) -> Any:
                t = _orig_fn(*a, **k)
                if h.poison_mode is not None:
                    poison_fill(torch, t, h.poison_mode)
                return t

            wrapper.__name__ = name
            wrapper.__doc__ = orig.__doc__
            setattr(torch, name, wrapper)
        orig_new_empty = torch.Tensor.new_empty
        self._orig["new_empty"] = orig_new_empty

        def new_empty(self_t: Any, *a: Any, **k: Any) -> Any:
            t = orig_new_empty(self_t, *a, **k)
            if h.poison_mode is not None:
                poison_fill(torch, t, h.poison_mode)
            return t

        torch.Tensor.new_empty = new_empty
        # the op recorder's first use may start a thread: before the baseline of OS threads, not after
        record_aten_ops(torch, lambda: torch.ones(2).add(1))
        self._install_triton()
        self._install_cpp_extension()

    def start_profiler(self) -> None:
        """The first profiling session of a process starts CUPTI (about 3 s, on the host): paid here, in a
        candidate process started ahead, not in the candidate's timing stage."""
        warm = profile_gpu_work(self._profiler, self.clock.sync, self.clock.zero_,
                                self._orig["empty"](1, device="cuda"), [])
        self.profiler_works = "error" not in warm

    def uninstall_poison(self) -> None:
        self.poison_mode = None

    def check_stream(self) -> None:
        """During correctness calls: a kernel (Triton launch or extension call) must go to the stream the
        harness times on. Extension code that uses at::cuda::getCurrentCUDAStream() follows torch's
        current stream, so this covers it too."""
        if self.expected_stream is None:
            return
        try:
            cur = self._current_stream()
        except Exception:  # noqa: BLE001
            return
        if cur != self.expected_stream:
            self.off_stream_launches += 1
            self.off_stream_example = str(cur)

    def _install_triton(self) -> None:
        h = self
        try:
            from triton.runtime import jit as tjit
        except Exception:  # noqa: BLE001
            return
        targets = [tjit.JITFunction]
        try:
            from triton.runtime import interpreter as tinterp
            targets.append(tinterp.InterpretedFunction)
        except Exception:  # noqa: BLE001
            pass
        for cls in targets:
            orig = cls.run

            def run(self_f: Any, *a: Any, _orig_fn: Any = orig, **k: Any) -> Any:
                if not k.get("warmup", False):
                    h.launches += 1
                    h.check_stream()
                kernel = _orig_fn(self_f, *a, **k)
                if h.device == "cuda" and not k.get("warmup", False):
                    h.note_triton_kernel(kernel, k.get("grid"))
                return kernel

            cls.run = run

    def _install_cpp_extension(self) -> None:
        """Wrap load_inline / load: a build cache keyed by source hash + toolchain, sm_90a, launch counting."""
        torch = self.torch
        h = self
        try:
            import torch.utils.cpp_extension as cpp
        except Exception:  # noqa: BLE001
            return
        cache_root = self.cfg.get("build_cache")
        if self.device == "cuda":
            major, minor = torch.cuda.get_device_capability(0)
            arch = f"{major}.{minor}" + ("a" if major >= 9 else "")
            os.environ["TORCH_CUDA_ARCH_LIST"] = self.cfg.get("cuda_arch") or arch
        os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
        orig_inline = cpp.load_inline
        orig_load = cpp.load
        sig = inspect.signature(orig_inline)
        toolchain: dict[str, str] = {}

        def tool_id() -> str:
            if "id" not in toolchain:
                toolchain["id"] = json.dumps([torch.__version__, torch.version.cuda, os.environ.get("TORCH_CUDA_ARCH_LIST"),
                                              _nvcc_id(), shutil.which("c++") or "", shutil.which("ninja") or ""])
            return toolchain["id"]

        def wrap_module(m: Any) -> Any:
            f = getattr(m, "__file__", None)
            if isinstance(f, str) and f not in h.cuda_modules and len(h.cuda_modules) < 8:
                h.cuda_modules.append(f)
            return _count_calls(h, m)

        def load_inline(*a: Any, **k: Any) -> Any:
            b = sig.bind(*a, **k)
            args = b.arguments
            if cache_root:
                h.build_log.append(cuda_build.use_cache_entry(args, cache_root, tool_id()))
            try:
                if cache_root:  # light headers first (seconds instead of a minute), the original build if not
                    mod = cuda_build.fast_load_inline(orig_inline, b, log=h.build_log[-1])
                else:
                    mod = orig_inline(*b.args, **b.kwargs)
            except Exception as e:  # point the compiler's lines at the candidate's source (re-raised)
                bdir = args.get("build_directory")
                cand = os.path.join(h.cfg.get("workdir", ""), "candidate.py")
                if bdir:
                    msg = map_build_lines(str(e), bdir, args, cand)
                    if msg != str(e):
                        raise RuntimeError(msg) from None
                raise
            return wrap_module(mod)

        def load(*a: Any, **k: Any) -> Any:
            return wrap_module(orig_load(*a, **k))

        cpp.load_inline = load_inline
        cpp.load = load

    # ---- running ----------------------------------------------------------------------------------
    def _poison_allocator(self, mode: str | None) -> None:
        """Fill memory the allocator will hand out next with the poison pattern.

        GPU: release the caching allocator's free blocks, then allocate, poison and free blocks of each
        output's exact size plus two larger ones, so that the candidate's next allocations (also those made
        in C++, which the patched torch.empty does not see) come from poisoned memory. CPU: the same blocks
        go back to malloc's free lists (best effort; torch.empty & co. are poisoned directly anyway)."""
        if mode is None or self.out_nbytes <= 0:
            return
        torch = self.torch
        empty = self._orig["empty"]
        try:
            if self.device == "cuda":
                torch.cuda.empty_cache()
            blocks = []
            big = min(max(self.out_nbytes * 2, 1 << 20), 2 << 30)
            sizes = [big, big] + [n for n in self.out_sizes for _ in range(2)]
            for n in sizes:
                n = max(8, n - n % 8)
                blk = empty(n // 4, dtype=torch.float32, device=self.device)
                poison_fill(torch, blk, mode)
                blocks.append(blk)
            del blocks
        except Exception:  # noqa: BLE001 - out of memory: skip
            pass

    def fresh_inputs(self) -> list[Any] | None:
        """Inputs of the problem for the seed the parent chose for the op record (``record_seed``): values
        no earlier call of this process has seen, so a cache keyed on input values cannot answer."""
        if self.record_seed is None:
            return None
        import sys

        from verifier import problem_inputs as pin

        problem = sys.modules.get("kernel_problem")
        if problem is None:
            return None
        return pin.make_inputs(self.torch, problem, self.record_seed, self.device)

    def run_forward(self, model: Any, inputs: list[Any], poison: str | None, record_ops: bool = False) -> Any:
        """One call of ``forward``. With ``record_ops`` the aten ops it dispatches are recorded (the
        torch-fallback check), on a call with fresh values first (``fresh_inputs``) and then on this one:
        ``last_ops`` is the union, ``launches`` the fewer of the two calls' kernel launches."""
        torch = self.torch
        fresh = self.fresh_inputs() if record_ops else None
        fresh_ops: dict[str, int] = {}
        fresh_launches = None
        if fresh is not None:
            start = self.launches
            self._call(model, fresh, poison, lambda f: record_aten_ops(torch, f))
            fresh_ops = self.last_ops
            fresh_launches = self.launches - start
            self.launches = start
        recorder = (lambda f: record_aten_ops(torch, f)) if record_ops else None
        out = self._call(model, inputs, poison, recorder)
        if record_ops:
            for k, n in fresh_ops.items():
                self.last_ops[k] = self.last_ops.get(k, 0) + n
            if fresh_launches is not None:
                self.launches = min(self.launches, fresh_launches)
        return out

    def _call(self, model: Any, inputs: list[Any], poison: str | None, recorder: Any) -> Any:
        self._poison_allocator(poison)
        if self.device == "cuda":
            self.clock.sync()
        self.poison_mode = poison
        try:
            with self.launches_on_current_stream():
                if recorder is not None:
                    out, self.last_ops = recorder(lambda: model(*inputs))
                else:
                    out = model(*inputs)
                if self.device == "cuda":
                    self.clock.sync()
        finally:
            self.poison_mode = None
        return out

    @contextlib.contextmanager
    def launches_on_current_stream(self) -> Iterator[None]:
        """Inside, every kernel launch (Triton, extension call) must go to the stream current now; others
        are counted by check_stream. On the CPU there is nothing to check."""
        self.expected_stream = self._current_stream() if self.device == "cuda" else None
        try:
            yield
        finally:
            self.expected_stream = None

    # ---- timing -----------------------------------------------------------------------------------
    def _stream_checked(self, model: Any, inputs: list[Any]) -> Any:
        """A call whose launches must go to the current stream, as in the correctness calls (a candidate
        may switch streams only once those are over)."""
        with self.launches_on_current_stream():
            return model(*inputs)

    def time_cuda(self, model: Any, sets: list[list[Any]], min_trials: int, target_s: float,
                  keep_device: bool = False) -> dict[str, Any]:
        torch = self.torch
        fns = [(lambda inp=inp: model(*inp)) for inp in sets]
        checked = [(lambda inp=inp: self._stream_checked(model, inp)) for inp in sets]
        originals = [clone_all(torch, s) for s in sets]

        def rotate(i: int, j: int) -> None:  # set j's values into set i's buffers (graph replay, new values)
            overwrite(torch, sets[i], originals[j])

        r = self.clock.bench_cuda(fns, min_trials=min_trials, target_s=target_s, checked=checked, rotate=rotate)
        marker = self._orig["empty"](1, device="cuda")
        prof = profile_gpu_work(self._profiler, self.clock.sync, self.clock.zero_, marker,
                                [checked[i % len(checked)] for i in range(3)])
        # it worked before the candidate was imported: failing now is the candidate's doing (its own
        # profiler session, say), which would switch this check off
        prof["failed_after_import"] = "error" in prof and self.profiler_works
        r["profiled"] = prof
        r["hardware"] = self.hardware_report(prof)
        r["last_outputs"] = [snapshot(self.torch, o, keep_device)[0] for o in r["last_outputs"]]
        return r

    def hardware_report(self, prof: dict[str, Any]) -> dict[str, Any] | None:
        """timing.hardware's raw material: the profiled calls' kernels with their launch counts, joined by
        name with what Triton's compiled kernels say (a CUDA extension's kernels get their resources from
        the parent's build log instead); None when the profiler saw nothing."""
        counts = prof.get("kernel_counts")
        if not isinstance(counts, dict) or not counts:
            return None
        kernels = [{"name": n, "launches": c, **self.triton_kernels.get(n, {})} for n, c in counts.items()]
        return {"calls": prof.get("calls"), "launches": sum(counts.values()), "kernels": kernels,
                "cuda_modules": list(self.cuda_modules)}

    def time_cpu(self, model: Any, sets: list[list[Any]], max_trials: int, target_s: float) -> dict[str, Any]:
        fns = [(lambda inp=inp: model(*inp)) for inp in sets]
        r = self.clock.bench_cpu(fns, max_trials=max_trials, target_s=target_s)
        r["last_outputs"] = [None if o is None else snapshot(self.torch, o)[0] for o in r["last_outputs"]]
        return r
