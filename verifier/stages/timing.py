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

from verifier import baselines
from verifier.cheats import Cheat, CheatList
from verifier.compare import compare_outputs
from verifier.stages.outcome import Correct, Final
from verifier.timing import SIDE_STREAM_FACTOR, SIDE_STREAM_SLACK_MS, TIMING_MIN_TRIALS, TIMING_TARGET_S
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
    med = tres.get("median")
    timing: Timing = {
        "meaningful": ver.device == "cuda",
        "candidate_ms": {"median": med, "p20": tres.get("p20"), "p80": tres.get("p80")},
        "trials": tres.get("trials", 0),
        "eager_ms": None, "compile_ms": None, "speedup_vs_eager": None, "speedup_vs_compile": None,
        "flex_ms": None, "speedup_vs_flex": None,
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


def _check_timed_outputs(ver: Verification, tres: dict[str, Any], cheats: CheatList) -> None:
    """caching: the last output of every timed input set must still be right."""
    for k, out in enumerate(tres.get("last_outputs", [])):
        if out is None:  # this input set was not used (CPU mode times fewer calls)
            continue
        c = compare_outputs(ver.torch, out, ver.ref.timing_refs[k], ver.req.get("atol"), ver.req.get("rtol"),
                            ver.device)
        if not c.ok:
            cheats.add(Cheat.CACHING, f"a timed call on input set {k} returned a wrong result ({c.reason})")


def _side_stream(ver: Verification, tres: dict[str, Any], med: float | None, cheats: CheatList) -> None:
    """Work outside the timed stream: the synchronised cross-check and the CUDA profiler's busy time."""
    work = tres.get("hidden_ms")  # synced trial minus what a synchronize costs by itself
    if med is not None and work is not None and work > SIDE_STREAM_FACTOR * med + SIDE_STREAM_SLACK_MS:
        cheats.add(Cheat.SIDE_STREAM, f"median {med:.4f} ms with events on the current stream, {work:.4f} ms when "
                                      f"the device is synchronized before the end event (fastest of the synchronised "
                                      f"trials, less the fastest synchronize alone, "
                                      f"{tres.get('sync_overhead_min', 0):.4f} ms): work runs outside the timed stream")
    prof: dict[str, Any] = tres["profiled"] if isinstance(tres.get("profiled"), dict) else {}
    ver.note(profiled=prof)
    pw = prof.get("work_ms_per_call")
    pw = float(pw) if isinstance(pw, (int, float)) and not isinstance(pw, bool) and math.isfinite(pw) else None
    if med is not None and pw is not None and pw > SIDE_STREAM_FACTOR * med + SIDE_STREAM_SLACK_MS:
        cheats.add(Cheat.SIDE_STREAM, f"median {med:.4f} ms with events on the current stream, but the CUDA profiler "
                                      f"saw {pw:.4f} ms of GPU work per call: work runs outside the timed window")
    ver.note(synced_median_ms=tres.get("synced_median"), sync_overhead_ms=tres.get("sync_overhead_ms"),
             synced_min_ms=tres.get("synced_min"), synced_rounds=tres.get("synced_rounds"),
             sync_overhead_min_ms=tres.get("sync_overhead_min"), host_median_ms=tres.get("host_median"))


def _judge_cuda(ver: Verification, tres: dict[str, Any], timing: Timing, cheats: CheatList) -> str:
    """GPU: side-stream checks, baselines, speedups, the roofline bound; the message's timing part."""
    med = tres.get("median")
    _side_stream(ver, tres, med, cheats)
    base = baselines.get_or_measure(ver.ref, ver.device)
    timing["eager_ms"] = base.get("eager_ms")
    timing["compile_ms"] = base.get("compile_ms")
    timing["flex_ms"] = base.get("flex_ms")
    if med and med > 0:
        if timing["flex_ms"]:
            timing["speedup_vs_flex"] = timing["flex_ms"] / med
        if timing["eager_ms"]:
            timing["speedup_vs_eager"] = timing["eager_ms"] / med
        if timing["compile_ms"]:
            timing["speedup_vs_compile"] = timing["compile_ms"] / med
        bound = base.get("bound_ms")
        if bound and med < 0.8 * bound:
            cheats.add(Cheat.IMPLAUSIBLE_SPEEDUP,
                       f"median {med:.4f} ms is below the hardware bound {bound:.4f} ms for this problem "
                       f"({base.get('bound_text', '')})")
    ver.note(baseline_cached=base.get("cached"))
    msg_extra = f"; median {med:.4f} ms"
    if timing["speedup_vs_eager"]:
        msg_extra += f", {timing['speedup_vs_eager']:.2f}x eager"
    if timing["speedup_vs_compile"]:
        msg_extra += f", {timing['speedup_vs_compile']:.2f}x torch.compile"
    if timing["speedup_vs_flex"]:
        msg_extra += f", {timing['speedup_vs_flex']:.2f}x FlexAttention"
    return msg_extra
