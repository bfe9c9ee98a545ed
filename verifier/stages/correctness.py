"""Stage 3, correctness: the candidate runs on every seed and its outputs are compared with the reference's;
after ``runtime_cheats`` has passed it, one more call on a hidden shape.

``run_seeds``: the job (seeds, output sizes -- never the reference's results) goes to the candidate's
process, which builds each seed's weights and inputs itself and calls ``forward`` three times per seed
(fresh NaN-poisoned memory; new values in the same buffers; zero-filled memory). Here each seed's first two
calls are compared (``verifier.compare``); the summary becomes the verdict's ``correctness``. Verdicts from
here: ``compile_error`` (Triton JIT at the first call), ``runtime_error``, ``timeout``.

``hidden_shape``: the shape-hardcoding check -- the problem with its size constants shrunk
(``inspect_problem.shape_variant``); a wrong output, an exception or a crash there is ``rejected``.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from verifier.channel import CANDIDATE_SAYS, call_limit
from verifier.cheats import Cheat
from verifier.compare import Cmp, compare_outputs, error_text, tolerances
from verifier.inspect_problem import shape_variant
from verifier.problem_inputs import HIDDEN_PROBLEM_FILE, PROBLEM_FILE
from verifier.stages.outcome import Compared, Correct, Final, Imported, Seeds
from verifier.wire import Correctness

if TYPE_CHECKING:
    from verifier.verify import Verification


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def tol_text(ref: list[Any], req: Any, torch: Any) -> str:
    t = next((r for r in ref if isinstance(r, torch.Tensor)), None)
    if t is None:
        return ""
    a, r, _ = tolerances(str(t.dtype).replace("torch.", ""), req.get("atol"), req.get("rtol"))
    return f"atol={a:g}, rtol={r:g}"


def precision_hint(torch: Any, c: Cmp, ref: list[Any]) -> str | None:
    """The hint of an incorrect verdict whose errors are small and everywhere, naming what was observed:
    the scatter of rounding (reduced precision, ``Cheat.PRECISION_DOWNGRADE``, not a rejection), or a smooth,
    systematic deviation (another function, e.g. an approximation); nothing when it cannot be told."""
    t = next((r for r in ref if isinstance(r, torch.Tensor)), None)
    if t is None or t.dtype != torch.float32 or c.rel_norm is None:
        return None
    if not (1e-4 < c.rel_norm < 2e-2 and c.poison == 0 and c.nonfinite == 0 and c.mismatched
            and c.bad_on_nonzero >= 0.5 * c.mismatched) or c.systematic is None:
        return None
    if c.systematic < 0.3:
        return (f"the errors are small, everywhere and scattered in sign around the reference "
                f"(systematic share {c.systematic:.2f}), the pattern of fp16/bf16/TF32 arithmetic on an fp32 "
                f"problem ({Cheat.PRECISION_DOWNGRADE.value}): accumulate and compute in fp32")
    if c.systematic > 0.7:
        return (f"the errors are small but systematic: they keep their sign across ranges of the reference's "
                f"values (systematic share {c.systematic:.2f}), a smooth deviation rather than rounding; the "
                f"output looks like a slightly different function (an approximation such as the tanh form "
                f"of GELU where the reference uses erf, a different constant or formula)")
    return None


def _num(x: Any) -> float:
    """A number the candidate's process reported (for the verdict's stage times only), or 0."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 else 0.0


def _observations_ok(obs: Any) -> bool:
    return isinstance(obs, list) and all(isinstance(o, dict) and isinstance(o.get("kind"), str)
                                         and isinstance(o.get("evidence"), str) for o in obs)


def _types_ok(types: Any) -> bool:
    return isinstance(types, list) and all(isinstance(t, dict) and isinstance(t.get("kind"), str) for t in types)


