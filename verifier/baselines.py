"""Eager and torch.compile baselines, timed in the parent with the same method and inputs as the candidate.

Eager is measured again in every verification, right after the candidate under the same exclusive GPU lock
(with CUDA-graph replay it costs well under a second), so candidate and baseline share one window of card
state. torch.compile (and FlexAttention) are measured once per (problem source hash, GPU name, torch
version) and cached in ``.data/baselines/<problem>-<hash>.json`` together with the eager figure of that run;
the cache is re-validated against each fresh eager figure: when it moved outside the cached interval by
more than ``REVALIDATE_TOLERANCE``, the card or its state changed and everything is measured again.

torch.compile is timed as a user deploys it at these sizes: its calls replayed as a CUDA graph (what
``mode="reduce-overhead"`` does), with the host time of a plain call (the Python wrapper, ``compile_host_ms``)
reported beside it.

Also computes the lower bound for the implausible-speedup check: every correct kernel must at least write
its output once, at the card's copy rate. The reference's FLOPs at the peak rate give a second figure,
which a better algorithm can beat (diag(A) @ B as a row scaling): below it the verdict asks for review.
"""
from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

from verifier import sandbox
from verifier.timing import TIMING_MIN_TRIALS, TIMING_TARGET_S, Clock
from verifier.wire import SpeedOfLight

# (peak DRAM bandwidth bytes/s, dense fp32-as-TF32 FLOP/s, dense fp16/bf16 FLOP/s) -- generous (spec) numbers
PEAKS = [
    ("H200", 4.8e12, 495e12, 989e12),
    ("H100", 3.35e12, 495e12, 989e12),
    ("GH200", 4.9e12, 495e12, 989e12),
    ("B200", 8.0e12, 1.2e15, 2.3e15),
    ("A100", 2.04e12, 156e12, 312e12),
    ("L40", 0.86e12, 90e12, 181e12),
]
DEFAULT_PEAK = ("unknown", 10e12, 2.5e15, 5e15)
REVALIDATE_TOLERANCE = 0.05
COMPILE_MODE = "default, replayed as a CUDA graph (as mode='reduce-overhead' deploys it)"


def _peaks(gpu: str) -> tuple[str, float, float, float]:
    for p in PEAKS:
        if p[0] in gpu:
            return p
    return DEFAULT_PEAK


def _cache_path(ref: Any) -> str:
    d = os.path.join(sandbox.data_dir(), "baselines")
    os.makedirs(d, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(ref.pid))[:80]
    return os.path.join(d, f"{safe}-{ref.phash}.json")


def _bench(clock: Clock, fns: list[Any]) -> dict[str, Any]:
    """The candidate's method and trial budget (no side-stream cross-check: this is PyTorch's own code)."""
    return clock.bench_cuda(fns, min_trials=TIMING_MIN_TRIALS, target_s=TIMING_TARGET_S, cross_check=False)


def _timing_sets(ref: Any) -> list[list[Any]]:
    torch = ref.torch
    return [[x.clone() if isinstance(x, torch.Tensor) else x for x in s] for s in ref.timing_inputs]


def _stats(prefix: str, r: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_ms": r["median"], f"{prefix}_p20": r["p20"], f"{prefix}_p80": r["p80"],
            f"{prefix}_interval": [r["low"], r["high"]], f"{prefix}_trials": r["trials"],
            f"{prefix}_method": r["method"], f"{prefix}_host_ms": r["host_ms"]}


def measure_eager(ref: Any) -> dict[str, Any]:
    clock = Clock(ref.torch)
    model = ref.trials[0].model
    sets = _timing_sets(ref)
    t0 = time.perf_counter()
    out = _stats("eager", _bench(clock, [(lambda inp=inp: model(*inp)) for inp in sets]))
    out["eager_s"] = time.perf_counter() - t0
    return out


def _revalidated(cached: dict[str, Any], fresh: dict[str, Any]) -> bool:
    """Whether a cached entry still describes the card: the fresh eager median inside the cached eager
    interval, widened by the tolerance."""
    iv = cached.get("eager_interval")
    if not isinstance(iv, list) or len(iv) != 2:
        return False  # an entry from before intervals: measure again
    lo, hi = iv[0] * (1 - REVALIDATE_TOLERANCE), iv[1] * (1 + REVALIDATE_TOLERANCE)
    return bool(lo <= fresh["eager_ms"] <= hi)


