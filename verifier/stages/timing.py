"""Stage 5, timing (only for a candidate correct so far, when the request's ``timing`` is not false).

Nobody else runs kernels on this GPU meanwhile (the exclusive GPU lock). The candidate's process times
itself (``verifier.candidate.harness``, ``verifier.timing.Clock``) and sends its numbers and the last output
of every timed input set; here those outputs are checked again (caching), the side-stream cross-checks and
the roofline bound are applied (side-stream, implausible-speedup), and the eager / torch.compile /
FlexAttention baselines are timed or read from their cache (``verifier.baselines``). Verdicts from here:
``correct`` (with the timing), ``rejected``, ``timeout``, ``runtime_error``.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from verifier import baselines, cuda_resources, hardware, sandbox
from verifier.cheats import Cheat, CheatList
from verifier.compare import compare_outputs
from verifier.stages.outcome import Correct, Final
from verifier.timing import (
    SIDE_STREAM_FACTOR,
    SIDE_STREAM_SLACK_MS,
    SYNCED_QUANTILE,
    TIMING_MIN_TRIALS,
    TIMING_TARGET_S,
    ratio_interval,
)
from verifier.wire import Timing

if TYPE_CHECKING:
    from verifier.verify import Verification


def run(ver: Verification, correct: Correct) -> Final:
    chan, req = ver.chan, ver.req
    if not req["timing"]:
        chan.send({"cmd": "exit"})
        return ver.finish("correct", correct.message)
    chan.deadline += ver.lock.acquire("exclusive", ver.lock_deadline())
    t_tim = time.perf_counter()
    chan.send({"cmd": "time", "min_trials": TIMING_MIN_TRIALS, "target_s": TIMING_TARGET_S, "max_trials": 5})
    ev = chan.wait_event({"timing_done"})
    if ev is None or ev["ev"] == "error":
        if ev is not None:
            msg = ev["message"]
        elif chan.timed_out:
            msg = f"timing did not finish within the time limit ({req['timeout_s']:g} s)"
        else:
            msg = chan.process_gone_message()[1]
        ver.stages["timing"] = time.perf_counter() - t_tim
        if ev is None and chan.timed_out:
            return ver.finish("timeout", "correct, but " + msg)
        return ver.finish("runtime_error", "correct in the checks, then failed while being timed: " + msg)
    tres = ver.load_results(ev["path"])
    if isinstance(tres, Final):
        return tres
    ver.stages["timing"] = time.perf_counter() - t_tim
    t_judge = time.perf_counter()
    cheats = CheatList()
    for o in tres.get("observations", []):  # recorded in the candidate's process
        cheats.add(o["kind"], o["evidence"])
    _check_timed_outputs(ver, tres, cheats)
    med = _finite(tres.get("median"))
    cand_iv = _interval(tres.get("low"), tres.get("high"))
    candidate_ms: dict[str, Any] = {"median": med, "p20": tres.get("p20"), "p80": tres.get("p80")}
    if cand_iv:
        candidate_ms.update(low=cand_iv[0], high=cand_iv[1])
    timing: Timing = {
        "meaningful": ver.device == "cuda",
        "method": tres.get("method") if tres.get("method") in ("cuda-graph", "stream", "cpu") else None,
        "method_note": str(tres["method_note"])[:300] if tres.get("method_note") else None,
        "candidate_ms": candidate_ms,  # type: ignore[typeddict-item]
        "host_ms": _finite(tres.get("host_ms")),
        "trials": tres.get("trials", 0),
        "eager_ms": None, "compile_ms": None, "speedup_vs_eager": None, "speedup_vs_compile": None,
        "flex_ms": None, "speedup_vs_flex": None,
        "eager_ms_interval": None, "compile_ms_interval": None,
        "speedup_vs_eager_interval": None, "speedup_vs_compile_interval": None,
        "compile_mode": None, "review": None, "sol": None, "hardware": None,
    }
    ver.set_timing(timing)
    if ver.device == "cuda":
        msg_extra = _judge_cuda(ver, tres, timing, cheats)
    else:
        timing["eager_ms"] = baselines.eager_cpu(ver.ref)
        msg_extra = "; CPU interpreter timing (not meaningful)"
    ver.stages["timing"] += time.perf_counter() - t_judge
    if cheats:
        return ver.reject(cheats.items, "passed the correctness checks")
    return ver.finish("correct", correct.message + msg_extra)


def _finite(x: Any) -> float | None:
    """A number the candidate's process reported, if it is one (its results are its word)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def _interval(lo: Any, hi: Any) -> tuple[float, float] | None:
    a, b = _finite(lo), _finite(hi)
    return (a, b) if a is not None and b is not None and 0 < a <= b else None