def check_results(ver: Verification, name: str, res: dict[str, Any]) -> str | None:
    """Why the results file ``name`` does not hold what the parent asked for, or None. The parent chose the
    seeds: each must come back exactly once, in order, with the outputs of every call it asked for; the
    fields the later stages read must have their types (a malformed one is the candidate's doing, never an
    infrastructure error)."""
    if not _observations_ok(res.get("observations", [])):
        return "its observations are malformed"
    if name == "out_hidden.pt":
        if not isinstance(res.get("error"), (str, type(None))) or (res.get("error") is None and not isinstance(res.get("out"), list)):
            return "the hidden-shape call's output is missing"
        return None
    if name != "out_correctness.pt":
        return None
    recs = res.get("seeds")
    asked = [tr.seed for tr in ver.ref.trials]
    if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
        return f"no per-seed results (the verifier asked for seeds {asked})"
    got = [r.get("seed") for r in recs]
    if got != asked:
        return f"results for seeds {got[:20]}, the verifier asked for seeds {asked} (each exactly once, in order)"
    rerun_all = bool(ver.ref.job(PROBLEM_FILE).get("rerun_all_seeds"))
    for i, r in enumerate(recs):
        need = ["out1", "out2", "post_inputs"] + (["out3"] if i == 0 or rerun_all else [])
        missing = [k for k in need if not isinstance(r.get(k), list)]
        if missing:
            return f"seed {asked[i]}'s results lack {', '.join(missing)}"
        if not (_types_ok(r.get("types1", [])) and _types_ok(r.get("types2", []))):
            return f"seed {asked[i]}'s output types are malformed"
        if "ops" in r and not (isinstance(r["ops"], dict) and all(isinstance(k, str) for k in r["ops"])):
            return f"seed {asked[i]}'s recorded operators are malformed"
        if not isinstance(r.get("launches_recorded", 1), int):
            return f"seed {asked[i]}'s launch count is malformed"
    return None


def run_seeds(ver: Verification, imported: Imported) -> Seeds | Final:
    chan = ver.chan
    chan.deadline += ver.lock.acquire("shared", ver.lock_deadline())
    # every call after the first (which JIT-compiles) must end within the per-call limit: a candidate stuck
    # in one call does not hold the GPU (the shared lock) for its whole time limit
    chan.call_limit = call_limit(ver.device, ver.ref.call_s)
    ver.note(call_limit_s=chan.call_limit, reference_call_s=ver.ref.call_s)
    chan.send({"cmd": "job", "job": {**ver.ref.job(PROBLEM_FILE), "ipc": ver.ipc}})
    t_job = time.monotonic()
    ev = chan.wait_event({"correctness_done"})
    if ev is None:
        return ver.gone_or_timeout()
    if ev["ev"] == "error":
        ver.stages["compile"] = imported.import_s
        if ev["kind"] == "compile_error":
            ver.stages["compile"] += time.monotonic() - t_job
        return ver.finish(ev["kind"], ev["message"])
    t_cmp = time.perf_counter()
    res = ver.load_results(ev["path"])
    if isinstance(res, Final):
        return res
    first_call = _num(res.get("first_call_s"))
    ver.stages["compile"] = imported.import_s + first_call
    seeds = compare_seeds(ver, res)
    ver.set_correctness(seeds.correctness)
    ver.note(launches_per_call=res.get("launches_per_call"), os_threads_delta=res.get("os_threads_delta"))
    ver.stages["correctness"] = max(0.0, _num(res.get("correctness_s")) - first_call) + (time.perf_counter() - t_cmp)
    return seeds


