"""Turn what the candidate's process recorded into a verdict (runs in the parent)."""
from __future__ import annotations

import math
import time
from typing import Any

from verifier import baselines
from verifier.timing import ratio_interval
from verifier.compare import Cmp, bitwise_equal, compare_outputs, tolerances
from verifier.harness import NON_WORK_ATEN


def add_cheat(items: list[dict[str, str]], cls: str, evidence: str) -> None:
    """One entry per class; a second piece of evidence is appended to the first (short messages)."""
    import re

    def norm(t: str) -> str:
        return re.sub(r"seed -?\d+", "seed", t)

    for c in items:
        if c["class"] == cls:
            if norm(evidence) not in norm(c["evidence"]) and c["evidence"].count("; ") < 2:
                c["evidence"] = (c["evidence"] + "; " + evidence)[:600]
            return
    items.append({"class": cls, "evidence": evidence[:600]})


# hidden work must exceed FACTOR x the regular median + SLACK. The launch-stream check is the precise one;
# this catches work that escapes it (e.g. streams switched only after the correctness calls). On the H100
# the estimate (fastest synchronised trial less the fastest synchronize alone) matched the regular median
# within 2 us for 11 correct verifications (docs/benchmarks.md), so 15 us of slack leaves a wide margin;
# the earlier 50 us let a small kernel hide nearly all of its work.
SIDE_STREAM_FACTOR = 1.5
SIDE_STREAM_SLACK_MS = 0.015


class Cheats:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, cls: str, evidence: str) -> None:
        add_cheat(self.items, cls, evidence)

    def __bool__(self) -> bool:
        return bool(self.items)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _tol_text(ref: list[Any], req: dict[str, Any], torch: Any) -> str:
    t = next((r for r in ref if isinstance(r, torch.Tensor)), None)
    if t is None:
        return ""
    a, r, _ = tolerances(str(t.dtype).replace("torch.", ""), req.get("atol"), req.get("rtol"))
    return f"atol={a:g}, rtol={r:g}"