def _check_timed_outputs(ver: Verification, tres: dict[str, Any], cheats: CheatList) -> None:
    """caching: the last output of every timed input set must still be right. With CUDA graphs, each graph
    was replayed once more after another set's values were written into its inputs (``last_output_sets``
    says which set each output now belongs to): a result kept from capture time, or keyed on the buffers,
    shows as a wrong result there."""
    outs = tres.get("last_outputs", [])
    sets = tres.get("last_output_sets")
    if not isinstance(sets, list) or len(sets) != len(outs):
        sets = list(range(len(outs)))
    for k, out in enumerate(outs):
        if out is None:  # this input set was not used (CPU mode times fewer calls)
            continue
        j = sets[k]
        if not isinstance(j, int) or isinstance(j, bool) or not 0 <= j < len(ver.ref.timing_refs):
            cheats.add(Cheat.TIMER_TAMPER, f"the timing results name an input set {j!r} the verifier never made")
            continue
        c = compare_outputs(ver.torch, out, ver.ref.timing_refs[j], ver.req.get("atol"), ver.req.get("rtol"),
                            ver.device)
        if not c.ok:
            how = " (its CUDA graph replayed after new values were written into its inputs)" if j != k else ""
            cheats.add(Cheat.CACHING, f"a timed call on input set {j} returned a wrong result{how} ({c.reason})")


def _side_stream(ver: Verification, tres: dict[str, Any], med: float | None, cheats: CheatList) -> None:
    """Work outside the timed stream: the synchronised cross-check and the CUDA profiler's busy time."""
    work = tres.get("hidden_ms")  # synced trial minus what a synchronize costs by itself
    if med is not None and work is not None and work > SIDE_STREAM_FACTOR * med + SIDE_STREAM_SLACK_MS:
        cheats.add(Cheat.SIDE_STREAM, f"median {med:.4f} ms with events on the current stream, {work:.4f} ms when "
                                      f"the device is synchronized before the end event (the synchronised trials' "
                                      f"{100 * SYNCED_QUANTILE:.0f}th percentile, less a synchronize's own, "
                                      f"{tres.get('sync_overhead_ms', 0):.4f} ms): work runs outside the timed stream")
    prof: dict[str, Any] = tres["profiled"] if isinstance(tres.get("profiled"), dict) else {}
    ver.note(profiled=prof)
    pw = prof.get("work_ms_per_call")
    pw = float(pw) if isinstance(pw, (int, float)) and not isinstance(pw, bool) and math.isfinite(pw) else None
    if med is not None and pw is not None and pw > SIDE_STREAM_FACTOR * med + SIDE_STREAM_SLACK_MS:
        cheats.add(Cheat.SIDE_STREAM, f"median {med:.4f} ms with events on the current stream, but the CUDA profiler "
                                      f"saw {pw:.4f} ms of GPU work per call: work runs outside the timed window")
    ver.note(synced_median_ms=tres.get("synced_median"), sync_overhead_ms=tres.get("sync_overhead_ms"),
             synced_min_ms=tres.get("synced_min"), synced_low_ms=tres.get("synced_low"),
             synced_rounds=tres.get("synced_rounds"),
             sync_overhead_min_ms=tres.get("sync_overhead_min"), host_median_ms=tres.get("host_median"))