def compare_seeds(ver: Verification, res: dict[str, Any]) -> Seeds:
    """Each seed's first two calls against the reference; the correctness summary and the first failure."""
    torch, ref, req, dev = ver.torch, ver.ref, ver.req, ver.device
    atol, rtol = req.get("atol"), req.get("rtol")
    passed = 0
    agg: dict[str, Any] = {"max_abs": 0.0, "max_rel": 0.0, "mismatched": 0, "numel": 0, "first_bad_index": None}
    first_fail: str | None = None
    hint: str | None = None
    any_none = False
    compared: list[Compared] = []
    for rec, tr in zip(res["seeds"], ref.trials):
        c1 = compare_outputs(torch, rec["out1"], tr.ref_a, atol, rtol, dev)
        c2 = compare_outputs(torch, rec["out2"], tr.ref_b, atol, rtol, dev)
        compared.append(Compared(tr.seed, rec, tr, c1, c2))
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
            first_fail = f"seed {tr.seed}{which}: {c.reason}"
            first_fail += f"; {error_text(c)} ({tol_text(tr.ref_a, req, torch)})"
            hint = precision_hint(torch, c, tr.ref_a)
    trials = len(ref.trials)  # the parent's seeds (check_results: every one came back)
    unknown = any_none and agg["numel"] == 0
    corr: Correctness = {
        "trials": trials, "passed": passed,
        "max_abs_error": None if unknown else agg["max_abs"],
        "max_rel_error": None if unknown else agg["max_rel"],
        "mismatch_fraction": (agg["mismatched"] / agg["numel"]) if agg["numel"] else (0.0 if passed == trials else 1.0),
        "first_bad_index": agg["first_bad_index"]}
    return Seeds(res=res, compared=compared, correctness=corr, passed=passed, trials=trials,
                 first_fail=first_fail, hint=hint)


def hidden_shape(ver: Verification, correct: Correct) -> Correct | Final:
    """shape-hardcoding: run the candidate once on the problem with its size constants shrunk
    (``inspect_problem.shape_variant``). ``correct`` again when it passes or the check does not apply."""
    t_hid = time.perf_counter()
    out = _hidden_shape(ver, correct)
    ver.stages["correctness"] += time.perf_counter() - t_hid
    return out


def _hidden_shape(ver: Verification, correct: Correct) -> Correct | Final:
    chan = ver.chan
    t0 = time.monotonic()
    var = shape_variant(ver.req["problem_source"])
    if var is None:
        ver.note(hidden_shape="skipped: no size constants to change")
        return correct
    source, changes = var
    tr, why = ver.ref.hidden_trial(source)
    if tr is None:
        ver.note(hidden_shape=f"skipped: {why}")
        return correct
    chan.write_file(HIDDEN_PROBLEM_FILE, source)
    chan.deadline += time.monotonic() - t0  # the candidate waited for the variant reference
    changed = ", ".join(f"{n}={old}->{new}" for n, old, new in changes)
    shapes = ", ".join("x".join(map(str, x.shape)) for x in tr.inputs_a if isinstance(x, ver.torch.Tensor))
    where = f"with {changed} (inputs {shapes})"
    ver.note(hidden_shape=where)
    chan.send({"cmd": "hidden", "job": ver.ref.hidden_job(HIDDEN_PROBLEM_FILE)})
    chan.hidden_running = True
    ev = chan.wait_event({"hidden_done"})
    if ev is None and chan.timed_out:
        return ver.gone_or_timeout()
    cls = Cheat.SHAPE_HARDCODING.value
    if ev is None:
        status, msg = chan.process_gone_message()
        if chan.violation is not None or chan.outside is not None:
            return ver.finish(status, msg)  # type: ignore[arg-type]
        return ver.reject([{"class": cls, "evidence": f"correct on the problem's shapes, but {where}: {msg}"[:600]}])
    if ev["ev"] == "error":
        return ver.finish(ev["kind"], ev["message"])
    chan.hidden_running = False
    res = ver.load_results(ev["path"])
    if isinstance(res, Final):
        return res
    if res.get("error"):
        return ver.reject([{"class": cls, "evidence": f"correct on the problem's shapes, but {where} it "
                                                      f"raised ({CANDIDATE_SAYS}{res['error']})"[:600]}])
    c = compare_outputs(ver.torch, res["out"], tr.ref_a, ver.req.get("atol"), ver.req.get("rtol"), ver.device)
    if not c.ok:
        return ver.reject([{"class": cls, "evidence": f"correct on the problem's shapes, but wrong {where}: "
                                                      f"{c.reason}"[:600]}])
    return correct