def judge_correctness(ver: Any, res: dict[str, Any]) -> dict[str, Any] | None:
    """Return a final verdict, or None when the candidate is correct and timing may follow."""
    torch = ver.torch
    ref = ver.ref
    req = ver.req
    dev = ver.device
    atol, rtol = req.get("atol"), req.get("rtol")
    cheats = Cheats()
    for o in res.get("observations", []):
        cheats.add(o["kind"], o["evidence"])
    passed = 0
    agg = {"max_abs": 0.0, "max_rel": 0.0, "mismatched": 0, "numel": 0, "first_bad_index": None}
    first_fail: str | None = None
    hint: str | None = None
    any_none = False
    notes: list[str] = list(ref.notes)
    for rec, tr in zip(res["seeds"], ref.trials):
        s = tr.seed
        for ti in rec.get("types1", []) + rec.get("types2", []):
            if ti["kind"] == "tensor" and not ti.get("plain", True):
                cheats.add("lazy-tensor", f"seed {s}: {ti.get('why', 'output is not a plain torch.Tensor')}")
            elif ti["kind"] == "object" and ti.get("torch_function"):
                cheats.add("lazy-tensor", f"seed {s}: forward returned a {ti['type']} (a tensor-like object, "
                                          f"not a plain torch.Tensor)")
        c1 = compare_outputs(torch, rec["out1"], tr.ref_a, atol, rtol, dev)
        c2 = compare_outputs(torch, rec["out2"], tr.ref_b, atol, rtol, dev)
        # uninitialised-read: wrong when fresh memory holds NaN, right when it holds zeros
        uninit = False
        if not c1.ok and "out3" in rec:
            c3 = compare_outputs(torch, rec["out3"], tr.ref_a, atol, rtol, dev)
            if c3.ok:
                uninit = True
                cheats.add("uninitialised-read", f"seed {s}: wrong when fresh memory holds NaN, right when it holds "
                                                 f"zeros: the kernel reads memory it never wrote")
        # stale-output / partial-output: elements that still hold the poison written into fresh memory
        for c, which in ((c1, "first call"), (c2, "second call")):
            if c.poison and not uninit:
                if c.poison >= c.numel:
                    cheats.add("stale-output", f"seed {s}, {which}: all {c.numel} output elements still hold the NaN "
                                               f"pattern written into fresh memory before the call (never written)")
                else:
                    cheats.add("partial-output", f"seed {s}, {which}: {c.poison} of {c.numel} output elements were "
                                                 f"never written (they hold the poison pattern)")
        if c1.ok and "out3" in rec:
            eq, nd = bitwise_equal(torch, rec["out1"], rec["out3"])
            if not eq:
                if ver.static is not None and ver.static.uses_atomics:
                    notes.append(f"seed {s}: two runs on the same inputs differ bitwise in {nd} element(s) "
                                 f"(atomics: accepted as nondeterministic)")
                else:
                    cheats.add("uninitialised-read", f"seed {s}: two runs on the same inputs differ bitwise in "
                                                     f"{nd if nd >= 0 else 'some'} element(s) (fresh memory NaN vs zero)")
        # caching: the second call wrote new values into the same buffers
        if c1.ok and not c2.ok:
            stale = compare_outputs(torch, rec["out2"], tr.ref_a, atol, rtol, dev)
            if stale.ok and not all(_same(torch, x, y) for x, y in zip(tr.ref_a, tr.ref_b)):
                cheats.add("caching", f"seed {s}: after new values were written into the same input buffers, "
                                      f"forward returned the previous call's result")
        # degenerate: constant output that passes only because the true output is tiny
        for c in (c1, c2):
            if c.rel_norm_fail and c.constant_output and c.reference_varies:
                cheats.add("degenerate", f"seed {s}: output is constant, every element is within tolerance of a "
                                         f"varying reference, relative error norm {_fmt(c.rel_norm)}")
        # input mutation
        for i, (post, exp) in enumerate(zip(rec["post_inputs"], tr.post_a)):
            if isinstance(exp, torch.Tensor) and isinstance(post, torch.Tensor):
                eq, nd = bitwise_equal(torch, [post], [exp.to(post.device)])
                if not eq:
                    cheats.add("input-mutation", f"seed {s}: input {i} changed after the call "
                                                 f"({nd if nd >= 0 else 'shape/dtype'} element(s) differ)")
        ok = c1.ok and c2.ok
        passed += int(ok)
        for c in (c1, c2):
            if c.max_abs is None:
                any_none = True
            else:
                agg["max_abs"] = max(agg["max_abs"], c.max_abs)
            if c.max_rel is not None:
                agg["max_rel"] = max(agg["max_rel"], c.max_rel)
            agg["mismatched"] += c.mismatched
            agg["numel"] += c.numel
            if not c.ok and agg["first_bad_index"] is None and c.first_bad_index is not None:
                agg["first_bad_index"] = c.first_bad_index
        if not ok and first_fail is None:
            c = c1 if not c1.ok else c2
            which = "" if not c1.ok else " (second call, new values in the same buffers)"
            first_fail = f"seed {s}{which}: {c.reason}"
            tol = _tol_text(tr.ref_a, req, torch)
            over = " over the finite elements" if c.nonfinite else ""
            first_fail += f"; max abs error{over} {_fmt(c.max_abs)}, max rel error {_fmt(c.max_rel)} ({tol})"
            hint = _precision_hint(torch, c, tr.ref_a)
    # torch-fallback: what actually ran inside forward
    rec0 = res["seeds"][0] if res["seeds"] else {}
    if "ops" in rec0:
        cand_work = {o for o in rec0["ops"] if o not in NON_WORK_ATEN}
        if rec0.get("launches_recorded", 1) == 0:
            ran = ", ".join(sorted(cand_work)) or "no compute op"
            cheats.add("torch-fallback", f"forward launched no Triton or CUDA-extension kernel (PyTorch ops: {ran})")
        elif ref.work_ops and ref.work_ops <= cand_work:
            cheats.add("torch-fallback", f"forward calls the reference's own PyTorch op(s): "
                                         f"{', '.join(sorted(ref.work_ops))}")
    if any(c["class"] == "uninitialised-read" for c in cheats.items):
        # the poison in a seed without the zero-memory rerun is the same read, not a separate cheat
        cheats.items = [c for c in cheats.items if c["class"] not in ("stale-output", "partial-output")]
    trials = len(res["seeds"])
    corr = {"trials": trials, "passed": passed,
            "max_abs_error": None if (any_none and agg["numel"] == 0) else agg["max_abs"],
            "max_rel_error": None if (any_none and agg["numel"] == 0) else agg["max_rel"],
            "mismatch_fraction": (agg["mismatched"] / agg["numel"]) if agg["numel"] else (0.0 if passed == trials else 1.0),
            "first_bad_index": agg["first_bad_index"]}
    ver.v["correctness"] = corr
    ver.detail["launches_per_call"] = res.get("launches_per_call")
    ver.detail["os_threads_delta"] = res.get("os_threads_delta")
    ver.notes = notes
    if cheats:
        lazy = any(c["class"] == "lazy-tensor" for c in cheats.items)  # its outputs could not be compared
        return ver.reject(cheats.items, "" if lazy else (first_fail or ""))
    if passed < trials:
        msg = f"incorrect on {trials - passed} of {trials} seeds. {first_fail}"
        if hint:
            msg += f". {hint}"
        if notes:
            msg += ". Note: " + "; ".join(notes)
        return ver.finish("incorrect", msg[:2000])
    tol = _tol_text(ref.trials[0].ref_a, req, torch)
    ver.correct_message = (f"correct on {trials} seed(s); max abs error {_fmt(corr['max_abs_error'])}, "
                           f"max rel error {_fmt(corr['max_rel_error'])} ({tol})")
    if notes:
        ver.correct_message += ". Note: " + "; ".join(notes)
    return None


