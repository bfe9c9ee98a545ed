"""Eager and torch.compile baselines, timed in the parent with the same method and inputs as the candidate.

Cached per (problem source hash, GPU name, torch version) in ``.data/baselines/<problem>-<hash>.json``.
Also computes a roofline lower bound (output bytes at peak bandwidth, reference FLOPs at peak tensor-core
rate) for the implausible-speedup check.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

from verifier import sandbox
from verifier.timing import TIMING_MIN_TRIALS, TIMING_TARGET_S, Clock

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
    if key in data and os.environ.get("VERIFIER_REFRESH_BASELINES") != "1":
        out = dict(data[key])
        out["cached"] = True
        return out
    out = measure(ref, gpu)
    data[key] = out
    tmp = path + f".tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
    out = dict(out)
    out["cached"] = False
    return out


def measure(ref: Any, gpu: str) -> dict[str, Any]:
    torch = ref.torch
    clock = Clock(torch)
    model = ref.trials[0].model
    sets = [[x.clone() if isinstance(x, torch.Tensor) else x for x in s] for s in ref.timing_inputs]
    fns = [(lambda inp=inp: model(*inp)) for inp in sets]
    def bench(f: Any) -> dict[str, Any]:  # the candidate's method and trial budget
        return clock.bench_cuda(f, min_trials=TIMING_MIN_TRIALS, target_s=TIMING_TARGET_S)

    t0 = time.perf_counter()
    eager = bench(fns)
    out: dict[str, Any] = {"eager_ms": eager["median"], "eager_p20": eager["p20"], "eager_p80": eager["p80"],
                           "eager_trials": eager["trials"], "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out["eager_s"] = time.perf_counter() - t0
    out["compile_ms"] = None
    if os.environ.get("VERIFIER_SKIP_COMPILE_BASELINE") != "1":
        t1 = time.perf_counter()
        try:
            cm = torch.compile(model)
            cfns = [(lambda inp=inp: cm(*inp)) for inp in sets]
            comp = bench(cfns)
            out["compile_ms"] = comp["median"]
            out["compile_trials"] = comp["trials"]
        except Exception as e:  # noqa: BLE001
            out["compile_error"] = f"{type(e).__name__}: {e}"[:300]
        finally:
            try:  # a warm verifier lives through many problems: drop the compiled graphs once measured
                torch._dynamo.reset()
            except Exception:  # noqa: BLE001
                pass
        out["compile_s"] = time.perf_counter() - t1
    out.update(_flex_baseline(ref, bench, sets))
    # roofline lower bound
    name, bw, f32, f16 = _peaks(gpu)
    flops = 0
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            model(*[x.clone() if isinstance(x, torch.Tensor) else x for x in ref.timing_inputs[0]])
        flops = int(fc.get_total_flops())
    except Exception:  # noqa: BLE001
        flops = 0
    outs = ref.timing_refs[0]
    out_bytes = sum(t.numel() * t.element_size() for t in outs if isinstance(t, torch.Tensor))
    half = any(isinstance(t, torch.Tensor) and t.dtype in (torch.float16, torch.bfloat16) for t in outs)
    peak = f16 if half else f32
    bound_s = max(out_bytes / bw, flops / peak)
    out.update(flops=flops, out_bytes=out_bytes, bound_ms=bound_s * 1000,
               bound_text=f"{out_bytes} output bytes at {bw / 1e12:g} TB/s, {flops} FLOP at {peak / 1e12:g} TFLOP/s "
                          f"({name} peaks)")
    return out


def _flex_baseline(ref: Any, bench: Any, sets: list[list[Any]]) -> dict[str, Any]:
    """Attention problems rendered from a variant spec (they define score_mod / mask_mod) are also timed
    against compiled FlexAttention on the same inputs; other problems get flex_ms = None."""
    mod = getattr(ref, "mod", None)
    if mod is None or not (hasattr(mod, "score_mod") or hasattr(mod, "mask_mod")):
        return {"flex_ms": None}
    t0 = time.perf_counter()
    try:
        from . import attention

        fns = [attention.baselines(mod, *inp[:3])["flex_attention"] for inp in sets]
        flex = bench(fns)
        return {"flex_ms": flex["median"], "flex_trials": flex["trials"], "flex_s": time.perf_counter() - t0}
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