def get_or_measure(ref: Any, device: str) -> dict[str, Any]:
    torch = ref.torch
    gpu = torch.cuda.get_device_name(0)
    key = f"{gpu}|{torch.__version__}"
    path = _cache_path(ref)
    data: dict[str, Any] = {}
    if os.path.exists(path):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError):
            data = {}
    fresh = measure_eager(ref)
    cached = data.get(key)
    if isinstance(cached, dict) and os.environ.get("VERIFIER_REFRESH_BASELINES") != "1" and _revalidated(cached, fresh):
        out = {**cached, **fresh, "cached": True}
        return out
    out = {**measure_rest(ref, gpu), **fresh}
    if isinstance(cached, dict):
        out["replaced"] = f"cached eager {cached.get('eager_ms')} ms, measured {fresh['eager_ms']} ms"
    data[key] = out
    tmp = path + f".tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
    return {**out, "cached": False}


def measure_rest(ref: Any, gpu: str) -> dict[str, Any]:
    """torch.compile, FlexAttention and the bounds: what is cached."""
    torch = ref.torch
    clock = Clock(torch)
    model = ref.trials[0].model
    sets = _timing_sets(ref)
    out: dict[str, Any] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "compile_ms": None,
                           "compile_mode": COMPILE_MODE}
    if os.environ.get("VERIFIER_SKIP_COMPILE_BASELINE") != "1":
        t1 = time.perf_counter()
        try:
            cm = torch.compile(model)
            out.update(_stats("compile", _bench(clock, [(lambda inp=inp: cm(*inp)) for inp in sets])))
        except Exception as e:  # noqa: BLE001 - a baseline that does not compile is reported, not fatal
            out["compile_error"] = f"{type(e).__name__}: {e}"[:300]
        finally:
            try:  # a warm verifier lives through many problems: drop the compiled graphs once measured
                torch._dynamo.reset()
            except Exception:  # noqa: BLE001
                pass
        out["compile_s"] = time.perf_counter() - t1
    out.update(_flex_baseline(ref, clock, sets))
    out.update(bounds(ref, gpu))
    out["reference_launches"] = reference_launches(ref)
    return out


def reference_launches(ref: Any, calls: int = 3) -> float | None:
    """Kernels the reference's forward launches per call (eager, after a warm-up call), from the CUDA
    profiler in the parent: timing.hardware.reference_launches_per_call. None where the profiler fails."""
    torch = ref.torch
    model = ref.trials[0].model
    inp = _timing_sets(ref)[0]
    try:
        with torch.no_grad():
            model(*inp)
            torch.cuda.synchronize()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                for _ in range(calls):
                    model(*inp)
                torch.cuda.synchronize()
        evs = prof.profiler.kineto_results.events()
        kernels = [e for e in evs if (e.activity_type() == "kernel" if hasattr(e, "activity_type")
                                      else str(e.device_type()).endswith("CUDA"))]
    except Exception:  # noqa: BLE001 - advice only: no count rather than no verdict
        return None
    return len(kernels) / calls


@functools.lru_cache(maxsize=None)
def copy_bandwidth(torch: Any) -> float:
    """The card's device-to-device copy rate in bytes/s (bytes read plus bytes written), measured once per
    process on 1 GiB buffers (far beyond the L2)."""
    n = 1 << 28
    a = torch.empty(n, dtype=torch.int32, device="cuda")
    b = torch.empty_like(a)
    r = Clock(torch).bench_cuda([lambda: b.copy_(a)], min_trials=10, target_s=0.05, max_trials=30, graph=False,
                                cross_check=False)
    return 2 * n * 4 / (r["median"] / 1000)


@functools.lru_cache(maxsize=None)
def matmul_peak(torch: Any, dtype_name: str) -> float:
    """The card's dense matrix rate in FLOP/s for ``dtype_name`` (float16, bfloat16, float32 without TF32),
    measured once per process on random 8192x8192 operands (4096 for float32)."""
    dtype = getattr(torch, dtype_name)
    n = 4096 if dtype == torch.float32 else 8192
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    r = Clock(torch).bench_cuda([lambda: a @ b], min_trials=5, target_s=0.05, max_trials=20, graph=False,
                                cross_check=False)
    return 2 * n ** 3 / (r["median"] / 1000)


def _tensor_bytes(torch: Any, xs: Any) -> int:
    return sum(t.numel() * t.element_size() for t in xs if isinstance(t, torch.Tensor))