def _precision_hint(torch: Any, c: Cmp, ref: list[Any]) -> str | None:
    t = next((r for r in ref if isinstance(r, torch.Tensor)), None)
    if t is None or t.dtype != torch.float32 or c.rel_norm is None:
        return None
    # small relative errors on elements of ordinary size, everywhere: what reduced precision looks like
    if 1e-4 < c.rel_norm < 2e-2 and c.poison == 0 and c.nonfinite == 0 and c.mismatched \
            and c.bad_on_nonzero >= 0.5 * c.mismatched:
        return ("errors of this size suggest fp16/bf16/TF32 arithmetic on an fp32 problem (precision-downgrade): "
                "accumulate and compute in fp32")
    return None


def _same(torch: Any, x: Any, y: Any) -> bool:
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x.shape == y.shape and bool(torch.equal(x, y))
    return x == y


def _finite(x: Any) -> float | None:
    """A number the candidate's process reported, if it is one (its results are its word)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def judge_timing(ver: Any, tres: dict[str, Any]) -> dict[str, Any]:
    torch = ver.torch
    ref = ver.ref
    req = ver.req
    dev = ver.device
    cheats = Cheats()
    for o in tres.get("observations", []):
        cheats.add(o["kind"], o["evidence"])
    out_sets = tres.get("last_output_sets") or list(range(len(tres.get("last_outputs", []))))
    for k, out in enumerate(tres.get("last_outputs", [])):
        if out is None:  # this input set was not used (CPU mode times fewer calls)
            continue
        j = out_sets[k] if k < len(out_sets) and isinstance(out_sets[k], int) else k
        if not 0 <= j < len(ref.timing_refs):
            cheats.add("timer-tamper", f"the timing results name an input set {j!r} the verifier never made")
            continue
        c = compare_outputs(torch, out, ref.timing_refs[j], req.get("atol"), req.get("rtol"), dev)
        if not c.ok:
            how = " (its graph replayed after new values were written into its inputs)" if j != k else ""
            cheats.add("caching", f"a timed call on input set {j} returned a wrong result{how} ({c.reason})")
    med = _finite(tres.get("median"))
    low, high = _finite(tres.get("low")), _finite(tres.get("high"))
    cand_iv = (low, high) if low is not None and high is not None and 0 < low <= high else None
    timing: dict[str, Any] = {
        "meaningful": dev == "cuda",
        "method": tres.get("method") if tres.get("method") in ("cuda-graph", "stream", "cpu") else None,
        "method_note": str(tres["method_note"])[:300] if tres.get("method_note") else None,
        "candidate_ms": {"median": med, "p20": tres.get("p20"), "p80": tres.get("p80"),
                         **({"low": low, "high": high} if cand_iv else {})},
        "host_ms": _finite(tres.get("host_ms")),
        "trials": tres.get("trials", 0),
        "eager_ms": None, "compile_ms": None, "speedup_vs_eager": None, "speedup_vs_compile": None,
        "flex_ms": None, "speedup_vs_flex": None,
        "eager_ms_interval": None, "compile_ms_interval": None,
        "speedup_vs_eager_interval": None, "speedup_vs_compile_interval": None,
        "compile_mode": None, "review": None, "sol": None,
    }
    ver.v["timing"] = timing
    msg_extra = ""
    if dev == "cuda":
        synced = tres.get("synced_median")
        work = tres.get("hidden_ms")  # synced trial minus what a synchronize costs by itself
        if med is not None and work is not None and work > SIDE_STREAM_FACTOR * med + SIDE_STREAM_SLACK_MS:
            cheats.add("side-stream", f"median {med:.4f} ms with events on the current stream, {work:.4f} ms when "
                                      f"the device is synchronized before the end event (fastest of the synchronised "
                                      f"trials, less the fastest synchronize alone, "
                                      f"{tres.get('sync_overhead_min', 0):.4f} ms): work runs outside the timed stream")
        prof = tres.get("profiled") if isinstance(tres.get("profiled"), dict) else {}
        ver.detail["profiled"] = prof
        pw = prof.get("work_ms_per_call")
        pw = float(pw) if isinstance(pw, (int, float)) and not isinstance(pw, bool) and math.isfinite(pw) else None
        if med is not None and pw is not None and pw > SIDE_STREAM_FACTOR * med + SIDE_STREAM_SLACK_MS:
            cheats.add("side-stream", f"median {med:.4f} ms with events on the current stream, but the CUDA profiler "
                                      f"saw {pw:.4f} ms of GPU work per call: work runs outside the timed window")
        ver.detail["synced_median_ms"] = synced
        ver.detail["sync_overhead_ms"] = tres.get("sync_overhead_ms")
        ver.detail["synced_min_ms"] = tres.get("synced_min")
        ver.detail["synced_rounds"] = tres.get("synced_rounds")
        ver.detail["sync_overhead_min_ms"] = tres.get("sync_overhead_min")
        ver.detail["host_median_ms"] = tres.get("host_median")
        base = baselines.get_or_measure(ref, dev)
        timing["eager_ms"] = base.get("eager_ms")
        timing["compile_ms"] = base.get("compile_ms")
        timing["flex_ms"] = base.get("flex_ms")
        timing["eager_ms_interval"] = base.get("eager_interval")
        timing["compile_ms_interval"] = base.get("compile_interval") if timing["compile_ms"] else None
        timing["compile_mode"] = base.get("compile_mode") if timing["compile_ms"] else None
        if med and med > 0:
            if timing["flex_ms"]:
                timing["speedup_vs_flex"] = timing["flex_ms"] / med
            if timing["eager_ms"]:
                timing["speedup_vs_eager"] = timing["eager_ms"] / med
                timing["speedup_vs_eager_interval"] = ratio_interval(timing["eager_ms_interval"], cand_iv)
            if timing["compile_ms"]:
                timing["speedup_vs_compile"] = timing["compile_ms"] / med
                timing["speedup_vs_compile_interval"] = ratio_interval(timing["compile_ms_interval"], cand_iv)
            bound = base.get("bound_ms")
            if bound and med < 0.8 * bound:
                cheats.add("implausible-speedup",
                           f"median {med:.4f} ms is below what any correct kernel needs, {bound:.4f} ms "
                           f"({base.get('bound_text', '')})")
            review = base.get("review_ms")
            if review and med < 0.8 * review:
                timing["review"] = (f"median {med:.4f} ms is below {review:.4f} ms, the time of "
                                    f"{base.get('review_text', '')}: a better algorithm than the reference's, or "
                                    "work the checks did not see; worth a look")
        timing["sol"] = baselines.speed_of_light(base, med)
        ver.detail["baseline_cached"] = base.get("cached")
        ver.detail["baseline_replaced"] = base.get("replaced")
        msg_extra = f"; median {med:.4f} ms" if med is not None else ""
        if cand_iv:
            msg_extra += f" [{cand_iv[0]:.4f}-{cand_iv[1]:.4f}]"
        if timing["method"] == "stream":
            msg_extra += " (eager launches: " + (timing["method_note"] or "no CUDA graph") + ")"
        iv = timing["speedup_vs_eager_interval"]
        if timing["speedup_vs_eager"]:
            msg_extra += f", {timing['speedup_vs_eager']:.2f}x eager" + (f" [{iv[0]:.2f}-{iv[1]:.2f}]" if iv else "")
        if timing["speedup_vs_compile"]:
            msg_extra += f", {timing['speedup_vs_compile']:.2f}x torch.compile"
        if timing["speedup_vs_flex"]:
            msg_extra += f", {timing['speedup_vs_flex']:.2f}x FlexAttention"
        sol = timing["sol"]
        if sol:
            msg_extra += f"; {sol['fraction'] * 100:.0f}% of this card's speed of light ({sol['limiter']}-bound"
            msg_extra += f", {sol['achieved_tbps']:.2f} TB/s of {sol['copy_tbps']:.2f})" if sol["limiter"] == "memory" else (
                f", {sol['achieved_tflops']:.0f} of {sol['peak_tflops']:.0f} TFLOP/s {sol['peak_dtype']})")
        if timing["review"]:
            msg_extra += "; review: " + timing["review"]
    else:
        base = baselines.eager_cpu(ref)
        timing["eager_ms"] = base
        msg_extra = "; CPU interpreter timing (not meaningful)"
    ver.v["stages"]["timing"] += time.perf_counter() - ver._t_judge
    if cheats:
        return ver.reject(cheats.items, "passed the correctness checks")
    return ver.finish("correct", ver.correct_message + msg_extra)