def _judge_cuda(ver: Verification, tres: dict[str, Any], timing: Timing, cheats: CheatList) -> str:
    """GPU: side-stream checks, baselines, speedups with intervals, the bounds, the speed of light; the
    message's timing part."""
    med = timing["candidate_ms"]["median"] if timing["candidate_ms"] else None
    cand = timing["candidate_ms"] or {}
    cand_iv = (cand["low"], cand["high"]) if "low" in cand and "high" in cand else None
    _side_stream(ver, tres, med, cheats)
    base = baselines.get_or_measure(ver.ref, ver.device)
    timing["eager_ms"] = base.get("eager_ms")
    timing["compile_ms"] = base.get("compile_ms")
    timing["flex_ms"] = base.get("flex_ms")
    timing["eager_ms_interval"] = base.get("eager_interval")
    if timing["compile_ms"]:
        timing["compile_ms_interval"] = base.get("compile_interval")
        timing["compile_mode"] = base.get("compile_mode")
    if med and med > 0:
        if timing["flex_ms"]:
            timing["speedup_vs_flex"] = timing["flex_ms"] / med
        if timing["eager_ms"]:
            timing["speedup_vs_eager"] = timing["eager_ms"] / med
            timing["speedup_vs_eager_interval"] = ratio_interval(timing["eager_ms_interval"], cand_iv)
        if timing["compile_ms"]:
            timing["speedup_vs_compile"] = timing["compile_ms"] / med
            timing["speedup_vs_compile_interval"] = ratio_interval(timing["compile_ms_interval"], cand_iv)
        _bounds(ver, base, med, timing, cheats)
        timing["sol"] = baselines.speed_of_light(base, med)
    ref_launches = base.get("reference_launches")
    report = tres.get("hardware")
    resources, note = (cuda_resources.kernel_resources(report.get("cuda_modules"), sandbox.build_cache_dir())
                       if isinstance(report, dict) else ({}, None))
    timing["hardware"] = hardware.build(report, ref_launches if isinstance(ref_launches, float) else None,
                                        resources=resources, resource_note=note)
    ver.note(baseline_cached=base.get("cached"), baseline_replaced=base.get("replaced"))
    return _timing_message(timing)


def _bounds(ver: Verification, base: dict[str, Any], med: float, timing: Timing, cheats: CheatList) -> None:
    """implausible-speedup only below what every correct kernel must do (write its output once at the card's
    copy rate); below the reference's FLOPs at the peak rate the verdict asks for review instead (a better
    algorithm than the reference's can get there: diag(A) @ B as a row scaling)."""
    bound = base.get("bound_ms")
    if bound and med < 0.8 * bound:
        cheats.add(Cheat.IMPLAUSIBLE_SPEEDUP, f"median {med:.4f} ms is below what any correct kernel needs, "
                                              f"{bound:.4f} ms ({base.get('bound_text', '')})")
    review = base.get("review_ms")
    if review and med < 0.8 * review:
        timing["review"] = (f"median {med:.4f} ms is below {review:.4f} ms, the time of {base.get('review_text', '')}: "
                            "a better algorithm than the reference's, or work the checks did not see; worth a look")


def _timing_message(timing: Timing) -> str:
    cand = timing["candidate_ms"] or {}
    med = cand.get("median")
    msg = f"; median {med:.4f} ms" if med is not None else ""
    if "low" in cand:
        msg += f" [{cand['low']:.4f}-{cand['high']:.4f}]"
    if timing["method"] == "stream":
        msg += " (timed from eager launches: " + (timing["method_note"] or "no CUDA graph") + ")"
    iv = timing["speedup_vs_eager_interval"]
    if timing["speedup_vs_eager"]:
        msg += f", {timing['speedup_vs_eager']:.2f}x eager" + (f" [{iv[0]:.2f}-{iv[1]:.2f}]" if iv else "")
    if timing["speedup_vs_compile"]:
        msg += f", {timing['speedup_vs_compile']:.2f}x torch.compile"
    if timing["speedup_vs_flex"]:
        msg += f", {timing['speedup_vs_flex']:.2f}x FlexAttention"
    sol = timing["sol"]
    if sol:
        msg += f"; {sol['fraction'] * 100:.0f}% of this card's speed of light ({sol['limiter']}-bound, "
        if sol["limiter"] == "memory":
            msg += f"{sol['achieved_tbps']:.2f} of {sol['copy_tbps']:.2f} TB/s)"
        else:
            msg += f"{sol['achieved_tflops']:.0f} of {sol['peak_tflops']:.0f} TFLOP/s {sol['peak_dtype']})"
    if timing["review"]:
        msg += "; review: " + timing["review"]
    return msg