def bounds(ref: Any, gpu: str) -> dict[str, Any]:
    """What every correct kernel must do, and the card's limits for it (docs/verifier.md, "Speed of light").

    Bytes: each input, weight and buffer of the reference read once and each output written once (the L2 is
    flushed before every timed call, so nothing stays there between calls). FLOPs: what
    torch.utils.flop_counter counts for the reference (matrix products and convolutions; elementwise and
    reduction work counts as none, so such problems are bounded by their bytes alone)."""
    torch = ref.torch
    name, spec_bw, f32, f16 = _peaks(gpu)
    model = ref.trials[0].model
    flops = 0
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            model(*[x.clone() if isinstance(x, torch.Tensor) else x for x in ref.timing_inputs[0]])
        flops = int(fc.get_total_flops())
    except Exception:  # noqa: BLE001 - no FLOP count: the problem is bounded by its bytes alone
        flops = 0
    outs = ref.timing_refs[0]
    out_bytes = _tensor_bytes(torch, outs)
    weights = list(model.state_dict().values()) if hasattr(model, "state_dict") else []
    min_bytes = _tensor_bytes(torch, ref.timing_inputs[0]) + _tensor_bytes(torch, weights) + out_bytes
    dtypes = {t.dtype for t in list(outs) + list(ref.timing_inputs[0]) if isinstance(t, torch.Tensor)}
    dtype_name = "float16" if torch.float16 in dtypes else "bfloat16" if torch.bfloat16 in dtypes else "float32"
    try:
        copy_bw = copy_bandwidth(torch)
        peak = matmul_peak(torch, dtype_name) if flops else 0.0
    except Exception:  # noqa: BLE001 - without measured limits only the datasheet's are left
        copy_bw, peak = 0.0, 0.0
    spec_peak = f16 if dtype_name != "float32" else f32
    # the faster of the measured copy rate and the datasheet: a bound no correct kernel can beat
    bw = max(copy_bw, spec_bw)
    return {"flops": flops, "out_bytes": out_bytes, "min_bytes": min_bytes, "copy_bw": copy_bw,
            "peak_flops": peak, "peak_dtype": dtype_name,
            "bound_ms": out_bytes / bw * 1000,
            "bound_text": f"writing its {out_bytes} output bytes at {bw / 1e12:.2f} TB/s",
            "review_ms": max(out_bytes / bw, flops / spec_peak) * 1000,
            "review_text": f"{flops} FLOP of the reference at {spec_peak / 1e12:g} TFLOP/s ({name} datasheet) and "
                           f"its {out_bytes} output bytes at {bw / 1e12:.2f} TB/s"}


def speed_of_light(base: dict[str, Any], median_ms: float | None) -> SpeedOfLight | None:
    """The kernel's achieved fraction of the card's limit for this problem: the larger of its minimum bytes
    at the measured copy rate and its FLOPs at the measured matrix rate, over its median time."""
    copy_bw, min_bytes = base.get("copy_bw") or 0.0, base.get("min_bytes") or 0
    if not copy_bw or not min_bytes or not median_ms or median_ms <= 0:
        return None
    flops, peak = base.get("flops") or 0, base.get("peak_flops") or 0.0
    mem_ms = min_bytes / copy_bw * 1000
    comp_ms = flops / peak * 1000 if flops and peak else 0.0
    s = median_ms / 1000
    return {"fraction": max(mem_ms, comp_ms) / median_ms, "limiter": "compute" if comp_ms > mem_ms else "memory",
            "min_bytes": int(min_bytes), "flops": int(flops), "achieved_tbps": min_bytes / s / 1e12,
            "achieved_tflops": flops / s / 1e12 if flops else None, "copy_tbps": copy_bw / 1e12,
            "peak_tflops": peak / 1e12 if peak else None, "peak_dtype": base.get("peak_dtype"),
            "bytes_only": not flops}


def _flex_baseline(ref: Any, clock: Clock, sets: list[list[Any]]) -> dict[str, Any]:
    """Attention problems rendered from a variant spec (they define score_mod / mask_mod) are also timed
    against compiled FlexAttention on the same inputs; other problems get flex_ms = None."""
    mod = getattr(ref, "mod", None)
    if mod is None or not (hasattr(mod, "score_mod") or hasattr(mod, "mask_mod")):
        return {"flex_ms": None}
    t0 = time.perf_counter()
    try:
        from . import attention

        fns = [attention.baselines(mod, *inp[:3])["flex_attention"] for inp in sets]
        return {**_stats("flex", _bench(clock, fns)), "flex_s": time.perf_counter() - t0}
    except Exception as e:  # noqa: BLE001
        return {"flex_ms": None, "flex_error": f"{type(e).__name__}: {e}"[:300]}


def eager_cpu(ref: Any) -> float | None:
    torch = ref.torch
    clock = Clock(torch)
    model = ref.trials[0].model
    fns = [(lambda inp=inp: model(*inp)) for inp in ref.timing_inputs]
    try:
        return clock.bench_cpu(fns, max_trials=5, target_s=0.5)["median"]
    except Exception:  # noqa: BLE001
        return None
